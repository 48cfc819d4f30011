// Every built-in plugin against the real cluster, in both sinks: an application made of
// every kind we ship (a Deployment behind a Service and an Ingress, a bound PVC, RBAC with
// an aggregated ClusterRole, a Job, a StatefulSet, …), kube-controller-manager making the
// owner chains, ReplicaSets, pods and bindings real. The agent's full export must equal
// what a direct LIST implies, and the edges a security reviewer relies on are checked by
// hand, so a plugin that drops one cannot hide behind its own translation.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";
import { expectedExport } from "../../support/expected.js";
import { edgesOf, nodesOf, normalise, waitForGraph, wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";
import type { ActorSpec } from "../../support/agent.js";
import type { ExportLine } from "../../../core/graph/model.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const networking = kc.makeApiClient(k8s.NetworkingV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const storage = kc.makeApiClient(k8s.StorageV1Api);

const NAMESPACED = [
  "pod",
  "configmap",
  "secret",
  "serviceaccount",
  "persistentvolumeclaim",
  "deployment",
  "replicaset",
  "statefulset",
  "daemonset",
  "job",
  "cronjob",
  "service",
  "ingress",
  "role",
  "rolebinding",
];
const CLUSTER_WIDE = ["node", "persistentvolume", "storageclass", "clusterrole", "clusterrolebinding"];

const ns = uniqueName("plugins-all");
const id = ns.slice(-8);
const names = { sc: `ko-${id}-fast`, pv: `ko-${id}-pv`, node: `ko-${id}-node`, base: `ko-${id}-base`, agg: `ko-${id}-agg`, crb: `ko-${id}-crb` };
const AGGREGATE_LABEL = `ko.test/aggregate-${id}`;
const IMAGE = "registry.example:5000/team/web:1.2";

// Annotation canaries on every kind: a deploy tool's manifest copy (deny list) and a value
// over the size cap on every object, and any annotation at all on a Secret. None of them
// may reach the WAL, the graph or the logs; the keys stay, with a marker.
const canary = (where: string): string => `CANARY${where}${Math.random().toString(36).slice(2, 10)}`;
const canaries: string[] = [];
function canaryAnnotations(where: string): Record<string, string> {
  const copy = canary(`${where}kapp`);
  const big = canary(`${where}big`);
  canaries.push(copy, big);
  return {
    "kapp.k14s.io/original": JSON.stringify({ kind: where, data: { password: copy } }),
    "example.com/big": `${big}${"x".repeat(5000)}`,
    "example.com/owner": "team-a",
  };
}
const secretNote = canary("secretnote");
canaries.push(secretNote);
const templateAnnotations = canaryAnnotations("template");
const scParameter = canary("scparameter");
const scMountOption = canary("scmountoption");
canaries.push(scParameter, scMountOption);

const key = (kind: string, name: string, namespace: string | null = ns): string =>
  namespace === null ? `local/${kind}/${name}` : `local/${namespace}/${kind}/${name}`;

const template = (labels: Record<string, string>, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1PodTemplateSpec => ({
  metadata: { labels, annotations: templateAnnotations },
  spec: {
    serviceAccountName: "web",
    automountServiceAccountToken: false,
    initContainers: [{ name: "init", image: "busybox:1.36" }],
    containers: [
      {
        name: "app",
        image: IMAGE,
        env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } }],
        envFrom: [{ configMapRef: { name: "settings" } }],
        volumeMounts: [{ name: "config", mountPath: "/etc/app" }],
      },
    ],
    volumes: [{ name: "config", configMap: { name: "settings" } }],
    ...extra,
  },
});

async function createApplication(): Promise<void> {
  await createNamespace(core, ns);
  await storage.createStorageClass({
    body: {
      metadata: { name: names.sc },
      provisioner: "example.com/none",
      reclaimPolicy: "Retain",
      volumeBindingMode: "Immediate",
      parameters: {
        "csi.storage.k8s.io/provisioner-secret-name": "creds",
        "csi.storage.k8s.io/provisioner-secret-namespace": ns,
        "example.com/token": scParameter,
      },
      mountOptions: [`password=${scMountOption}`],
    },
  });
  await core.createPersistentVolume({
    body: {
      metadata: { name: names.pv },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: names.sc,
        hostPath: { path: `/srv/${id}` },
        claimRef: { namespace: ns, name: "data" },
      },
    },
  });
  await core.createNode({ body: { metadata: { name: names.node, labels: { "kubernetes.io/hostname": names.node } } } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "web" } } });
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "settings" }, data: { mode: "prod" } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "creds" }, stringData: { password: "canary-all-plugins" } } });
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: "web-tls" }, stringData: { "tls.crt": "not-a-cert", "tls.key": "canary-tls-key" } },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace: ns,
    body: {
      metadata: { name: "data" },
      spec: { storageClassName: names.sc, volumeName: names.pv, accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
  });
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: "web" },
      spec: {
        replicas: 2,
        // Not just app=web: the ReplicaSet would adopt the bare "pinned" pod below.
        selector: { matchLabels: { app: "web", tier: "front" } },
        template: template(
          { app: "web", tier: "front" },
          {
            volumes: [
              { name: "config", configMap: { name: "settings" } },
              { name: "data", persistentVolumeClaim: { claimName: "data" } },
            ],
          },
        ),
      },
    },
  });
  await core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name: "pinned", labels: { app: "web" } }, spec: { ...template({}).spec!, nodeName: names.node } },
  });
  await apps.createNamespacedStatefulSet({
    namespace: ns,
    body: { metadata: { name: "db" }, spec: { serviceName: "web", replicas: 1, selector: { matchLabels: { app: "db" } }, template: template({ app: "db" }) } },
  });
  await apps.createNamespacedDaemonSet({
    namespace: ns,
    body: { metadata: { name: "agent" }, spec: { selector: { matchLabels: { app: "agent" } }, template: template({ app: "agent" }) } },
  });
  await batch.createNamespacedJob({
    namespace: ns,
    body: { metadata: { name: "once" }, spec: { template: { ...template({ app: "once" }), spec: { ...template({}).spec!, restartPolicy: "Never" } } } },
  });
  await batch.createNamespacedCronJob({
    namespace: ns,
    body: {
      metadata: { name: "nightly" },
      spec: {
        schedule: "0 3 * * *",
        jobTemplate: { spec: { template: { ...template({ app: "nightly" }), spec: { ...template({}).spec!, restartPolicy: "OnFailure" } } } },
      },
    },
  });
  await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
  });
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "external" }, spec: { type: "ExternalName", externalName: "db.example" } } });
  await networking.createNamespacedIngress({
    namespace: ns,
    body: {
      metadata: { name: "web" },
      spec: {
        tls: [{ hosts: ["web.example"], secretName: "web-tls" }],
        rules: [{ host: "web.example", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { number: 80 } } } }] } }],
      },
    },
  });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: { metadata: { name: "secret-reader" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }] },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: "web-reads-secrets" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
      subjects: [
        { kind: "ServiceAccount", name: "web" },
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: `alice-${id}` },
        { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: `auditors-${id}` },
      ],
    },
  });
  await rbac.createClusterRole({
    body: { metadata: { name: names.base, labels: { [AGGREGATE_LABEL]: "true" } }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "watch"] }] },
  });
  await rbac.createClusterRole({
    body: { metadata: { name: names.agg }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [AGGREGATE_LABEL]: "true" } }] } },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: names.crb },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: names.agg },
      subjects: [{ kind: "ServiceAccount", name: "web", namespace: ns }],
    },
  });

  // What kube-controller-manager makes: ReplicaSet and pods, the Job's and StatefulSet's
  // pods, the PV/PVC binding and the aggregated role's rules.
  await eventually(
    "the controllers to create the pods",
    async () => ((await core.listNamespacedPod({ namespace: ns })).items.length >= 5 ? true : undefined),
    90_000,
  );
  await eventually(
    "the claim to be bound",
    async () => ((await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: ns })).status?.phase === "Bound" ? true : undefined),
    90_000,
  );
  await eventually("the aggregated rules", async () => (((await rbac.readClusterRole({ name: names.agg })).rules ?? []).length > 0 ? true : undefined), 60_000);
  await annotateEverything();
}

/** Every object made above, canaries added to its annotations (one merge patch each). */
async function annotateEverything(): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const made: Array<[apiVersion: string, kind: string, name: string, namespace?: string]> = [
    ["v1", "ServiceAccount", "web", ns],
    ["v1", "ConfigMap", "settings", ns],
    ["v1", "Secret", "creds", ns],
    ["v1", "Secret", "web-tls", ns],
    ["v1", "PersistentVolumeClaim", "data", ns],
    ["apps/v1", "Deployment", "web", ns],
    ["v1", "Pod", "pinned", ns],
    ["apps/v1", "StatefulSet", "db", ns],
    ["apps/v1", "DaemonSet", "agent", ns],
    ["batch/v1", "Job", "once", ns],
    ["batch/v1", "CronJob", "nightly", ns],
    ["v1", "Service", "web", ns],
    ["v1", "Service", "external", ns],
    ["networking.k8s.io/v1", "Ingress", "web", ns],
    ["rbac.authorization.k8s.io/v1", "Role", "secret-reader", ns],
    ["rbac.authorization.k8s.io/v1", "RoleBinding", "web-reads-secrets", ns],
    ["rbac.authorization.k8s.io/v1", "ClusterRole", names.base],
    ["rbac.authorization.k8s.io/v1", "ClusterRole", names.agg],
    ["rbac.authorization.k8s.io/v1", "ClusterRoleBinding", names.crb],
    ["v1", "PersistentVolume", names.pv],
    ["storage.k8s.io/v1", "StorageClass", names.sc],
    ["v1", "Node", names.node],
  ];
  for (const [apiVersion, kind, name, namespace] of made) {
    const annotations = kind === "Secret" ? { "example.com/note": secretNote } : canaryAnnotations(kind);
    const metadata = namespace === undefined ? { name, annotations } : { name, namespace, annotations };
    await objects.patch({ apiVersion, kind, metadata }, undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch);
  }
}

async function deleteClusterObjects(): Promise<void> {
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  await Promise.all([
    quiet(rbac.deleteClusterRoleBinding({ name: names.crb })),
    quiet(rbac.deleteClusterRole({ name: names.agg })),
    quiet(rbac.deleteClusterRole({ name: names.base })),
    quiet(core.deletePersistentVolume({ name: names.pv })),
    quiet(storage.deleteStorageClass({ name: names.sc })),
    quiet(core.deleteNode({ name: names.node })),
  ]);
}

beforeAll(async () => {
  await createApplication();
}, 180_000);

afterAll(async () => {
  await deleteNamespaces(core, [ns]);
  await deleteClusterObjects();
});

const actors: ActorSpec[] = [...NAMESPACED.map((resource) => ({ resource, namespace: ns })), ...CLUSTER_WIDE.map((resource) => ({ resource }))];
const scopes = [...NAMESPACED.map((resource) => ({ resource, namespace: ns })), ...CLUSTER_WIDE.map((resource) => ({ resource, namespace: null }))];

const edge = (lines: ExportLine[], rel: string, from: string): Array<{ to: string; properties: Record<string, unknown> }> =>
  edgesOf(lines)
    .filter((e) => e.rel === rel && e.from === from)
    .map((e) => ({ to: e.to, properties: e.properties }));
const targets = (lines: ExportLine[], rel: string, from: string): string[] =>
  edge(lines, rel, from)
    .map((e) => e.to)
    .sort();

/** Waits until the agent's graph equals the LIST-implied one (recomputed each time, as
 *  controllers keep writing status) and returns it. */
async function converged(ws: ReturnType<typeof workspace>, what: string): Promise<ExportLine[]> {
  let expected: ExportLine[] = [];
  const stable = (lines: ExportLine[]): string => JSON.stringify(normalise(lines));
  return waitForGraph(
    ws,
    what,
    (lines) => {
      if (expected.length === 0 || stable(lines) !== stable(expected)) return undefined;
      return lines;
    },
    120_000,
    async () => {
      expected = await expectedExport("local", scopes);
    },
  ).catch(async (error: Error) => {
    expect(normalise(await ws.exportLines())).toEqual(normalise(await expectedExport("local", scopes)));
    throw error;
  });
}

describe.each(["sqlite", "neo4j"] as const)("every built-in plugin with the %s sink", (sink: SinkKind) => {
  it("equals what a direct LIST implies, with the owner chains, selections, routes, bindings and grants a reviewer needs", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    const ws = workspace(sink, actors);
    const agent = ws.run();
    try {
      const lines = await converged(ws, "the graph to equal the cluster");
      const pods = (await core.listNamespacedPod({ namespace: ns })).items;
      const webPods = pods.filter((p) => p.metadata?.labels?.app === "web").map((p) => key("Pod", p.metadata!.name!));
      expect(webPods).toHaveLength(3); // two from the Deployment, and "pinned"

      // Service -> Pod by label selector; the ExternalName Service selects nothing.
      expect(targets(lines, "SELECTS", key("Service", "web"))).toEqual(webPods.sort());
      expect(edge(lines, "SELECTS", key("Service", "web"))[0]!.properties).toMatchObject({ selector: "app=web", owner: key("Service", "web") });
      expect(targets(lines, "SELECTS", key("Service", "external"))).toEqual([]);
      // Ingress -> Service and its TLS secret.
      expect(targets(lines, "ROUTES_TO", key("Ingress", "web"))).toEqual([key("Service", "web")]);
      expect(edge(lines, "USES_SECRET", key("Ingress", "web"))).toEqual([
        expect.objectContaining({ to: key("Secret", "web-tls"), properties: expect.objectContaining({ via: "tls" }) }),
      ]);
      // Storage: claim bound to its volume, both of the class; the class's CSI secret.
      expect(targets(lines, "BOUND_TO", key("PersistentVolumeClaim", "data"))).toEqual([key("PersistentVolume", names.pv, null)]);
      expect(targets(lines, "OF_CLASS", key("PersistentVolume", names.pv, null))).toEqual([key("StorageClass", names.sc, null)]);
      expect(targets(lines, "OF_CLASS", key("PersistentVolumeClaim", "data"))).toEqual([key("StorageClass", names.sc, null)]);
      expect(targets(lines, "USES_SECRET", key("StorageClass", names.sc, null))).toEqual([key("Secret", "creds")]);
      // RBAC: who is granted what, and the aggregated role pointing at what it aggregates.
      const binding = key("RoleBinding", "web-reads-secrets");
      expect(targets(lines, "GRANTS", binding)).toEqual([key("Role", "secret-reader")]);
      expect(targets(lines, "SUBJECT", binding)).toEqual(
        [key("Group", `auditors-${id}`, null), key("ServiceAccount", "web"), key("User", `alice-${id}`, null)].sort(),
      );
      expect(targets(lines, "GRANTS", key("ClusterRoleBinding", names.crb, null))).toEqual([key("ClusterRole", names.agg, null)]);
      expect(targets(lines, "AGGREGATES", key("ClusterRole", names.agg, null))).toEqual([key("ClusterRole", names.base, null)]);
      // Owner chain: a Deployment's pods reach it through their ReplicaSet.
      const deploymentPod = webPods.find((p) => !p.endsWith("/pinned"))!;
      const [replicaSet] = targets(lines, "OWNED_BY", deploymentPod);
      expect(replicaSet).toMatch(new RegExp(`^local/${ns}/ReplicaSet/web-`));
      expect(targets(lines, "OWNED_BY", replicaSet!)).toEqual([key("Deployment", "web")]);
      expect(targets(lines, "OWNED_BY", key("Pod", "db-0"))).toEqual([key("StatefulSet", "db")]);
      // The Deployment itself uses what its template names (so it shows at zero replicas too).
      expect(targets(lines, "USES_SECRET", key("Deployment", "web"))).toEqual([key("Secret", "creds")]);
      // Images and their registry; the pinned pod is on its node.
      expect(targets(lines, "FROM_REGISTRY", IMAGE)).toEqual(["registry.example:5000"]);
      expect(targets(lines, "SCHEDULED_ON", key("Pod", "pinned"))).toEqual([key("Node", names.node, null)]);
      // No secret value anywhere in the graph.
      expect(JSON.stringify(lines)).not.toMatch(/canary-all-plugins|canary-tls-key/);
      // The annotation canaries: keys kept with a marker, values nowhere.
      const annotationsOf = (k: string): unknown => nodesOf(lines).find((n) => n.key === k)?.properties.annotations;
      expect(annotationsOf(key("Secret", "creds"))).toEqual(["example.com/note=<withheld>"]);
      const withheld = [
        expect.stringMatching(/^example\.com\/big=<withheld: \d+ bytes>$/),
        "example.com/owner=team-a",
        expect.stringMatching(/^kapp\.k14s\.io\/original=<withheld: \d+ bytes>$/),
      ];
      for (const k of [key("Deployment", "web"), key("Pod", "db-0"), key("StorageClass", names.sc, null), key("ClusterRoleBinding", names.crb, null)])
        expect(annotationsOf(k), k).toEqual(expect.arrayContaining(withheld)); // a controller may add its own
      const files = readdirSync(ws.dir).map((f) => join(ws.dir, f));
      expect(files.some((f) => f.endsWith("wal.sqlite"))).toBe(true);
      const places: Array<[string, string | Buffer]> = [
        ["the graph", JSON.stringify(lines)],
        ["stdout", agent.stdout],
        ["stderr", agent.stderr],
        ...files.map((f): [string, Buffer] => [f, readFileSync(f)]),
      ];
      for (const value of canaries) for (const [where, text] of places) expect(text.includes(value), `${value} in ${where}`).toBe(false);

      // A pod relabelled out of the selection leaves it; the Service re-pointed follows.
      await core.patchNamespacedPod(
        { name: "pinned", namespace: ns, body: [{ op: "replace", path: "/metadata/labels/app", value: "other" }] },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      );
      await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "other" }, spec: { selector: { app: "other" }, ports: [{ port: 81 }] } } });
      const after = await converged(ws, "the graph to follow the relabelled pod and the new Service");
      expect(targets(after, "SELECTS", key("Service", "web"))).toEqual(webPods.filter((p) => !p.endsWith("/pinned")).sort());
      expect(targets(after, "SELECTS", key("Service", "other"))).toEqual([key("Pod", "pinned")]);
    } finally {
      await agent.stop();
      // The next sink starts from the same application.
      await core.patchNamespacedPod(
        { name: "pinned", namespace: ns, body: [{ op: "replace", path: "/metadata/labels/app", value: "web" }] },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      );
      await core.deleteNamespacedService({ name: "other", namespace: ns }).catch(() => undefined);
    }
  }, 360_000);
});
