// PersistentVolumeClaims: what they ask for and what they are bound to.
import { asArray, field, metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "persistentvolumeclaim",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true },
  reduce(pvc) {
    return {
      metadata: reduceMetadata(pvc),
      storageClassName: field<string>(pvc, "spec", "storageClassName") ?? null,
      volumeName: field<string>(pvc, "spec", "volumeName") ?? null,
      accessModes: asArray<string>(field(pvc, "spec", "accessModes")),
      requestedStorage: field<string>(pvc, "spec", "resources", "requests", "storage") ?? null,
      phase: field<string>(pvc, "status", "phase") ?? null,
    };
  },
  graph: {
    schema: { labels: ["PersistentVolumeClaim"], relationships: [] },
    lookups: {
      pvc: { label: "PersistentVolumeClaim", namespaced: true, key: (name, ctx) => ctx.objectKey("PersistentVolumeClaim", ctx.namespace, name) },
    },
    toGraph: (pvc) => ({
      properties: {
        ...metadataProperties(pvc.metadata),
        storageClassName: pvc.storageClassName,
        volumeName: pvc.volumeName,
        accessModes: pvc.accessModes,
        requestedStorage: pvc.requestedStorage,
        phase: pvc.phase,
      },
    }),
  },
});
