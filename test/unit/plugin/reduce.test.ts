// The built-in plugins' reductions: what the graph keeps, and that secret values never
// survive (Secret data/stringData, literal env values, kubectl's last-applied copy).
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import { LAST_APPLIED_ANNOTATION, asArray, field, type reduceMetadata, scrubObject } from "../../../core/plugin/sdk.js";
import type { ResourcePlugin } from "../../../core/plugin/types.js";
import clusterrole from "../../../plugins/clusterrole.js";
import clusterrolebinding from "../../../plugins/clusterrolebinding.js";
import configmap from "../../../plugins/configmap.js";
import ingress from "../../../plugins/ingress.js";
import namespace from "../../../plugins/namespace.js";
import node from "../../../plugins/node.js";
import persistentvolume from "../../../plugins/persistentvolume.js";
import persistentvolumeclaim from "../../../plugins/persistentvolumeclaim.js";
import pod from "../../../plugins/pod.js";
import role from "../../../plugins/role.js";
import rolebinding from "../../../plugins/rolebinding.js";
import secret from "../../../plugins/secret.js";
import service from "../../../plugins/service.js";
import serviceaccount from "../../../plugins/serviceaccount.js";
import storageclass from "../../../plugins/storageclass.js";
import type { reducePodSpec } from "../../../plugins/_shared/pod-spec.js";
import { prng } from "../../support/prng.js";

const builtins: ResourcePlugin[] = [
  pod,
  secret,
  configmap,
  serviceaccount,
  persistentvolumeclaim,
  node,
  namespace,
  service,
  ingress,
  persistentvolume,
  storageclass,
  role,
  clusterrole,
  rolebinding,
  clusterrolebinding,
];

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: "shop",
  uid: `uid-${name}`,
  resourceVersion: "4711",
  creationTimestamp: "2024-05-01T10:00:00Z",
  labels: { app: "shop" },
  annotations: { "example.com/owner": "team-a" },
  managedFields: [{ manager: "kubectl-client-side-apply", operation: "Update", fieldsType: "FieldsV1", fieldsV1: { "f:metadata": {} } }],
  ...extra,
});

/** What kubectl apply leaves on an object: the whole manifest, values included. */
function lastApplied(manifest: unknown): Record<string, string> {
  return { [LAST_APPLIED_ANNOTATION]: JSON.stringify(manifest) };
}

function container(name: string, canary: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    image: `registry.example.com/shop/${name}:1.2.3`,
    imagePullPolicy: "IfNotPresent",
    command: ["/bin/run", `--token=${canary}-cmd`],
    args: [`--password=${canary}-arg`],
    env: [
      { name: "LITERAL_PASSWORD", value: `${canary}-env` },
      { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-creds", key: "password", optional: false } } },
      { name: "FEATURE", valueFrom: { configMapKeyRef: { name: "features", key: "flag", optional: true } } },
      { name: "POD_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.podIP" } } },
      { name: "CPU_LIMIT", valueFrom: { resourceFieldRef: { containerName: name, resource: "limits.cpu", divisor: "1m" } } },
    ],
    envFrom: [{ prefix: "CFG_", configMapRef: { name: "app-config" } }, { secretRef: { name: "app-secrets", optional: true } }],
    volumeMounts: [
      { name: "creds", mountPath: "/var/run/creds", readOnly: true },
      { name: "data", mountPath: "/data", subPath: "shop" },
    ],
    securityContext: {
      privileged: false,
      runAsUser: 1000,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
    },
    ...extra,
  };
}

function realisticPod(canary = "CANARY"): KubeObject {
  const spec = {
    serviceAccountName: "shop-sa",
    automountServiceAccountToken: false,
    nodeName: "worker-3",
    hostNetwork: true,
    imagePullSecrets: [{ name: "regcred" }],
    initContainers: [container("migrate", `${canary}-init`)],
    containers: [container("web", `${canary}-main`), container("sidecar", `${canary}-side`)],
    ephemeralContainers: [container("debugger", `${canary}-eph`, { targetContainerName: "web" })],
    volumes: [
      { name: "creds", secret: { secretName: "db-creds", items: [{ key: "password", path: "pw" }], defaultMode: 0o400 } },
      { name: "data", persistentVolumeClaim: { claimName: "shop-data" } },
      { name: "cfg", configMap: { name: "app-config" } },
      { name: "token", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3600 } }] } },
    ],
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: meta("web-0", {
      annotations: { "example.com/owner": "team-a", ...lastApplied({ spec: { containers: [{ env: [{ value: `${canary}-lastapplied` }] }] } }) },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "uid-sts", controller: true, blockOwnerDeletion: true }],
    }),
    spec,
    status: {
      phase: "Running",
      podIP: "10.0.0.7",
      initContainerStatuses: [{ name: "migrate", image: "registry.example.com/shop/migrate:1.2.3", imageID: "registry.example.com/shop/migrate@sha256:aaa" }],
      containerStatuses: [
        { name: "web", image: "registry.example.com/shop/web:1.2.3", imageID: "registry.example.com/shop/web@sha256:bbb", ready: true },
        { name: "sidecar", image: "registry.example.com/shop/sidecar:1.2.3", imageID: "registry.example.com/shop/sidecar@sha256:ccc" },
      ],
      ephemeralContainerStatuses: [{ name: "debugger", image: "busybox:1.36", imageID: "docker.io/library/busybox@sha256:ddd" }],
    },
  };
}

function realisticSecret(canary = "CANARY"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/basic-auth",
    metadata: meta("db-creds", { annotations: { "example.com/owner": "team-a", ...lastApplied({ stringData: { password: `${canary}-lastapplied` } }) } }),
    data: { username: Buffer.from(`${canary}-user`).toString("base64"), password: Buffer.from(`${canary}-pw`).toString("base64") },
    stringData: { "extra-key": `${canary}-stringdata` },
  };
}

/** The reduced object exactly as it would travel: through scrubObject, reduce and JSON. */
function reducedJson(plugin: ResourcePlugin, object: KubeObject): string {
  return JSON.stringify(plugin.reduce(scrubObject(structuredClone(object))));
}

describe("secret plugin", () => {
  it("keeps key names and type, never values", () => {
    const reduced = secret.reduce(scrubObject(realisticSecret())) as Record<string, unknown>;
    expect(reduced).toMatchObject({ type: "kubernetes.io/basic-auth", keys: ["extra-key", "password", "username"], immutable: false });
    expect(reduced).not.toHaveProperty("data");
    expect(reduced).not.toHaveProperty("stringData");
    const text = JSON.stringify(reduced);
    expect(text).not.toMatch(/CANARY/);
    // base64 of the canaries must not leak either.
    expect(text).not.toContain(Buffer.from("CANARY-pw").toString("base64"));
  });

  it("drops the last-applied annotation even without the core's scrub", () => {
    const text = JSON.stringify(secret.reduce(realisticSecret()));
    expect(text).not.toContain("CANARY-lastapplied");
    expect(text).not.toContain(LAST_APPLIED_ANNOTATION);
    expect(text).not.toContain("managedFields");
  });

  it("defaults type to Opaque and keys to []", () => {
    expect(secret.reduce({ metadata: { name: "s" } })).toMatchObject({ type: "Opaque", keys: [], immutable: false });
    expect(secret.reduce({ metadata: { name: "s" }, immutable: true, data: { a: "" } })).toMatchObject({ keys: ["a"], immutable: true });
  });
});

describe("pod plugin", () => {
  const reduced = pod.reduce(scrubObject(realisticPod())) as {
    metadata: ReturnType<typeof reduceMetadata>;
    spec: ReturnType<typeof reducePodSpec>;
    status: { phase: string; podIP: string; containerImages: Array<{ name: string; image: string; imageID: string }> };
  };

  it("drops literal env values in containers, initContainers and ephemeralContainers, keeps valueFrom refs", () => {
    const all = [...reduced.spec.containers, ...reduced.spec.initContainers, ...reduced.spec.ephemeralContainers];
    expect(all.map((c) => c.name)).toStrictEqual(["web", "sidecar", "migrate", "debugger"]);
    for (const c of all) {
      expect(c.env).toStrictEqual([
        { name: "LITERAL_PASSWORD", valueFrom: null },
        { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-creds", key: "password", optional: false } } },
        { name: "FEATURE", valueFrom: { configMapKeyRef: { name: "features", key: "flag", optional: true } } },
        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "CPU_LIMIT", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
      ]);
      for (const env of c.env) expect(env).not.toHaveProperty("value");
      expect(c.envFrom).toStrictEqual([
        { prefix: "CFG_", configMapRef: { name: "app-config", optional: false }, secretRef: null },
        { prefix: null, configMapRef: null, secretRef: { name: "app-secrets", optional: true } },
      ]);
      expect(c).not.toHaveProperty("command");
      expect(c).not.toHaveProperty("args");
    }
  });

  it("keeps what the graph links on: service account, node, pull secrets, volumes, mounts, images", () => {
    expect(reduced.spec).toMatchObject({
      serviceAccountName: "shop-sa",
      automountServiceAccountToken: false,
      nodeName: "worker-3",
      hostNetwork: true,
      hostPID: false,
      hostIPC: false,
      imagePullSecrets: ["regcred"],
    });
    expect(reduced.spec.volumes.map((v) => v.name)).toStrictEqual(["creds", "data", "cfg", "token"]);
    expect(reduced.spec.volumes[0]).toStrictEqual({
      name: "creds",
      secret: { secretName: "db-creds", items: [{ key: "password", path: "pw" }], defaultMode: 0o400 },
    });
    expect(reduced.spec.volumes[1]).toStrictEqual({ name: "data", persistentVolumeClaim: { claimName: "shop-data" } });
    const web = reduced.spec.containers[0]!;
    expect(web).toMatchObject({ image: "registry.example.com/shop/web:1.2.3", imagePullPolicy: "IfNotPresent" });
    expect(web.volumeMounts).toStrictEqual([
      { name: "creds", mountPath: "/var/run/creds", readOnly: true, subPath: null },
      { name: "data", mountPath: "/data", readOnly: false, subPath: "shop" },
    ]);
    expect(web.securityContext).toStrictEqual({
      privileged: false,
      runAsUser: 1000,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: null,
      capabilitiesAdd: ["NET_BIND_SERVICE"],
    });
  });

  it("keeps image digests from every kind of container status", () => {
    expect(reduced.status).toStrictEqual({
      phase: "Running",
      podIP: "10.0.0.7",
      containerImages: [
        { name: "migrate", image: "registry.example.com/shop/migrate:1.2.3", imageID: "registry.example.com/shop/migrate@sha256:aaa" },
        { name: "web", image: "registry.example.com/shop/web:1.2.3", imageID: "registry.example.com/shop/web@sha256:bbb" },
        { name: "sidecar", image: "registry.example.com/shop/sidecar:1.2.3", imageID: "registry.example.com/shop/sidecar@sha256:ccc" },
        { name: "debugger", image: "busybox:1.36", imageID: "docker.io/library/busybox@sha256:ddd" },
      ],
    });
  });

  it("keeps identity metadata, minus managedFields and last-applied", () => {
    expect(reduced.metadata).toStrictEqual({
      name: "web-0",
      namespace: "shop",
      uid: "uid-web-0",
      resourceVersion: "4711",
      labels: { app: "shop" },
      annotations: { "example.com/owner": "team-a" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "uid-sts", controller: true }],
      creationTimestamp: "2024-05-01T10:00:00Z",
      deletionTimestamp: null,
    });
  });

  it("contains no canary at all", () => {
    expect(JSON.stringify(reduced)).not.toMatch(/CANARY/);
  });

  it("copes with a pod that has no spec or status", () => {
    const bare = pod.reduce({ metadata: { name: "p" } }) as { spec: ReturnType<typeof reducePodSpec>; status: unknown };
    expect(bare.spec).toMatchObject({
      containers: [],
      initContainers: [],
      ephemeralContainers: [],
      volumes: [],
      imagePullSecrets: [],
      serviceAccountName: null,
      nodeName: null,
    });
    expect(bare.status).toStrictEqual({ phase: null, podIP: null, containerImages: [] });
  });
});

describe("other built-in plugins", () => {
  it("configmap keeps sorted key names (data and binaryData), not values", () => {
    const cm: KubeObject = {
      metadata: meta("app-config"),
      data: { "b.yaml": "CANARY-1", "a.yaml": "CANARY-2" },
      binaryData: { "c.bin": "Q0FOQVJZ" },
      immutable: true,
    };
    const reduced = configmap.reduce(scrubObject(cm));
    expect(reduced).toMatchObject({ keys: ["a.yaml", "b.yaml", "c.bin"], immutable: true });
    expect(JSON.stringify(reduced)).not.toMatch(/CANARY|Q0FOQVJZ/);
  });

  it("serviceaccount keeps secret and pull-secret names and the automount flag", () => {
    const sa: KubeObject = {
      metadata: meta("shop-sa"),
      secrets: [{ name: "shop-sa-token" }],
      imagePullSecrets: [{ name: "regcred" }],
      automountServiceAccountToken: false,
    };
    expect(serviceaccount.reduce(sa)).toMatchObject({ secrets: ["shop-sa-token"], imagePullSecrets: ["regcred"], automountServiceAccountToken: false });
    expect(serviceaccount.reduce({ metadata: { name: "x" } })).toMatchObject({ secrets: [], imagePullSecrets: [], automountServiceAccountToken: null });
  });

  it("persistentvolumeclaim keeps class, volume, modes, request and phase", () => {
    const pvc: KubeObject = {
      metadata: meta("shop-data"),
      spec: { storageClassName: "fast", volumeName: "pv-123", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } },
      status: { phase: "Bound" },
    };
    expect(persistentvolumeclaim.reduce(pvc)).toMatchObject({
      storageClassName: "fast",
      volumeName: "pv-123",
      accessModes: ["ReadWriteOnce"],
      requestedStorage: "10Gi",
      phase: "Bound",
    });
  });

  it("node keeps addresses, taints, runtime info", () => {
    const n: KubeObject = {
      metadata: { name: "worker-3", uid: "uid-n", resourceVersion: "1" },
      spec: {
        providerID: "aws:///eu-west-1a/i-123",
        unschedulable: true,
        taints: [
          { key: "dedicated", value: "db", effect: "NoSchedule" },
          { key: "x", effect: "NoExecute" },
        ],
      },
      status: {
        addresses: [{ type: "InternalIP", address: "10.1.2.3" }],
        nodeInfo: { kubeletVersion: "v1.31.0", containerRuntimeVersion: "containerd://1.7", osImage: "Ubuntu", kernelVersion: "6.8", architecture: "amd64" },
      },
    };
    expect(node.reduce(n)).toMatchObject({
      providerID: "aws:///eu-west-1a/i-123",
      unschedulable: true,
      taints: [
        { key: "dedicated", value: "db", effect: "NoSchedule" },
        { key: "x", value: null, effect: "NoExecute" },
      ],
      addresses: [{ type: "InternalIP", address: "10.1.2.3" }],
      nodeInfo: { kubeletVersion: "v1.31.0", architecture: "amd64" },
    });
    expect((node.reduce(n) as { metadata: { namespace: unknown } }).metadata.namespace).toBeNull();
  });

  it("namespace keeps its phase and labels", () => {
    const ns: KubeObject = {
      metadata: { name: "shop", uid: "u", labels: { "pod-security.kubernetes.io/enforce": "restricted" } },
      status: { phase: "Terminating" },
    };
    expect(namespace.reduce(ns)).toMatchObject({ phase: "Terminating", metadata: { labels: { "pod-security.kubernetes.io/enforce": "restricted" } } });
  });

  it("declares the right API resources", () => {
    const resources = Object.fromEntries(builtins.map((p) => [p.name, p.resource]));
    expect(resources).toStrictEqual({
      pod: { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
      secret: { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
      configmap: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
      serviceaccount: { group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
      persistentvolumeclaim: { group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true },
      node: { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false },
      namespace: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
      service: { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true },
      ingress: { group: "networking.k8s.io", version: "v1", plural: "ingresses", kind: "Ingress", namespaced: true },
      persistentvolume: { group: "", version: "v1", plural: "persistentvolumes", kind: "PersistentVolume", namespaced: false },
      storageclass: { group: "storage.k8s.io", version: "v1", plural: "storageclasses", kind: "StorageClass", namespaced: false },
      role: { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", kind: "Role", namespaced: true },
      clusterrole: { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", kind: "ClusterRole", namespaced: false },
      rolebinding: { group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", kind: "RoleBinding", namespaced: true },
      clusterrolebinding: { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false },
    });
    expect(builtins.filter((p) => p.providesNamespaces).map((p) => p.name)).toStrictEqual(["namespace"]);
  });
});

describe("sdk", () => {
  it("scrubObject drops managedFields and last-applied, keeps the rest, and does not mutate its input", () => {
    const original = realisticSecret();
    const before = structuredClone(original);
    const scrubbed = scrubObject(original);
    expect(scrubbed.metadata).not.toHaveProperty("managedFields");
    expect(scrubbed.metadata?.annotations).toStrictEqual({ "example.com/owner": "team-a" });
    expect(scrubbed.metadata?.labels).toStrictEqual({ app: "shop" });
    expect(scrubbed.data).toStrictEqual(original.data);
    expect(original).toStrictEqual(before);
  });

  it("scrubObject leaves an object without metadata alone", () => {
    const o = { kind: "X" };
    expect(scrubObject(o)).toStrictEqual({ kind: "X" });
  });

  it("field and asArray do not trust the shape", () => {
    expect(field({ a: { b: 1 } }, "a", "b")).toBe(1);
    expect(field({ a: "str" }, "a", "b")).toBeUndefined();
    expect(field(null, "a")).toBeUndefined();
    expect(asArray("nope")).toStrictEqual([]);
    expect(asArray([1])).toStrictEqual([1]);
  });
});

describe("no secret value survives reduction (property)", () => {
  it("for random objects with canaries in every secret-bearing place, no built-in's output contains one", () => {
    const random = prng(20240501);
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
    const word = (): string => Math.floor(random() * 1e9).toString(36);

    for (let round = 0; round < 300; round++) {
      const canary = `CNRY${round}x${word()}`;
      const places: string[] = [];
      const mark = (where: string): string => {
        places.push(where);
        return `${canary}:${where}`;
      };
      const envs = (where: string) =>
        Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) =>
          random() < 0.6
            ? { name: `E${i}`, value: mark(`${where}.env${i}`) }
            : { name: `E${i}`, valueFrom: { secretKeyRef: { name: `s-${word()}`, key: `k-${word()}` } } },
        );
      const containers = (where: string) =>
        Array.from({ length: Math.floor(random() * 3) }, (_, i) => ({
          name: `${where}${i}`,
          image: `img-${word()}`,
          env: envs(`${where}${i}`),
          args: [mark(`${where}${i}.args`)],
          command: random() < 0.5 ? [mark(`${where}${i}.command`)] : undefined,
        }));
      const annotations: Record<string, string> = { [`a-${word()}`]: `plain-${word()}` };
      annotations[LAST_APPLIED_ANNOTATION] = JSON.stringify({ data: { k: mark("last-applied") } });
      const metadata = {
        name: `n-${word()}`,
        namespace: pick(["default", "shop", undefined]),
        uid: word(),
        resourceVersion: String(round),
        annotations,
        managedFields: [{ manager: "m", fieldsV1: { [`f:${mark("managedFields")}`]: {} } }],
      };
      const data = Object.fromEntries(
        Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`key${i}`, Buffer.from(mark(`data.${i}`)).toString("base64")]),
      );
      const stringData = Object.fromEntries(Array.from({ length: Math.floor(random() * 3) }, (_, i) => [`skey${i}`, mark(`stringData.${i}`)]));
      const object: KubeObject = {
        apiVersion: "v1",
        kind: pick(["Pod", "Secret", "ConfigMap", "PersistentVolume", "StorageClass"]),
        metadata,
        data,
        stringData,
        binaryData: random() < 0.5 ? { bin: Buffer.from(mark("binaryData")).toString("base64") } : undefined,
        // StorageClass parameter values, PersistentVolume source options and attributes.
        parameters: random() < 0.5 ? { [`p-${word()}`]: mark("parameters"), "csi.storage.k8s.io/provisioner-secret-name": `s-${word()}` } : undefined,
        spec: {
          containers: containers("c"),
          initContainers: containers("i"),
          ephemeralContainers: containers("e"),
          serviceAccountName: `sa-${word()}`,
          mountOptions: random() < 0.5 ? [mark("mountOptions")] : undefined,
          // Pod volume sources: attribute and option maps, keyrings, URL credentials.
          volumes: [
            { name: `v-${word()}`, csi: { driver: `d-${word()}`, volumeAttributes: { a: mark("volumes.csi.volumeAttributes") } } },
            { name: `v-${word()}`, flexVolume: { driver: `d-${word()}`, options: { password: mark("volumes.flexVolume.options") } } },
            { name: `v-${word()}`, gitRepo: { repository: `https://u:${mark("volumes.gitRepo.repository")}@git.example/r.git` } },
            { name: `v-${word()}`, rbd: { monitors: ["m:6789"], image: "i", keyring: mark("volumes.rbd.keyring"), user: mark("volumes.rbd.user") } },
            { name: `v-${word()}`, [`future${word().replace(/[^a-z0-9]/gi, "")}`]: { anything: mark("volumes.unknown") } },
          ],
          ...pick([
            { csi: { driver: `d-${word()}`, volumeHandle: `v-${word()}`, volumeAttributes: { a: mark("csi.volumeAttributes") } } },
            { flexVolume: { driver: `d-${word()}`, options: { password: mark("flexVolume.options") } } },
            {},
          ]),
        },
      };
      // Every marked value starts with the canary, so its base64 starts with this prefix.
      const base64Canary = Buffer.from(canary)
        .toString("base64")
        .slice(0, Math.floor(canary.length / 3) * 4);
      const leaks = (text: string): boolean => text.includes(canary) || text.includes(base64Canary);
      // The detector is not vacuous: the raw object, and a careless reduce, do leak.
      expect(leaks(JSON.stringify(object))).toBe(true);
      expect(leaks(JSON.stringify(scrubObject(object).metadata?.annotations))).toBe(false);
      if (Object.keys(data).length > 0) expect(leaks(JSON.stringify({ keys: Object.keys(data), data }))).toBe(true);
      for (const plugin of builtins) {
        const text = reducedJson(plugin, object);
        if (leaks(text)) {
          throw new Error(`plugin ${plugin.name} leaked a canary (round ${round}, placed in ${places.join(", ")}): ${text}`);
        }
      }
      // The property is not vacuous: canaries were placed and the key names survived.
      expect(places.length).toBeGreaterThan(1);
      const secretKeys = (secret.reduce(scrubObject(object)) as { keys: string[] }).keys;
      expect(secretKeys).toStrictEqual([...new Set([...Object.keys(data), ...Object.keys(stringData)])].sort());
    }
  });
});
