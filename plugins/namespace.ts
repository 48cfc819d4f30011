// Namespaces: identity, lifecycle phase and labels (Pod Security admission lives there).
import { field, metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "namespace",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
  providesNamespaces: true,
  reduce(ns) {
    return {
      metadata: reduceMetadata(ns),
      phase: field<string>(ns, "status", "phase") ?? null,
    };
  },
  graph: {
    schema: { labels: ["Namespace"], relationships: [] },
    toGraph: (ns) => ({ properties: { ...metadataProperties(ns.metadata), phase: ns.phase } }),
  },
});
