// PersistentVolumeClaims: what they ask for and what they are bound to.
import { asArray, field, reduceMetadata } from "../core/plugin/sdk.js";
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
});
