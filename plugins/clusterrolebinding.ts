// ClusterRoleBindings: as RoleBindings (_shared/rbac.ts), but the grant holds in every
// namespace and a ServiceAccount subject names its own namespace.
import { definePlugin } from "../core/plugin/types.js";
import { BINDING_LOOKUPS, BINDING_RELATIONSHIPS, BINDING_TARGET_LABELS, bindingGraph, reduceBinding } from "./_shared/rbac.js";

export default definePlugin({
  name: "clusterrolebinding",
  apiVersion: 1,
  resource: { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false },
  reduce: reduceBinding,
  graph: {
    schema: { labels: ["ClusterRoleBinding", ...BINDING_TARGET_LABELS], relationships: BINDING_RELATIONSHIPS },
    lookups: BINDING_LOOKUPS,
    toGraph: (binding, ctx) => bindingGraph(binding, ctx, null),
  },
});
