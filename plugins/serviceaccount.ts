// ServiceAccounts: identity, the secrets they mount or pull with, token automount.
import { asArray, metadataProperties, objectReference, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "serviceaccount",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
  reduce(sa) {
    return {
      metadata: reduceMetadata(sa),
      automountServiceAccountToken: typeof sa.automountServiceAccountToken === "boolean" ? sa.automountServiceAccountToken : null,
      secrets: asArray<{ name?: string }>(sa.secrets).map((s) => String(s.name ?? "")),
      imagePullSecrets: asArray<{ name?: string }>(sa.imagePullSecrets).map((s) => String(s.name ?? "")),
    };
  },
  graph: {
    schema: { labels: ["ServiceAccount", "Secret"], relationships: ["USES_SECRET"] },
    toGraph(sa, ctx) {
      const namespace = sa.metadata.namespace;
      const refs = [
        ...sa.secrets.map((name) => ({ name, via: "serviceAccountSecret" })),
        ...sa.imagePullSecrets.map((name) => ({ name, via: "imagePullSecret" })),
      ].filter((r) => r.name);
      const references = refs.map((r) => objectReference(ctx, "Secret", namespace, r.name));
      return {
        properties: { ...metadataProperties(sa.metadata), automountServiceAccountToken: sa.automountServiceAccountToken },
        references,
        edges: refs.map((r, i) => ({ type: "USES_SECRET", to: references[i]!.key, properties: { via: r.via } })),
      };
    },
  },
});
