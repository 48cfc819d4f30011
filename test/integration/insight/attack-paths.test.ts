// attack-paths on a graph the agent built from the real apiserver, in both sinks: a
// privileged pod that escapes to a node where a cluster-admin token is mounted, an account
// that can exec into pods, one that can create pods (and so mount any account of the
// namespace), one that can bind ClusterRoles; the shortest paths must be these, step by step.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const id = randomBytes(4).toString("hex");
const X = `attack-${id}`;
const NODE = `ko-${id}-node`;
const cluster = { admin: `ko-${id}-node-admin`, bind: `ko-${id}-binder`, bindRole: `ko-${id}-bind-clusterroles` };

const pod = (name: string, serviceAccountName: string, extra: Partial<k8s.V1PodSpec> = {}, privileged = false): k8s.V1Pod => ({
  metadata: { name },
  spec: {
    serviceAccountName,
    nodeName: NODE,
    containers: [{ name: "c", image: "busybox:1.36", ...(privileged ? { securityContext: { privileged: true } } : {}) }],
    ...extra,
  },
});
const roleWith = async (name: string, rules: k8s.V1PolicyRule[], account: string): Promise<void> => {
  await rbac.createNamespacedRole({ namespace: X, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace: X,
    body: { metadata: { name }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name }, subjects: [{ kind: "ServiceAccount", name: account }] },
  });
};

beforeAll(async () => {
  await createNamespace(core, X);
  await core.createNode({ body: { metadata: { name: NODE } } });
  for (const name of ["ci", "deployer", "node-admin", "creator", "binder"])
    await core.createNamespacedServiceAccount({ namespace: X, body: { metadata: { name } } });
  await eventually("the default ServiceAccount", () => core.readNamespacedServiceAccount({ namespace: X, name: "default" }).catch(() => undefined), 60_000);
  await core.createNamespacedSecret({ namespace: X, body: { metadata: { name: "db" }, stringData: { password: "canary-attack-paths" } } });
  await roleWith("exec", [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }], "ci");
  await roleWith("read-db", [{ apiGroups: [""], resources: ["secrets"], resourceNames: ["db"], verbs: ["get"] }], "deployer");
  await roleWith("create-pods", [{ apiGroups: [""], resources: ["pods"], verbs: ["create"] }], "creator");
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: cluster.admin },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: "node-admin", namespace: X }],
    },
  });
  await rbac.createClusterRole({
    body: { metadata: { name: cluster.bindRole }, rules: [{ apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind"] }] },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: cluster.bind },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: cluster.bindRole },
      subjects: [{ kind: "ServiceAccount", name: "binder", namespace: X }],
    },
  });
  await core.createNamespacedPod({ namespace: X, body: pod("target", "deployer") });
  await core.createNamespacedPod({ namespace: X, body: pod("agent", "node-admin") });
  await core.createNamespacedPod({ namespace: X, body: pod("priv", "default", { automountServiceAccountToken: false }, true) });
  await core.createNamespacedPod({
    namespace: X,
    body: { metadata: { name: "lonely" }, spec: { automountServiceAccountToken: false, containers: [{ name: "c", image: "busybox:1.36" }] } },
  });
}, 120_000);

afterAll(async () => {
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  await deleteNamespaces(core, [X]);
  await Promise.all([
    quiet(rbac.deleteClusterRoleBinding({ name: cluster.admin })),
    quiet(rbac.deleteClusterRoleBinding({ name: cluster.bind })),
    quiet(rbac.deleteClusterRole({ name: cluster.bindRole })),
    quiet(core.deleteNode({ name: NODE })),
  ]);
});

const actors = [
  ...["pod", "serviceaccount", "secret", "role", "rolebinding"].map((resource) => ({ resource, namespace: X })),
  ...["clusterrole", "clusterrolebinding", "node"].map((resource) => ({ resource })),
];

interface Step {
  rel: string;
  from: string;
  to: string;
  how: string;
}
interface Answer {
  from: string;
  target: string;
  path: { to: string; steps: Step[] } | null;
  secrets: Array<{ to: string; steps: Step[] }>;
}

async function paths(
  config: string,
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; answer?: Answer; stdout: string; stderr: string }> {
  const run = new AgentProcess(["attack-paths", "--config", config, ...args], env);
  const exit = await run.exited;
  const answer = args.includes("--json") && exit.code === 0 ? (JSON.parse(run.stdout) as Answer) : undefined;
  return { code: exit.code, ...(answer ? { answer } : {}), stdout: run.stdout, stderr: run.stderr };
}
const k = (label: string, name: string, ns: string | null = X): string => (ns ? `local/${ns}/${label}/${name}` : `local/${label}/${name}`);
const rels = (a: Answer | undefined, which: "path" | number = "path"): string[] =>
  (which === "path" ? a?.path?.steps : a?.secrets[which]?.steps)?.map((s) => `${s.rel} ${s.to}`) ?? [];

describe.each(["sqlite", "neo4j"] as const)("attack-paths on the %s sink", (sink: SinkKind) => {
  it("finds the shortest path from each foothold, step by step, and none where there is none", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    const ws = workspace(sink, actors);
    await ws.runOnce();
    const run = (args: string[]) => paths(ws.config, ws.env, [...args, "--json"]);

    // A privileged pod is its node; the node holds the token of a cluster-admin account.
    const priv = await run(["--from", "pod", "priv", "-n", X]);
    expect(priv.code, priv.stderr).toBe(0);
    expect(rels(priv.answer)).toEqual([
      `CAN_ESCAPE_TO ${k("Node", NODE, null)}`,
      `HOLDS_TOKEN_OF ${k("ServiceAccount", "node-admin")}`,
      "IS_CLUSTER_ADMIN local/ClusterRole/cluster-admin",
    ]);
    expect(priv.answer!.path!.steps[0]!.how).toBe("privileged");

    // Exec into a pod whose account is cluster-admin.
    const ci = await run(["--from", "serviceaccount", "ci", "-n", X]);
    expect(rels(ci.answer)).toEqual([
      `CAN_EXEC_INTO ${k("Pod", "agent")}`,
      `USES_TOKEN_OF ${k("ServiceAccount", "node-admin")}`,
      "IS_CLUSTER_ADMIN local/ClusterRole/cluster-admin",
    ]);
    // ... and, in three steps, the Secret: through either pod's account.
    const ciDb = await run(["--from", "serviceaccount", "ci", "-n", X, "--to", "secret", "db"]);
    expect(ciDb.answer!.path!.steps).toHaveLength(3);
    expect(ciDb.answer!.path!.steps[0]!.rel).toBe("CAN_EXEC_INTO");
    expect(ciDb.answer!.path!.steps.at(-1)).toMatchObject({ rel: "CAN_READ_SECRET", to: k("Secret", "db") });

    // Creating pods lets one run as any account of the namespace.
    const creator = await run(["--from", "serviceaccount", "creator", "-n", X]);
    // (Through either account of the namespace that is, or can become, cluster-admin.)
    const [create, mount, last] = rels(creator.answer);
    expect(create).toBe(`CAN_CREATE_PODS_IN local/Namespace/${X}`);
    expect([`CAN_MOUNT ${k("ServiceAccount", "node-admin")}`, `CAN_MOUNT ${k("ServiceAccount", "binder")}`]).toContain(mount);
    expect(["IS_CLUSTER_ADMIN local/ClusterRole/cluster-admin", "CAN_ESCALATE_TO local/ClusterRole/cluster-admin"]).toContain(last);
    expect(rels(creator.answer)).toHaveLength(3);
    // Binding ClusterRoles is cluster-admin in one step.
    const binder = await run(["--from", "serviceaccount", "binder", "-n", X]);
    expect(rels(binder.answer)).toEqual(["CAN_ESCALATE_TO local/ClusterRole/cluster-admin"]);
    expect(binder.answer!.path!.steps[0]!.how).toContain(`bind ClusterRoles: ClusterRoleBinding ${cluster.bind}`);
    // The deployer reads exactly its one Secret (resourceNames), nothing more.
    const deployer = await run(["--from", "serviceaccount", "deployer", "-n", X]);
    expect(deployer.answer!.path).toBeNull();
    expect(deployer.answer!.secrets.map((s) => s.to)).toEqual([k("Secret", "db")]);
    // No token, no privileges: nowhere to go.
    const lonely = await run(["--from", "pod", "lonely", "-n", X]);
    expect(lonely.answer!.path).toBeNull();
    expect(lonely.answer!.secrets).toEqual([]);
  }, 180_000);
});

describe("attack-paths, the command", () => {
  it("prints the path, and names bad input", async () => {
    const ws = workspace("sqlite", actors);
    await ws.runOnce();
    const text = await paths(ws.config, ws.env, ["--from", "pod", "priv", "-n", X]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Pod ${X}/priv reaches ClusterRole cluster-admin in 3 step(s):`);
    expect(text.stdout).toContain(`-[CAN_ESCAPE_TO: privileged]-> Node ${NODE}`);
    const missing = await paths(ws.config, ws.env, ["--from", "pod", "nope", "-n", X]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`Pod ${X}/nope is not in the graph`);
    const noNs = await paths(ws.config, ws.env, ["--from", "pod", "priv"]);
    expect(noNs.code).toBe(1);
    expect(noNs.stderr).toContain("add -n NAMESPACE");
  }, 120_000);
});
