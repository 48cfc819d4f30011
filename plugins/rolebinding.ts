// RoleBindings: (RoleBinding)-[:GRANTS]->(Role|ClusterRole), the grant holding in the
// binding's namespace, and -[:SUBJECT]->(ServiceAccount|User|Group) (see _shared/rbac.ts).
import { definePlugin } from "../core/plugin/types.js";
import { BINDING_LOOKUPS, BINDING_RELATIONSHIPS, BINDING_TARGET_LABELS, bindingGraph, reduceBinding } from "./_shared/rbac.js";

export default definePlugin({
  name: "rolebinding",
  apiVersion: 1,
  resource: { group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", kind: "RoleBinding", namespaced: true },
  reduce: reduceBinding,
  graph: {
    schema: { labels: ["RoleBinding", ...BINDING_TARGET_LABELS], relationships: BINDING_RELATIONSHIPS },
    lookups: BINDING_LOOKUPS,
    toGraph: (binding, ctx) => bindingGraph(binding, ctx, binding.metadata.namespace),
  },
});
