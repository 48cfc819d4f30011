// PersistentVolumes: capacity, class, claim and what backs them. Where the data really
// lives (a host path, an NFS export, a CSI volume) is what an auditor asks about; the
// CSI secrets a volume is published with are edges. The source is read through the
// allow-list of _shared/volume-source.ts, so its maps (flexVolume options, CSI
// volumeAttributes, which may hold credentials) are never read, let alone kept.
import { asArray, field, text as str, metadataProperties, objectReference, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin, type GraphEdgeSpec, type GraphNodeSpec } from "../core/plugin/types.js";
import { reduceVolumeSource } from "./_shared/volume-source.js";

type Raw = Record<string, unknown>;

// The volume sources a PersistentVolumeSpec can hold, most common first (as volumeType
// in _shared/pod-graph.ts does for pod volumes).
const PV_SOURCES = [
  "csi",
  "hostPath",
  "local",
  "nfs",
  "iscsi",
  "fc",
  "rbd",
  "cephfs",
  "cinder",
  "flexVolume",
  "glusterfs",
  "awsElasticBlockStore",
  "gcePersistentDisk",
  "azureDisk",
  "azureFile",
  "vsphereVolume",
  "portworxVolume",
  "photonPersistentDisk",
  "quobyte",
  "scaleIO",
  "storageos",
  "flocker",
];

// CSI secret references of a PV, and how each is used (the `via` of its edge).
const CSI_SECRET_REFS: Array<[string, string]> = [
  ["controllerPublishSecretRef", "csiControllerPublishSecret"],
  ["nodeStageSecretRef", "csiNodeStageSecret"],
  ["nodePublishSecretRef", "csiNodePublishSecret"],
  ["controllerExpandSecretRef", "csiControllerExpandSecret"],
  ["nodeExpandSecretRef", "csiNodeExpandSecret"],
];

function reducePv(pv: import("../core/messages.js").KubeObject) {
  const spec = (pv.spec ?? {}) as Raw;
  const sourceType = PV_SOURCES.find((s) => spec[s] !== undefined && spec[s] !== null) ?? null;
  const source = sourceType ? reduceVolumeSource(sourceType, spec[sourceType]) : undefined;
  return {
    metadata: reduceMetadata(pv),
    capacity: str(field(spec, "capacity", "storage")),
    accessModes: asArray<string>(spec.accessModes),
    reclaimPolicy: str(spec.persistentVolumeReclaimPolicy),
    volumeMode: str(spec.volumeMode),
    storageClassName: str(spec.storageClassName),
    claimRef: str(field(spec, "claimRef", "name")) ? `${str(field(spec, "claimRef", "namespace")) ?? ""}/${String(field(spec, "claimRef", "name"))}` : null,
    phase: str(field(pv, "status", "phase")),
    sourceType,
    // Security-relevant details of the source, by type; never options or attributes.
    hostPath: sourceType === "hostPath" ? str(source?.path) : null,
    hostPathType: sourceType === "hostPath" ? str(source?.type) : null,
    localPath: sourceType === "local" ? str(source?.path) : null,
    nfsServer: sourceType === "nfs" ? str(source?.server) : null,
    nfsPath: sourceType === "nfs" ? str(source?.path) : null,
    csiDriver: sourceType === "csi" ? str(source?.driver) : null,
    csiVolumeHandle: sourceType === "csi" ? str(source?.volumeHandle) : null,
    readOnly: source?.readOnly === true,
    csiSecrets:
      sourceType === "csi"
        ? CSI_SECRET_REFS.flatMap(([ref, via]) => {
            const name = str(field(source, ref, "name"));
            const namespace = str(field(source, ref, "namespace"));
            return name && namespace ? [{ via, name, namespace }] : [];
          })
        : [],
  };
}

type ReducedPv = ReturnType<typeof reducePv>;

export default definePlugin<ReducedPv>({
  name: "persistentvolume",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "persistentvolumes", kind: "PersistentVolume", namespaced: false },
  reduce: reducePv,
  graph: {
    schema: { labels: ["PersistentVolume", "StorageClass", "Secret"], relationships: ["OF_CLASS", "USES_SECRET"] },
    lookups: {
      pv: { label: "PersistentVolume", namespaced: false, key: (name, ctx) => ctx.objectKey("PersistentVolume", null, name) },
    },
    toGraph(pv, ctx) {
      const references: GraphNodeSpec[] = [];
      const edges: GraphEdgeSpec[] = [];
      if (pv.storageClassName) {
        const sc = objectReference(ctx, "StorageClass", null, pv.storageClassName);
        references.push(sc);
        edges.push({ type: "OF_CLASS", to: sc.key });
      }
      for (const s of pv.csiSecrets) {
        const secret = objectReference(ctx, "Secret", s.namespace, s.name);
        if (!references.some((r) => r.key === secret.key)) references.push(secret);
        edges.push({ type: "USES_SECRET", to: secret.key, properties: { via: s.via } });
      }
      const { metadata, csiSecrets: _csiSecrets, ...rest } = pv;
      return { properties: { ...metadataProperties(metadata), ...rest }, references, edges };
    },
  },
});
