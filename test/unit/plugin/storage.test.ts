// Storage: PersistentVolume (what backs it, its class, its CSI secrets), the
// PersistentVolumeClaim's BOUND_TO and OF_CLASS, and StorageClass (parameter keys only,
// CSI secrets as edges).
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import persistentvolume from "../../../plugins/persistentvolume.js";
import persistentvolumeclaim from "../../../plugins/persistentvolumeclaim.js";
import storageclass from "../../../plugins/storageclass.js";
import { META_PROPERTIES, apiMetadata, graphOf, reduceAsObserved } from "./helpers.js";

const storageClassRef = (name: string) => ({ label: "StorageClass", key: `prod/StorageClass/${name}`, properties: { cluster: "prod", name } });
const secretRef = (namespace: string, name: string) => ({
  label: "Secret",
  key: `prod/${namespace}/Secret/${name}`,
  properties: { cluster: "prod", name, namespace },
});

function csiVolume(): KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: apiMetadata("pvc-3f1c", null, { annotations: { "pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com" } }),
    spec: {
      capacity: { storage: "20Gi" },
      accessModes: ["ReadWriteOnce"],
      persistentVolumeReclaimPolicy: "Delete",
      volumeMode: "Filesystem",
      storageClassName: "fast",
      mountOptions: ["password=MOUNT-CANARY"],
      claimRef: { apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: "shop", name: "uploads", uid: "uid-uploads", resourceVersion: "77" },
      csi: {
        driver: "ebs.csi.aws.com",
        volumeHandle: "vol-0abc",
        fsType: "ext4",
        volumeAttributes: { "storage.kubernetes.io/csiProvisionerIdentity": "x", token: "ATTRIBUTE-CANARY" },
        nodePublishSecretRef: { name: "ebs-node", namespace: "kube-system" },
        controllerPublishSecretRef: { name: "ebs-ctrl", namespace: "kube-system" },
        nodeStageSecretRef: { name: "ebs-node", namespace: "kube-system" },
        controllerExpandSecretRef: { name: "no-namespace" },
      },
      nodeAffinity: {
        required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "topology.ebs.csi.aws.com/zone", operator: "In", values: ["eu-west-1a"] }] }] },
      },
    },
    status: { phase: "Bound", lastPhaseTransitionTime: "2025-03-01T09:01:00Z" },
  };
}

describe("persistentvolume plugin", () => {
  it("reduce keeps the source's identity, never its options, attributes or mount options", () => {
    const reduced = reduceAsObserved(persistentvolume, csiVolume());
    const { metadata: _metadata, ...rest } = reduced;
    expect(rest).toStrictEqual({
      capacity: "20Gi",
      accessModes: ["ReadWriteOnce"],
      reclaimPolicy: "Delete",
      volumeMode: "Filesystem",
      storageClassName: "fast",
      claimRef: "shop/uploads",
      phase: "Bound",
      sourceType: "csi",
      hostPath: null,
      hostPathType: null,
      localPath: null,
      nfsServer: null,
      nfsPath: null,
      csiDriver: "ebs.csi.aws.com",
      csiVolumeHandle: "vol-0abc",
      readOnly: false,
      csiSecrets: [
        { via: "csiControllerPublishSecret", name: "ebs-ctrl", namespace: "kube-system" },
        { via: "csiNodeStageSecret", name: "ebs-node", namespace: "kube-system" },
        { via: "csiNodePublishSecret", name: "ebs-node", namespace: "kube-system" },
      ],
    });
    expect(JSON.stringify(reduced)).not.toMatch(/CANARY/);
  });

  it("toGraph: OF_CLASS its StorageClass, USES_SECRET per CSI secret ref (a ref without namespace names nothing)", () => {
    const { properties, ...rest } = graphOf(persistentvolume, csiVolume());
    expect(rest).toStrictEqual({
      references: [storageClassRef("fast"), secretRef("kube-system", "ebs-ctrl"), secretRef("kube-system", "ebs-node")],
      edges: [
        { type: "OF_CLASS", to: "prod/StorageClass/fast" },
        { type: "USES_SECRET", to: "prod/kube-system/Secret/ebs-ctrl", properties: { via: "csiControllerPublishSecret" } },
        { type: "USES_SECRET", to: "prod/kube-system/Secret/ebs-node", properties: { via: "csiNodeStageSecret" } },
        { type: "USES_SECRET", to: "prod/kube-system/Secret/ebs-node", properties: { via: "csiNodePublishSecret" } },
      ],
    });
    expect(properties).toStrictEqual({
      ...META_PROPERTIES,
      annotations: ["pv.kubernetes.io/provisioned-by=ebs.csi.aws.com"],
      capacity: "20Gi",
      accessModes: ["ReadWriteOnce"],
      reclaimPolicy: "Delete",
      volumeMode: "Filesystem",
      storageClassName: "fast",
      claimRef: "shop/uploads",
      phase: "Bound",
      sourceType: "csi",
      hostPath: null,
      hostPathType: null,
      localPath: null,
      nfsServer: null,
      nfsPath: null,
      csiDriver: "ebs.csi.aws.com",
      csiVolumeHandle: "vol-0abc",
      readOnly: false,
    });
  });

  it("hostPath, local and NFS volumes say where the data is; no class, no edges", () => {
    const pv = (name: string, source: Record<string, unknown>): KubeObject => ({
      metadata: { name },
      spec: { capacity: { storage: "1Gi" }, accessModes: ["ReadWriteMany"], ...source },
    });
    const hostPath = graphOf(persistentvolume, pv("host", { hostPath: { path: "/var/lib/etcd", type: "DirectoryOrCreate" } }));
    expect(hostPath.references).toStrictEqual([]);
    expect(hostPath.edges).toStrictEqual([]);
    expect(hostPath.properties).toMatchObject({
      sourceType: "hostPath",
      hostPath: "/var/lib/etcd",
      hostPathType: "DirectoryOrCreate",
      storageClassName: null,
      claimRef: null,
      csiDriver: null,
    });
    expect(graphOf(persistentvolume, pv("local", { local: { path: "/mnt/disks/ssd1" }, nodeAffinity: {} })).properties).toMatchObject({
      sourceType: "local",
      localPath: "/mnt/disks/ssd1",
      hostPath: null,
    });
    expect(graphOf(persistentvolume, pv("nfs", { nfs: { server: "nfs.example.com", path: "/exports/shop", readOnly: true } })).properties).toMatchObject({
      sourceType: "nfs",
      nfsServer: "nfs.example.com",
      nfsPath: "/exports/shop",
      readOnly: true,
    });
    // A flexVolume's options can hold credentials: only its type is kept.
    const flex = reduceAsObserved(
      persistentvolume,
      pv("flex", { flexVolume: { driver: "example/cifs", options: { password: "FLEX-CANARY" }, secretRef: { name: "cifs" } } }),
    );
    expect(flex.sourceType).toBe("flexVolume");
    expect(JSON.stringify(flex)).not.toContain("FLEX-CANARY");
    // An empty storageClassName is "no class", not a class named "".
    expect(graphOf(persistentvolume, pv("noclass", { storageClassName: "", nfs: { server: "s", path: "/" } })).edges).toStrictEqual([]);
  });
});

describe("persistentvolumeclaim plugin", () => {
  it("BOUND_TO its PersistentVolume and OF_CLASS its StorageClass, both cluster-scoped", () => {
    const pvc: KubeObject = {
      metadata: apiMetadata("uploads", "shop"),
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "fast", volumeName: "pvc-3f1c", resources: { requests: { storage: "20Gi" } } },
      status: { phase: "Bound", capacity: { storage: "20Gi" } },
    };
    expect(graphOf(persistentvolumeclaim, pvc)).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        storageClassName: "fast",
        volumeName: "pvc-3f1c",
        accessModes: ["ReadWriteOnce"],
        requestedStorage: "20Gi",
        phase: "Bound",
      },
      references: [
        { label: "PersistentVolume", key: "prod/PersistentVolume/pvc-3f1c", properties: { cluster: "prod", name: "pvc-3f1c" } },
        storageClassRef("fast"),
      ],
      edges: [
        { type: "BOUND_TO", to: "prod/PersistentVolume/pvc-3f1c" },
        { type: "OF_CLASS", to: "prod/StorageClass/fast" },
      ],
    });
  });

  it("a pending claim without class or volume has no edges", () => {
    const pending: KubeObject = {
      metadata: apiMetadata("scratch", "shop"),
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "", resources: { requests: { storage: "1Gi" } } },
      status: { phase: "Pending" },
    };
    const fragment = graphOf(persistentvolumeclaim, pending);
    expect(fragment.references).toStrictEqual([]);
    expect(fragment.edges).toStrictEqual([]);
    expect(fragment.properties).toMatchObject({ phase: "Pending", volumeName: null });
  });
});

describe("storageclass plugin", () => {
  function csiClass(): KubeObject {
    return {
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: apiMetadata("fast", null, { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } }),
      provisioner: "ebs.csi.aws.com",
      reclaimPolicy: "Retain",
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
      mountOptions: ["debug"],
      parameters: {
        type: "gp3",
        kmsKeyId: "arn:aws:kms:eu-west-1:123:key/KMS-CANARY",
        "csi.storage.k8s.io/provisioner-secret-name": "ebs-provisioner",
        "csi.storage.k8s.io/provisioner-secret-namespace": "kube-system",
        "csi.storage.k8s.io/controller-publish-secret-name": "ebs-ctrl",
        "csi.storage.k8s.io/controller-publish-secret-namespace": "kube-system",
        // Templated per volume: not a Secret this class names.
        "csi.storage.k8s.io/node-stage-secret-name": "${pvc.name}-stage",
        "csi.storage.k8s.io/node-stage-secret-namespace": "kube-system",
        "csi.storage.k8s.io/node-publish-secret-name": "ebs-node",
        "csi.storage.k8s.io/node-publish-secret-namespace": "${pvc.namespace}",
        "csi.storage.k8s.io/controller-expand-secret-name": "ebs-expand",
        "csi.storage.k8s.io/controller-expand-secret-namespace": "storage",
        "csi.storage.k8s.io/node-expand-secret-name": "ebs-node-expand",
        "csi.storage.k8s.io/fstype": "xfs",
      },
    };
  }

  it("reduce keeps parameter keys, never values; CSI secret names only when name and namespace are literal", () => {
    const reduced = reduceAsObserved(storageclass, csiClass());
    expect(reduced.parameterKeys).toStrictEqual([
      "csi.storage.k8s.io/controller-expand-secret-name",
      "csi.storage.k8s.io/controller-expand-secret-namespace",
      "csi.storage.k8s.io/controller-publish-secret-name",
      "csi.storage.k8s.io/controller-publish-secret-namespace",
      "csi.storage.k8s.io/fstype",
      "csi.storage.k8s.io/node-expand-secret-name",
      "csi.storage.k8s.io/node-publish-secret-name",
      "csi.storage.k8s.io/node-publish-secret-namespace",
      "csi.storage.k8s.io/node-stage-secret-name",
      "csi.storage.k8s.io/node-stage-secret-namespace",
      "csi.storage.k8s.io/provisioner-secret-name",
      "csi.storage.k8s.io/provisioner-secret-namespace",
      "kmsKeyId",
      "type",
    ]);
    const text = JSON.stringify(reduced);
    expect(text).not.toMatch(/CANARY|gp3|xfs/);
    expect(text).not.toContain("${");
  });

  it("toGraph: properties and USES_SECRET per literal CSI secret", () => {
    expect(graphOf(storageclass, csiClass())).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        annotations: ["storageclass.kubernetes.io/is-default-class=true"],
        provisioner: "ebs.csi.aws.com",
        reclaimPolicy: "Retain",
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
        isDefault: true,
        parameterKeys: reduceAsObserved(storageclass, csiClass()).parameterKeys,
      },
      references: [secretRef("kube-system", "ebs-provisioner"), secretRef("kube-system", "ebs-ctrl"), secretRef("storage", "ebs-expand")],
      edges: [
        { type: "USES_SECRET", to: "prod/kube-system/Secret/ebs-provisioner", properties: { via: "csiProvisionerSecret" } },
        { type: "USES_SECRET", to: "prod/kube-system/Secret/ebs-ctrl", properties: { via: "csiControllerPublishSecret" } },
        { type: "USES_SECRET", to: "prod/storage/Secret/ebs-expand", properties: { via: "csiControllerExpandSecret" } },
      ],
    });
  });

  it("a class without parameters: no edges, not default, unset policies null", () => {
    expect(graphOf(storageclass, { metadata: { name: "standard" }, provisioner: "kubernetes.io/no-provisioner" })).toStrictEqual({
      properties: {
        labels: [],
        annotations: [],
        creationTimestamp: null,
        provisioner: "kubernetes.io/no-provisioner",
        reclaimPolicy: null,
        volumeBindingMode: null,
        allowVolumeExpansion: null,
        isDefault: false,
        parameterKeys: [],
      },
      references: [],
      edges: [],
    });
  });
});
