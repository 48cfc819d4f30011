// The audit while the cluster changes: `run --audit` logs each finding the moment it
// appears or clears, naming the change that caused it, and exports the counts on /metrics
// (both sinks); `audit --watch` beside a running agent streams the same changes.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { LogLine } from "../../support/agent.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const id = randomBytes(4).toString("hex");
const N = `audit-live-${id}`;
const bindings: string[] = [];

beforeAll(async () => {
  await createNamespace(core, N);
  await core.createNamespacedServiceAccount({ namespace: N, body: { metadata: { name: "lister" } } });
  await core.createNamespacedSecret({ namespace: N, body: { metadata: { name: "unused" }, stringData: { k: "v" } } });
  await rbac.createClusterRole({
    body: { metadata: { name: `ko-${id}-list-secrets` }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list"] }] },
  });
}, 60_000);

afterAll(async () => {
  await deleteNamespaces(core, [N]);
  await Promise.all([
    ...bindings.map((name) => rbac.deleteClusterRoleBinding({ name }).catch(() => undefined)),
    rbac.deleteClusterRole({ name: `ko-${id}-list-secrets` }).catch(() => undefined),
  ]);
});

const actors = [
  ...["pod", "serviceaccount", "secret", "role", "rolebinding"].map((resource) => ({ resource, namespace: N })),
  { resource: "clusterrole" },
  { resource: "clusterrolebinding" },
];
const privileged = (name: string): k8s.V1Pod => ({
  metadata: { name },
  spec: { automountServiceAccountToken: false, containers: [{ name: "c", image: `busybox@sha256:${"ab".repeat(32)}`, securityContext: { privileged: true } }] },
});
const finding = (change: "appeared" | "cleared", rule: string, object: string) => (l: LogLine) =>
  l.msg.startsWith(`finding ${change}:`) && l.rule === rule && l.object === object;

async function metric(base: string, rule: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`kube_observer_findings{rule="${rule}",`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe.each(["sqlite", "neo4j"] as const)("run --audit on the %s sink", (sink: SinkKind) => {
  it("logs findings as they appear and clear, with the change that caused them, and counts them on /metrics", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    // The config's allow list names another registry: the pod's docker.io image is a finding.
    const ws = workspace(sink, actors, { allowedRegistries: ["registry.example.com:5000"] });
    const agent = ws.run(["--audit", "--listen", "127.0.0.1:0"]);
    try {
      const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
      const base = `http://${String(listening.listen)}`;
      await agent.waitForLog("the audit's start summary", (l) => l.msg === "audit: findings in the graph at start", 90_000);
      expect(await metric(base, "KO-POD-001")).toBe(0);

      const pod = `priv-${sink}`;
      await core.createNamespacedPod({ namespace: N, body: privileged(pod) });
      const appeared = await agent.waitForLog("the privileged pod's finding", finding("appeared", "KO-POD-001", `Pod ${N}/${pod}`), 30_000);
      expect(appeared.severity).toBe("critical");
      expect((appeared.cause as string[]).join()).toMatch(new RegExp(`^Applied Pod ${N}/${pod} \\(resourceVersion \\d+\\)$`));
      const registry = await agent.waitForLog("the image registry finding", finding("appeared", "KO-IMG-002", `Pod ${N}/${pod}`), 30_000);
      expect(registry.msg).toContain("registry docker.io is not allowed");
      await eventually("the findings gauge", async () => ((await metric(base, "KO-POD-001")) === 1 ? true : undefined), 10_000);

      // An RBAC change arms an account: the finding names the binding that did it.
      const binding = `ko-${id}-lister-${sink}`;
      bindings.push(binding);
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: binding },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `ko-${id}-list-secrets` },
          subjects: [{ kind: "ServiceAccount", name: "lister", namespace: N }],
        },
      });
      const armed = await agent.waitForLog("the Secret reader's finding", finding("appeared", "KO-RBAC-001", `ServiceAccount ${N}/lister`), 30_000);
      expect((armed.cause as string[]).join()).toContain(`Applied ClusterRoleBinding ${binding}`);
      expect(armed.path).toContain(`ClusterRoleBinding ${binding} -[GRANTS]-> ClusterRole ko-${id}-list-secrets`);

      await core.deleteNamespacedPod({ namespace: N, name: pod, gracePeriodSeconds: 0 });
      const cleared = await agent.waitForLog("the pod's finding to clear", finding("cleared", "KO-POD-001", `Pod ${N}/${pod}`), 30_000);
      expect((cleared.cause as string[]).join()).toContain(`Deleted Pod ${N}/${pod}`);
      await rbac.deleteClusterRoleBinding({ name: binding });
      await agent.waitForLog("the reader's finding to clear", finding("cleared", "KO-RBAC-001", `ServiceAccount ${N}/lister`), 30_000);
      await eventually("the gauge to drop", async () => ((await metric(base, "KO-POD-001")) === 0 ? true : undefined), 10_000);
      // Each appeared exactly once.
      expect(agent.logs.filter(finding("appeared", "KO-POD-001", `Pod ${N}/${pod}`))).toHaveLength(1);
    } finally {
      await agent.stop();
    }
  }, 240_000);
});

describe("audit --watch", () => {
  it("beside a running agent, prints the findings, then each change with its cause, and stops on SIGTERM", async () => {
    const ws = workspace("sqlite", actors);
    const agent = ws.run();
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 90_000);
    const watch = new AgentProcess(["audit", "--watch", "--format", "json", "--interval-seconds", "0.2", "--config", ws.config]);
    try {
      type Line = { change: string; finding: { rule: string; object: { key: string } }; cause?: string[] };
      const lines = (): Line[] =>
        watch.stdout
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Line);
      const pod = "watched";
      // The findings already there come first, as "present" (the unused Secret below is one).
      await watch.waitFor("the watch's first read", () => lines().find((l) => l.change === "present"), 30_000);
      await core.createNamespacedPod({ namespace: N, body: privileged(pod) });
      const key = `local/${N}/Pod/${pod}`;
      const appeared = await watch.waitFor(
        "the watch's line",
        () => lines().find((l) => l.change === "appeared" && l.finding.rule === "KO-POD-001" && l.finding.object.key === key),
        30_000,
      );
      expect(appeared.cause?.join()).toContain(`Pod ${N}/${pod}`);
      await core.deleteNamespacedPod({ namespace: N, name: pod, gracePeriodSeconds: 0 });
      await watch.waitFor("the clear line", () => lines().find((l) => l.change === "cleared" && l.finding.object.key === key), 30_000);
      watch.signal("SIGTERM");
      expect((await watch.exited).code).toBe(0);
    } finally {
      await watch.stop();
      await agent.stop();
    }
  }, 180_000);
});
