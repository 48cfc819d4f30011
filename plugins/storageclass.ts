// StorageClasses: the provisioner and its policies, and the Secrets its CSI driver is
// given. Parameter values can be credentials, so only their keys are kept (and the
// names of the CSI secrets, which are references, not values).
import { metadataProperties, objectReference, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin, type GraphEdgeSpec, type GraphNodeSpec } from "../core/plugin/types.js";

const CSI_PREFIX = "csi.storage.k8s.io/";

// The CSI secret parameters (`<prefix>-secret-name` + `-secret-namespace`) and the `via`
// of their edges.
const CSI_SECRETS: Array<[string, string]> = [
  ["provisioner", "csiProvisionerSecret"],
  ["controller-publish", "csiControllerPublishSecret"],
  ["node-stage", "csiNodeStageSecret"],
  ["node-publish", "csiNodePublishSecret"],
  ["controller-expand", "csiControllerExpandSecret"],
  ["node-expand", "csiNodeExpandSecret"],
];

/** A literal name: "${pvc.name}"-style templates are resolved per volume, not here. */
const literal = (v: unknown): string | null => (typeof v === "string" && v !== "" && !v.includes("${") ? v : null);

const DEFAULT_CLASS_ANNOTATIONS = ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"];

function reduceStorageClass(sc: import("../core/messages.js").KubeObject) {
  const parameters = (sc.parameters ?? {}) as Record<string, unknown>;
  const metadata = reduceMetadata(sc);
  return {
    metadata,
    provisioner: typeof sc.provisioner === "string" ? sc.provisioner : null,
    reclaimPolicy: typeof sc.reclaimPolicy === "string" ? sc.reclaimPolicy : null,
    volumeBindingMode: typeof sc.volumeBindingMode === "string" ? sc.volumeBindingMode : null,
    allowVolumeExpansion: typeof sc.allowVolumeExpansion === "boolean" ? sc.allowVolumeExpansion : null,
    isDefault: DEFAULT_CLASS_ANNOTATIONS.some((a) => metadata.annotations[a] === "true"),
    parameterKeys: Object.keys(parameters).sort(),
    csiSecrets: CSI_SECRETS.flatMap(([prefix, via]) => {
      const name = literal(parameters[`${CSI_PREFIX}${prefix}-secret-name`]);
      const namespace = literal(parameters[`${CSI_PREFIX}${prefix}-secret-namespace`]);
      return name && namespace ? [{ via, name, namespace }] : [];
    }),
  };
}

type ReducedStorageClass = ReturnType<typeof reduceStorageClass>;

export default definePlugin<ReducedStorageClass>({
  name: "storageclass",
  apiVersion: 1,
  resource: { group: "storage.k8s.io", version: "v1", plural: "storageclasses", kind: "StorageClass", namespaced: false },
  reduce: reduceStorageClass,
  graph: {
    schema: { labels: ["StorageClass", "Secret"], relationships: ["USES_SECRET"] },
    toGraph(sc, ctx) {
      const references: GraphNodeSpec[] = [];
      const edges: GraphEdgeSpec[] = [];
      for (const s of sc.csiSecrets) {
        const secret = objectReference(ctx, "Secret", s.namespace, s.name);
        if (!references.some((r) => r.key === secret.key)) references.push(secret);
        edges.push({ type: "USES_SECRET", to: secret.key, properties: { via: s.via } });
      }
      return {
        properties: {
          ...metadataProperties(sc.metadata),
          provisioner: sc.provisioner,
          reclaimPolicy: sc.reclaimPolicy,
          volumeBindingMode: sc.volumeBindingMode,
          allowVolumeExpansion: sc.allowVolumeExpansion,
          isDefault: sc.isDefault,
          parameterKeys: sc.parameterKeys,
        },
        references,
        edges,
      };
    },
  },
});
