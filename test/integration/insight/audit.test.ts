// audit on a graph the agent built from the real apiserver, in both sinks: a fixture with
// one instance of what each rule looks for (and near misses it must not flag) must give
// exactly the expected findings for its objects, each with a path through the graph; the
// SARIF output is well-formed; --fail-on gates with exit 3.
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const networking = kc.makeApiClient(k8s.NetworkingV1Api);

const id = randomBytes(4).toString("hex");
const N = `audit-${id}`;
const OPS = `ops-${id}`;
const names = { reader: `ko-${id}-secret-reader`, readerBinding: `ko-${id}-reader`, admin: `ko-${id}-ops-admin`, wild: `ko-${id}-wild` };
const DIGEST = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const pod = (name: string, spec: Partial<k8s.V1PodSpec> = {}, labels: Record<string, string> = {}, container: Partial<k8s.V1Container> = {}): k8s.V1Pod => ({
  metadata: { name, labels },
  spec: { automountServiceAccountToken: false, containers: [{ name: "c", image: "busybox:1.36", ...container }], ...spec },
});

beforeAll(async () => {
  await createNamespace(core, N);
  await eventually("the default ServiceAccount", () => core.readNamespacedServiceAccount({ namespace: N, name: "default" }).catch(() => undefined), 60_000);
  for (const name of ["reader", "web"]) await core.createNamespacedServiceAccount({ namespace: N, body: { metadata: { name } } });
  await core.createNamespacedSecret({ namespace: N, body: { metadata: { name: "used" }, stringData: { k: "v" } } });
  await core.createNamespacedSecret({ namespace: N, body: { metadata: { name: "orphan" }, stringData: { k: "v" } } });
  const pods = [
    pod("priv", {}, {}, { securityContext: { privileged: true } }),
    pod("hostnet", { hostNetwork: true, hostPID: true }),
    pod("rootfs", { volumes: [{ name: "root", hostPath: { path: "/" } }] }, {}, { volumeMounts: [{ name: "root", mountPath: "/host" }] }),
    pod("sock", { volumes: [{ name: "run", hostPath: { path: "/run/containerd" } }] }, {}, { volumeMounts: [{ name: "run", mountPath: "/r" }] }),
    pod("logs", { volumes: [{ name: "logs", hostPath: { path: "/var/log" } }] }, {}, { volumeMounts: [{ name: "logs", mountPath: "/l" }] }),
    // The default account's token, mounted (automount unset on pod and account).
    { metadata: { name: "plain" }, spec: { containers: [{ name: "c", image: `busybox@${DIGEST}` }] } },
    pod("pinned", {}, {}, { image: `docker.io/library/busybox@${DIGEST}` }),
    pod(
      "web",
      { serviceAccountName: "web" },
      { app: "web" },
      {
        image: "registry.example:5000/team/web:1.2",
        env: [{ name: "P", valueFrom: { secretKeyRef: { name: "used", key: "k" } } }],
      },
    ),
    pod("dangling", {}, {}, { image: `busybox@${DIGEST}`, env: [{ name: "P", valueFrom: { secretKeyRef: { name: "nope", key: "k", optional: true } } }] }),
  ];
  for (const body of pods) await core.createNamespacedPod({ namespace: N, body });
  await core.createNamespacedService({ namespace: N, body: { metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ port: 80 }] } } });
  await networking.createNamespacedIngress({
    namespace: N,
    body: {
      metadata: { name: "web" },
      spec: {
        rules: [{ host: "web.example", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { number: 80 } } } }] } }],
      },
    },
  });
  await rbac.createNamespacedRole({
    namespace: N,
    body: { metadata: { name: "web-secrets" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: N,
    body: {
      metadata: { name: "web-secrets" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "web-secrets" },
      subjects: [{ kind: "ServiceAccount", name: "web" }],
    },
  });
  await rbac.createNamespacedRole({ namespace: N, body: { metadata: { name: "wild" }, rules: [{ apiGroups: [""], resources: ["*"], verbs: ["get"] }] } });
  await rbac.createClusterRole({ body: { metadata: { name: names.reader }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list"] }] } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: names.readerBinding },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: names.reader },
      subjects: [{ kind: "ServiceAccount", name: "reader", namespace: N }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: names.admin },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: OPS }],
    },
  });
  await rbac.createClusterRole({ body: { metadata: { name: names.wild }, rules: [{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["*"] }] } });
}, 120_000);

afterAll(async () => {
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  await deleteNamespaces(core, [N]);
  await Promise.all([
    quiet(rbac.deleteClusterRoleBinding({ name: names.readerBinding })),
    quiet(rbac.deleteClusterRoleBinding({ name: names.admin })),
    quiet(rbac.deleteClusterRole({ name: names.reader })),
    quiet(rbac.deleteClusterRole({ name: names.wild })),
  ]);
});

const actors = [
  ...["pod", "secret", "serviceaccount", "service", "ingress", "role", "rolebinding", "configmap"].map((resource) => ({ resource, namespace: N })),
  { resource: "clusterrole" },
  { resource: "clusterrolebinding" },
];

interface JsonFinding {
  rule: string;
  severity: string;
  object: { key: string; label: string; name: string };
  message: string;
  path: string[];
}

const k = (label: string, name: string, namespace: string | null = N): string => (namespace ? `local/${namespace}/${label}/${name}` : `local/${label}/${name}`);
const EXPECTED = [
  ["KO-POD-001", k("Pod", "priv")],
  ["KO-POD-003", k("Pod", "rootfs")],
  ["KO-POD-003", k("Pod", "sock")],
  ["KO-POD-002", k("Pod", "hostnet")],
  ["KO-RBAC-001", k("ServiceAccount", "reader")],
  ["KO-RBAC-002", k("User", OPS, null)],
  ["KO-EXP-001", k("Pod", "web")],
  ["KO-POD-004", k("Pod", "logs")],
  ["KO-RBAC-003", k("ClusterRole", names.wild, null)],
  ["KO-RBAC-003", k("Role", "wild")],
  ["KO-SA-001", k("Pod", "plain")],
  ["KO-IMG-002", k("Pod", "web")],
  ...["hostnet", "logs", "priv", "rootfs", "sock", "web"].map((p) => ["KO-IMG-001", k("Pod", p)]),
  ["KO-REF-001", k("Pod", "dangling")],
  ["KO-SEC-001", k("Secret", "orphan")],
]
  .map(([rule, key]) => `${rule} ${key}`)
  .sort();

const results = new Map<SinkKind, JsonFinding[]>();

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const agent = new AgentProcess(args, env);
  const exit = await agent.exited;
  return { code: exit.code, stdout: agent.stdout, stderr: agent.stderr };
}

describe.each(["sqlite", "neo4j"] as const)("audit on the %s sink", (sink: SinkKind) => {
  it("finds exactly what the fixture holds, each with a path through the graph", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    const ws = workspace(sink, actors);
    await ws.runOnce();
    const run = await cli(["audit", "--config", ws.config, "--format", "json", "--allowed-registry", "docker.io"], ws.env);
    expect(run.code, run.stderr).toBe(0);
    const { findings, failedRules } = JSON.parse(run.stdout) as { findings: JsonFinding[]; failedRules: unknown[] };
    expect(failedRules).toEqual([]);
    const mine = findings.filter((f) => f.object.key.startsWith(`local/${N}/`) || f.object.key.includes(id));
    expect(mine.map((f) => `${f.rule} ${f.object.key}`).sort()).toEqual(EXPECTED);
    // Most severe first.
    const order = ["critical", "high", "medium", "low", "info"];
    expect(findings.map((f) => order.indexOf(f.severity))).toEqual([...findings.map((f) => order.indexOf(f.severity))].sort((a, b) => a - b));
    const find = (rule: string, key: string): JsonFinding => mine.find((f) => f.rule === rule && f.object.key === key)!;
    expect(find("KO-EXP-001", k("Pod", "web")).path).toEqual([
      `Ingress ${N}/web`,
      "-[ROUTES_TO]->",
      `Service ${N}/web`,
      "-[SELECTS]->",
      `Pod ${N}/web`,
      "-[RUNS_AS]->",
      `ServiceAccount ${N}/web`,
      "-[SUBJECT]-",
      `RoleBinding ${N}/web-secrets`,
      "-[GRANTS]->",
      `Role ${N}/web-secrets: apiGroups=[""] resources=[secrets] resourceNames=[] verbs=[get]`,
    ]);
    expect(find("KO-RBAC-001", k("ServiceAccount", "reader")).message).toBe(`ServiceAccount ${N}/reader can list Secrets in every namespace`);
    expect(find("KO-POD-003", k("Pod", "rootfs")).path.at(-1)).toBe("Volume root hostPath=/");
    expect(find("KO-REF-001", k("Pod", "dangling")).path).toEqual([`Pod ${N}/dangling`, "-[USES_SECRET via=env key=k]->", `Secret ${N}/nope`]);
    results.set(sink, mine);
  }, 120_000);
});

describe("audit, the command", () => {
  it("gives both sinks' findings alike", () => {
    expect(results.get("neo4j")).toEqual(results.get("sqlite"));
  });

  it("writes SARIF 2.1.0, gates with --fail-on, filters by severity and rule, and names an unknown rule", async () => {
    const ws = workspace("sqlite", actors);
    await ws.runOnce();
    const sarif = await cli(["audit", "--config", ws.config, "--format", "sarif"], ws.env);
    expect(sarif.code).toBe(0);
    const log = JSON.parse(sarif.stdout) as {
      version: string;
      runs: Array<{
        tool: { driver: { rules: Array<{ id: string }> } };
        results: Array<{ ruleId: string; ruleIndex: number; level: string; locations: unknown[] }>;
      }>;
    };
    expect(log.version).toBe("2.1.0");
    const run = log.runs[0]!;
    expect(run.results.length).toBeGreaterThanOrEqual(EXPECTED.length - 1); // no allow list: no KO-IMG-002
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex]!.id).toBe(r.ruleId);
      expect(["error", "warning", "note"]).toContain(r.level);
      expect(r.locations).toHaveLength(1);
    }
    expect(run.results.some((r) => r.ruleId === "KO-IMG-002")).toBe(false);

    const gate = await cli(["audit", "--config", ws.config, "--min-severity", "critical", "--fail-on", "critical"], ws.env);
    expect(gate.code).toBe(3);
    expect(gate.stdout.split("\n")[0]).toMatch(/^SEVERITY +RULE +OBJECT +FINDING$/);
    expect(gate.stdout).toContain(`CRITICAL  KO-POD-001`);
    expect(gate.stdout).not.toContain("KO-IMG-001");

    const one = await cli(["audit", "--config", ws.config, "--rule", "KO-SEC-001", "--format", "json"], ws.env);
    expect(one.code).toBe(0);
    const only = (JSON.parse(one.stdout) as { findings: JsonFinding[] }).findings;
    expect(new Set(only.map((f) => f.rule))).toEqual(new Set(["KO-SEC-001"]));

    // The config's allow list turns KO-IMG-002 on; --allowed-registry replaces it for one run.
    const allowing = writeConfig(
      { actors, walPath: ws.walPath, sink: { kind: "sqlite", sqlitePath: ws.graphPath }, allowedRegistries: ["registry.example:5000"] },
      mkdtempSync(join(tmpdir(), "ko-audit-allow-")),
    );
    const registries = async (...more: string[]): Promise<string[]> => {
      const run = await cli(["audit", "--config", allowing, "--rule", "KO-IMG-002", "--format", "json", ...more], ws.env);
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as { findings: JsonFinding[] }).findings.filter((f) => f.object.key.startsWith(`local/${N}/`)).map((f) => f.object.key);
    };
    const fromDockerHub = ["priv", "hostnet", "rootfs", "sock", "logs", "plain", "pinned", "dangling"];
    expect((await registries()).sort()).toEqual(fromDockerHub.map((p) => k("Pod", p)).sort());
    expect(await registries("--allowed-registry", "docker.io")).toEqual([k("Pod", "web")]);

    const bad = await cli(["audit", "--config", ws.config, "--rule", "KO-NOPE-9"], ws.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown rule KO-NOPE-9");
  }, 120_000);
});
