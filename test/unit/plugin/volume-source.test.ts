// Volume sources keep named fields only: type, referenced objects (by name), driver,
// paths, addresses and read-only flags. Attribute and option maps, keyrings and URL
// credentials never leave reduce, for pods, workload templates and PersistentVolumes.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import deployment from "../../../plugins/deployment.js";
import persistentvolume from "../../../plugins/persistentvolume.js";
import pod from "../../../plugins/pod.js";
import { reducePodSpec } from "../../../plugins/_shared/pod-spec.js";
import { VOLUME_SOURCE_FIELDS, reduceVolume } from "../../../plugins/_shared/volume-source.js";
import { apiMetadata, graphOf, reduceAsObserved } from "./helpers.js";

// Each value a reduction must not keep carries this marker.
const CANARY = "S3CR3T";

/** Volumes of every type with credentials where drivers and users put them. */
const hostileVolumes = [
  {
    name: "csi",
    csi: {
      driver: "secrets-store.csi.k8s.io",
      readOnly: true,
      fsType: "ext4",
      volumeAttributes: { secretProviderClass: "vault", token: `${CANARY}-attr` },
      nodePublishSecretRef: { name: "csi-creds" },
    },
  },
  {
    name: "flex",
    flexVolume: {
      driver: "example.com/cifs",
      fsType: "cifs",
      secretRef: { name: "cifs-creds" },
      options: { password: `${CANARY}-flex`, networkPath: "//srv/share" },
    },
  },
  { name: "git", gitRepo: { repository: `https://deploy:${CANARY}-git@git.example/org/repo.git`, revision: "main", directory: "." } },
  {
    name: "disk",
    azureDisk: {
      diskName: "data",
      diskURI: `https://acct:${CANARY}-disk@acct.blob.core.windows.net/vhds/data.vhd?sig=${CANARY}-sas`,
      cachingMode: "ReadOnly",
      kind: "Managed",
    },
  },
  {
    name: "rbd",
    rbd: {
      monitors: ["10.0.0.1:6789", "10.0.0.2:6789"],
      image: "vol1",
      pool: "kube",
      user: `${CANARY}-user`,
      keyring: `/etc/ceph/${CANARY}-keyring`,
      secretRef: { name: "ceph-creds" },
      readOnly: true,
    },
  },
  {
    name: "cephfs",
    cephfs: {
      monitors: ["10.0.0.3:6789"],
      path: "/volumes/a",
      user: `${CANARY}-cephuser`,
      secretFile: `/etc/ceph/${CANARY}-secret`,
      secretRef: { name: "cephfs-creds" },
    },
  },
  {
    name: "iscsi",
    iscsi: {
      targetPortal: "10.0.0.9:3260",
      iqn: "iqn.2001-04.com.example:storage",
      lun: 0,
      chapAuthSession: true,
      secretRef: { name: "chap" },
      portals: ["10.0.0.10:3260"],
    },
  },
  { name: "scaleio", scaleIO: { gateway: `https://admin:${CANARY}-gw@gw.example/api`, system: "sys", secretRef: { name: "sio-creds" }, volumeName: "v" } },
  {
    name: "quobyte",
    quobyte: {
      registry: `qb:${CANARY}-qb@registry.example:7861`,
      volume: "vol",
      user: `${CANARY}-qbuser`,
      group: `${CANARY}-qbgroup`,
      tenant: `${CANARY}-tenant`,
    },
  },
  {
    name: "ephemeral",
    ephemeral: {
      volumeClaimTemplate: {
        metadata: { labels: { a: "b" }, annotations: { note: `${CANARY}-tmplannotation` } },
        spec: {
          storageClassName: "fast",
          accessModes: ["ReadWriteOnce"],
          volumeMode: "Filesystem",
          resources: { requests: { storage: "1Gi" } },
          selector: { matchLabels: { k: `${CANARY}-selector` } },
          dataSource: { kind: "Snapshot", name: `${CANARY}-ds` },
        },
      },
    },
  },
  {
    name: "projected",
    projected: {
      sources: [
        { secret: { name: "tls", items: [{ key: "tls.key", path: "key" }] } },
        { configMap: { name: "settings", optional: true } },
        { serviceAccountToken: { audience: "vault", expirationSeconds: 600, path: "token" } },
        { downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
        { clusterTrustBundle: { signerName: "example.com/signer", labelSelector: { matchLabels: { k: `${CANARY}-ctb` } }, path: "ca.pem" } },
      ],
    },
  },
  { name: "nfs", nfs: { server: `u:${CANARY}-nfs@nfs.example`, path: "/exports/a", readOnly: true } },
  { name: "host", hostPath: { path: "/var/log", type: "Directory" } },
  { name: "future", futureVolume: { endpoint: `${CANARY}-future`, options: { token: `${CANARY}-future2` } } },
];

function hostilePod(): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: apiMetadata("app", "shop"),
    spec: { containers: [{ name: "c", image: "app:1", volumeMounts: [{ name: "csi", mountPath: "/mnt/secrets", readOnly: true }] }], volumes: hostileVolumes },
  };
}

describe("reduceVolume", () => {
  const reduced = reducePodSpec(hostilePod().spec).volumes;
  const text = JSON.stringify(reduced);

  it("keeps no credential, map value, keyring, user or unnamed field", () => {
    expect(JSON.stringify(hostileVolumes)).toContain(CANARY); // the detector is not vacuous
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain("secretProviderClass");
    expect(text).not.toContain("networkPath");
  });

  it("keeps types, references, drivers, paths, addresses and flags", () => {
    const byName = Object.fromEntries(reduced.map((v) => [v.name, v]));
    expect(byName.csi).toStrictEqual({
      name: "csi",
      csi: { driver: "secrets-store.csi.k8s.io", readOnly: true, fsType: "ext4", nodePublishSecretRef: { name: "csi-creds" } },
    });
    expect(byName.flex).toStrictEqual({ name: "flex", flexVolume: { driver: "example.com/cifs", fsType: "cifs", secretRef: { name: "cifs-creds" } } });
    expect(byName.git).toStrictEqual({ name: "git", gitRepo: { repository: "https://git.example/org/repo.git", revision: "main", directory: "." } });
    expect(byName.disk).toStrictEqual({
      name: "disk",
      azureDisk: { diskName: "data", diskURI: "https://acct.blob.core.windows.net/vhds/data.vhd", cachingMode: "ReadOnly", kind: "Managed" },
    });
    expect(byName.rbd).toStrictEqual({
      name: "rbd",
      rbd: { monitors: ["10.0.0.1:6789", "10.0.0.2:6789"], image: "vol1", pool: "kube", secretRef: { name: "ceph-creds" }, readOnly: true },
    });
    expect(byName.cephfs).toStrictEqual({ name: "cephfs", cephfs: { monitors: ["10.0.0.3:6789"], path: "/volumes/a", secretRef: { name: "cephfs-creds" } } });
    expect(byName.iscsi).toStrictEqual({
      name: "iscsi",
      iscsi: {
        targetPortal: "10.0.0.9:3260",
        iqn: "iqn.2001-04.com.example:storage",
        lun: 0,
        chapAuthSession: true,
        secretRef: { name: "chap" },
        portals: ["10.0.0.10:3260"],
      },
    });
    expect(byName.scaleio).toStrictEqual({
      name: "scaleio",
      scaleIO: { gateway: "https://gw.example/api", system: "sys", secretRef: { name: "sio-creds" }, volumeName: "v" },
    });
    expect(byName.quobyte).toStrictEqual({ name: "quobyte", quobyte: { registry: "registry.example:7861", volume: "vol" } });
    expect(byName.ephemeral).toStrictEqual({
      name: "ephemeral",
      ephemeral: {
        volumeClaimTemplate: {
          spec: { storageClassName: "fast", accessModes: ["ReadWriteOnce"], volumeMode: "Filesystem", resources: { requests: { storage: "1Gi" } } },
        },
      },
    });
    expect(byName.projected).toStrictEqual({
      name: "projected",
      projected: {
        sources: [
          { secret: { name: "tls", items: [{ key: "tls.key", path: "key" }] } },
          { configMap: { name: "settings", optional: true } },
          { serviceAccountToken: { audience: "vault", expirationSeconds: 600, path: "token" } },
          { downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
          { clusterTrustBundle: { signerName: "example.com/signer", path: "ca.pem" } },
        ],
      },
    });
    expect(byName.nfs).toStrictEqual({ name: "nfs", nfs: { server: "nfs.example", path: "/exports/a", readOnly: true } });
    expect(byName.host).toStrictEqual({ name: "host", hostPath: { path: "/var/log", type: "Directory" } });
  });

  it("keeps only the type name of an unknown volume type", () => {
    expect(reduced.find((v) => v.name === "future")).toStrictEqual({ name: "future", futureVolume: {} });
    expect(reduceVolume({ name: "odd", "not a field name": { x: CANARY } })).toStrictEqual({ name: "odd" });
    expect(reduceVolume({ name: "bare" })).toStrictEqual({ name: "bare" });
    expect(reduceVolume("junk")).toStrictEqual({ name: "" });
  });

  it("has an allow-list for every volume source of core/v1 Volume and PersistentVolumeSpec", () => {
    const apiTypes = [
      "configMap",
      "secret",
      "persistentVolumeClaim",
      "hostPath",
      "emptyDir",
      "projected",
      "downwardAPI",
      "csi",
      "ephemeral",
      "nfs",
      "iscsi",
      "fc",
      "rbd",
      "cephfs",
      "cinder",
      "flexVolume",
      "flocker",
      "gitRepo",
      "glusterfs",
      "image",
      "awsElasticBlockStore",
      "gcePersistentDisk",
      "azureDisk",
      "azureFile",
      "vsphereVolume",
      "quobyte",
      "portworxVolume",
      "scaleIO",
      "storageos",
      "photonPersistentDisk",
      "local",
    ];
    expect(Object.keys(VOLUME_SOURCE_FIELDS).sort()).toStrictEqual([...apiTypes].sort());
  });
});

describe("volumes in the graph", () => {
  it("a pod's Volume nodes and BACKED_BY edges come from the named fields, and carry no canary", () => {
    const fragment = graphOf(pod, hostilePod());
    expect(JSON.stringify(fragment)).not.toContain(CANARY);
    const volumes = Object.fromEntries((fragment.owned ?? []).map((n) => [n.properties.name, n.properties]));
    expect(volumes.csi).toMatchObject({ type: "csi", driver: "secrets-store.csi.k8s.io" });
    expect(volumes.host).toMatchObject({ type: "hostPath", hostPath: "/var/log", hostPathType: "Directory" });
    expect(volumes.projected).toMatchObject({ type: "projected", serviceAccountToken: true, tokenAudience: "vault", tokenExpirationSeconds: 600 });
    expect(volumes.future).toMatchObject({ type: "futureVolume" });
    const backing = (fragment.edges ?? [])
      .filter((e) => e.type === "BACKED_BY")
      .map((e) => `${e.from.split("/").pop()}->${e.to}:${String(e.properties?.source)}`);
    expect(backing).toStrictEqual([
      "csi->prod/shop/Secret/csi-creds:csiNodePublishSecret",
      "projected->prod/shop/Secret/tls:projected",
      "projected->prod/shop/ConfigMap/settings:projected",
    ]);
  });

  it("a workload's pod template is reduced the same way", () => {
    const reduced = reduceAsObserved(deployment, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: apiMetadata("web", "shop"),
      spec: { replicas: 1, selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: hostilePod().spec } },
    });
    const text = JSON.stringify(reduced);
    expect(text).not.toContain(CANARY);
    expect(text).toContain("secrets-store.csi.k8s.io");
  });

  it("a PersistentVolume's flexVolume options and CSI attributes are not kept; its CSI secrets still are edges", () => {
    const pv = (source: Record<string, unknown>): KubeObject => ({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: apiMetadata("pv-1", null),
      spec: { capacity: { storage: "1Gi" }, ...source },
    });
    const flex = reduceAsObserved(
      persistentvolume,
      pv({ flexVolume: { driver: "example.com/cifs", options: { password: `${CANARY}-pvflex` }, secretRef: { name: "cifs", namespace: "kube-system" } } }),
    );
    expect(JSON.stringify(flex)).not.toContain(CANARY);
    expect(flex).toMatchObject({ sourceType: "flexVolume" });
    const csi = pv({
      csi: {
        driver: "d.example",
        volumeHandle: "h-1",
        volumeAttributes: { key: `${CANARY}-pvattr` },
        nodeStageSecretRef: { name: "stage", namespace: "kube-system" },
      },
    });
    expect(JSON.stringify(reduceAsObserved(persistentvolume, csi))).not.toContain(CANARY);
    const fragment = graphOf(persistentvolume, csi);
    expect(fragment.properties).toMatchObject({ sourceType: "csi", csiDriver: "d.example", csiVolumeHandle: "h-1" });
    expect(fragment.edges).toStrictEqual([{ type: "USES_SECRET", to: "prod/kube-system/Secret/stage", properties: { via: "csiNodeStageSecret" } }]);
  });
});
