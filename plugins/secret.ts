// Secrets: metadata only. `data` and `stringData` never leave this function; only the
// key names are kept, so the graph can say which key a pod reads.
import { metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "secret",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
  reduce(secret) {
    const keys = new Set([...Object.keys((secret.data as object | undefined) ?? {}), ...Object.keys((secret.stringData as object | undefined) ?? {})]);
    return {
      metadata: reduceMetadata(secret),
      type: typeof secret.type === "string" ? secret.type : "Opaque",
      keys: [...keys].sort(),
      immutable: secret.immutable === true,
    };
  },
  graph: {
    // Metadata only: the key names, never a value.
    schema: { labels: ["Secret"], relationships: [] },
    toGraph: (secret) => ({ properties: { ...metadataProperties(secret.metadata), type: secret.type, keys: secret.keys, immutable: secret.immutable } }),
  },
});
