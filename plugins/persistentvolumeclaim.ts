// PersistentVolumeClaims: what they ask for and what they are bound to.
import { asArray, field, metadataProperties, objectReference, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin, type GraphEdgeSpec, type GraphNodeSpec } from "../core/plugin/types.js";

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
    schema: { labels: ["PersistentVolumeClaim", "PersistentVolume", "StorageClass"], relationships: ["BOUND_TO", "OF_CLASS"] },
    lookups: {
      pvc: { label: "PersistentVolumeClaim", namespaced: true, key: (name, ctx) => ctx.objectKey("PersistentVolumeClaim", ctx.namespace, name) },
    },
    toGraph(pvc, ctx) {
      // Both are cluster-scoped; "" is "no class" (and no volume), not a name.
      const references: GraphNodeSpec[] = [];
      const edges: GraphEdgeSpec[] = [];
      if (pvc.volumeName) {
        const pv = objectReference(ctx, "PersistentVolume", null, pvc.volumeName);
        references.push(pv);
        edges.push({ type: "BOUND_TO", to: pv.key });
      }
      if (pvc.storageClassName) {
        const sc = objectReference(ctx, "StorageClass", null, pvc.storageClassName);
        references.push(sc);
        edges.push({ type: "OF_CLASS", to: sc.key });
      }
      return {
        properties: {
          ...metadataProperties(pvc.metadata),
          storageClassName: pvc.storageClassName,
          volumeName: pvc.volumeName,
          accessModes: pvc.accessModes,
          requestedStorage: pvc.requestedStorage,
          phase: pvc.phase,
        },
        references,
        edges,
      };
    },
  },
});
