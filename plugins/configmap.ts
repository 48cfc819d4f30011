// ConfigMaps: identity and which keys exist (values are configuration, not graph data).
import { metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "configmap",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  reduce(cm) {
    return {
      metadata: reduceMetadata(cm),
      keys: [...Object.keys((cm.data as object | undefined) ?? {}), ...Object.keys((cm.binaryData as object | undefined) ?? {})].sort(),
      immutable: cm.immutable === true,
    };
  },
  graph: {
    schema: { labels: ["ConfigMap"], relationships: [] },
    toGraph: (cm) => ({ properties: { ...metadataProperties(cm.metadata), keys: cm.keys, immutable: cm.immutable } }),
  },
});
