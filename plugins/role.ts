// Roles: their rules as canonical text, and whether they read Secrets, use wildcards or
// can escalate (see _shared/rbac.ts). Who holds them is in the bindings.
import { metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { reduceRules, ruleProperties } from "./_shared/rbac.js";

export default definePlugin({
  name: "role",
  apiVersion: 1,
  resource: { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", kind: "Role", namespaced: true },
  reduce: (role) => ({ metadata: reduceMetadata(role), rules: reduceRules(role) }),
  graph: {
    schema: { labels: ["Role"], relationships: [] },
    toGraph: (role) => ({ properties: { ...metadataProperties(role.metadata), ...ruleProperties(role.rules) } }),
  },
});
