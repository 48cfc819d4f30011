// What is kept of a volume source (a Pod's volumes, a workload's pod template, a
// PersistentVolume's spec): its type, the objects it references (by name), driver, paths,
// addresses and read-only flags. Attribute and option maps (csi.volumeAttributes,
// flexVolume.options), keyrings, user names and URL credentials are never kept; neither is
// any field this table does not name. Covers every source of core/v1 Volume and
// PersistentVolumeSpec.
import { keep, pickFields, type FieldSpec } from "../../core/plugin/sdk.js";

const { scalar, strings, url, ref, object, list } = keep;

const keyToPath = list({ key: scalar, path: scalar, mode: scalar });
const downwardItems = list({
  path: scalar,
  mode: scalar,
  fieldRef: object({ apiVersion: scalar, fieldPath: scalar }),
  resourceFieldRef: object({ containerName: scalar, resource: scalar, divisor: scalar }),
});

const PROJECTION: FieldSpec = {
  configMap: object({ name: scalar, items: keyToPath, optional: scalar }),
  secret: object({ name: scalar, items: keyToPath, optional: scalar }),
  downwardAPI: object({ items: downwardItems }),
  serviceAccountToken: object({ audience: scalar, expirationSeconds: scalar, path: scalar }),
  // labelSelector is dropped: a selector map, not a name.
  clusterTrustBundle: object({ name: scalar, signerName: scalar, optional: scalar, path: scalar }),
  podCertificate: object({
    signerName: scalar,
    keyType: scalar,
    maxExpirationSeconds: scalar,
    credentialBundlePath: scalar,
    keyPath: scalar,
    certificateChainPath: scalar,
  }),
};

/** Per source type, the fields kept. The CSI secret refs beyond nodePublishSecretRef and
 *  volumeHandle, local and the *Namespace fields occur only in PersistentVolumes. */
export const VOLUME_SOURCE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  configMap: { name: scalar, items: keyToPath, defaultMode: scalar, optional: scalar },
  secret: { secretName: scalar, items: keyToPath, defaultMode: scalar, optional: scalar },
  persistentVolumeClaim: { claimName: scalar, readOnly: scalar },
  hostPath: { path: scalar, type: scalar },
  emptyDir: { medium: scalar, sizeLimit: scalar },
  projected: { sources: list(PROJECTION), defaultMode: scalar },
  downwardAPI: { items: downwardItems, defaultMode: scalar },
  csi: {
    driver: scalar,
    readOnly: scalar,
    fsType: scalar,
    volumeHandle: scalar,
    nodePublishSecretRef: ref,
    controllerPublishSecretRef: ref,
    nodeStageSecretRef: ref,
    controllerExpandSecretRef: ref,
    nodeExpandSecretRef: ref,
  },
  // The claim template's metadata (labels, annotations) is dropped with everything else.
  ephemeral: {
    volumeClaimTemplate: object({
      spec: object({ storageClassName: scalar, accessModes: strings, volumeMode: scalar, resources: object({ requests: object({ storage: scalar }) }) }),
    }),
  },
  local: { path: scalar, fsType: scalar },
  nfs: { server: url, path: scalar, readOnly: scalar },
  iscsi: {
    targetPortal: url,
    portals: strings,
    iqn: scalar,
    lun: scalar,
    iscsiInterface: scalar,
    initiatorName: scalar,
    fsType: scalar,
    readOnly: scalar,
    chapAuthDiscovery: scalar,
    chapAuthSession: scalar,
    secretRef: ref,
  },
  fc: { targetWWNs: strings, lun: scalar, wwids: strings, fsType: scalar, readOnly: scalar },
  // user, keyring and secretFile are dropped: who mounts, and where its key lies.
  rbd: { monitors: strings, image: scalar, pool: scalar, fsType: scalar, readOnly: scalar, secretRef: ref },
  cephfs: { monitors: strings, path: scalar, readOnly: scalar, secretRef: ref },
  cinder: { volumeID: scalar, fsType: scalar, readOnly: scalar, secretRef: ref },
  flexVolume: { driver: scalar, fsType: scalar, readOnly: scalar, secretRef: ref },
  flocker: { datasetName: scalar, datasetUUID: scalar },
  gitRepo: { repository: url, revision: scalar, directory: scalar },
  glusterfs: { endpoints: scalar, endpointsNamespace: scalar, path: scalar, readOnly: scalar },
  // An image reference holds no user info, and its "@" precedes a digest.
  image: { reference: scalar, pullPolicy: scalar },
  awsElasticBlockStore: { volumeID: scalar, fsType: scalar, partition: scalar, readOnly: scalar },
  gcePersistentDisk: { pdName: scalar, fsType: scalar, partition: scalar, readOnly: scalar },
  azureDisk: { diskName: scalar, diskURI: url, kind: scalar, cachingMode: scalar, fsType: scalar, readOnly: scalar },
  azureFile: { secretName: scalar, secretNamespace: scalar, shareName: scalar, readOnly: scalar },
  vsphereVolume: { volumePath: scalar, fsType: scalar, storagePolicyName: scalar, storagePolicyID: scalar },
  // user, group and tenant are dropped: identities, not what backs the volume.
  quobyte: { registry: url, volume: scalar, readOnly: scalar },
  portworxVolume: { volumeID: scalar, fsType: scalar, readOnly: scalar },
  scaleIO: {
    gateway: url,
    system: scalar,
    secretRef: ref,
    sslEnabled: scalar,
    protectionDomain: scalar,
    storagePool: scalar,
    storageMode: scalar,
    volumeName: scalar,
    fsType: scalar,
    readOnly: scalar,
  },
  storageos: { volumeName: scalar, volumeNamespace: scalar, fsType: scalar, readOnly: scalar, secretRef: ref },
  photonPersistentDisk: { pdID: scalar, fsType: scalar },
};

type Raw = Record<string, unknown>;

const isRecord = (value: unknown): value is Raw => value !== null && typeof value === "object" && !Array.isArray(value);

/** A field name as the API spells one; anything else is not kept even as a type name. */
const TYPE_NAME = /^[a-zA-Z][a-zA-Z0-9]{0,62}$/;

/** The type of a volume source: the first source field set on the object, known or not. */
export function volumeSourceType(holder: Raw, ignore: readonly string[] = []): string | null {
  const known = Object.keys(VOLUME_SOURCE_FIELDS).find((t) => isRecord(holder[t]));
  if (known) return known;
  return Object.keys(holder).find((k) => !ignore.includes(k) && isRecord(holder[k]) && TYPE_NAME.test(k)) ?? null;
}

/** The source of that type with its named fields only; an unknown type keeps nothing. */
export function reduceVolumeSource(type: string, source: unknown): Record<string, unknown> {
  const fields = Object.hasOwn(VOLUME_SOURCE_FIELDS, type) ? VOLUME_SOURCE_FIELDS[type]! : {};
  return pickFields(source, fields);
}

/** A pod volume as `{ name, <type>: <reduced source> }` (just `{ name }` with no source). */
export function reduceVolume(volume: unknown): { name: string } & Record<string, unknown> {
  const v = isRecord(volume) ? volume : {};
  const name = typeof v.name === "string" ? v.name : "";
  const type = volumeSourceType(v, ["name"]);
  return type ? { name, [type]: reduceVolumeSource(type, v[type]) } : { name };
}
