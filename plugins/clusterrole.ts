// ClusterRoles: rules as for Roles (_shared/rbac.ts), and for an aggregated ClusterRole
// the ClusterRoles it aggregates, by label selector. kube-controller-manager already
// copies their rules into its `rules`, so the rules are what the role grants.
import { asArray, field, metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin, type GraphSelectorSpec } from "../core/plugin/types.js";
import { reduceLabelSelector, reduceRules, ruleProperties, selectorText, type ReducedLabelSelector } from "./_shared/rbac.js";

function reduceClusterRole(role: import("../core/messages.js").KubeObject) {
  const aggregation = field(role, "aggregationRule");
  return {
    metadata: reduceMetadata(role),
    rules: reduceRules(role),
    // null: not aggregated. A selector the API would refuse is left out.
    aggregationSelectors:
      aggregation === undefined || aggregation === null
        ? null
        : asArray(field(aggregation, "clusterRoleSelectors"))
            .map(reduceLabelSelector)
            .filter((s): s is ReducedLabelSelector => s !== null),
  };
}

type ReducedClusterRole = ReturnType<typeof reduceClusterRole>;

export default definePlugin<ReducedClusterRole>({
  name: "clusterrole",
  apiVersion: 1,
  resource: { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", kind: "ClusterRole", namespaced: false },
  reduce: reduceClusterRole,
  graph: {
    schema: { labels: ["ClusterRole"], relationships: ["AGGREGATES"] },
    toGraph(role) {
      // (aggregated)-[:AGGREGATES]->(each ClusterRole one of its selectors matches).
      const selectors: GraphSelectorSpec[] = (role.aggregationSelectors ?? []).map((s) => ({
        type: "AGGREGATES",
        label: "ClusterRole",
        namespace: null,
        matchLabels: s.matchLabels,
        matchExpressions: s.matchExpressions,
      }));
      return {
        properties: {
          ...metadataProperties(role.metadata),
          ...ruleProperties(role.rules),
          aggregated: role.aggregationSelectors !== null,
          aggregationSelectors: (role.aggregationSelectors ?? []).map(selectorText),
        },
        selectors,
      };
    },
  },
});
