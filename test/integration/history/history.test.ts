// The history against the real apiserver and controller-manager, kept by two agents at
// once (the embedded graph's own file; Neo4j with the file beside the WAL): a Job's pod
// that mounted a Secret for a few seconds is in who-uses --between long after it is gone;
// a RoleBinding that existed for a minute has that interval in `history`, and who-can
// --at and graph export --at see it only inside it; the watermarks show the time the
// agent was down as a gap; and the past graph equals the live one where they meet.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind, type Workspace } from "../../support/graph.js";
import { HistoryReader } from "../../../core/history/reader.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const id = randomBytes(4).toString("hex");
const N = `history-${id}`;

const actors = ["pod", "secret", "job", "serviceaccount", "role", "rolebinding"].map((resource) => ({ resource, namespace: N }));
const SINKS: SinkKind[] = ["sqlite", "neo4j"];
const spaces = new Map<SinkKind, Workspace>();
const agents = new Map<SinkKind, AgentProcess>();

async function cli(ws: Workspace, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const agent = new AgentProcess([...args, "--config", ws.config], ws.env);
  const exit = await agent.exited;
  return { code: exit.code, stdout: agent.stdout, stderr: agent.stderr };
}

async function json<T>(ws: Workspace, args: string[]): Promise<T> {
  const run = await cli(ws, [...args, "--json"]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
}

const historyPath = (ws: Workspace): string => (ws.sink === "sqlite" ? ws.graphPath : ws.walPath.replace(/\.sqlite$/, ".history.sqlite"));

async function startAgents(): Promise<void> {
  for (const sink of SINKS) agents.set(sink, spaces.get(sink)!.run());
  await Promise.all([...agents.values()].map((a) => a.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 90_000)));
}

async function stopAgents(): Promise<void> {
  await Promise.all([...agents.values()].map((a) => a.stop()));
  agents.clear();
}

beforeAll(async () => {
  await wipeNeo4j();
  await createNamespace(core, N);
  await core.createNamespacedServiceAccount({ namespace: N, body: { metadata: { name: "auditor" } } });
  await rbac.createNamespacedRole({
    namespace: N,
    body: { metadata: { name: "secret-reader" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] },
  });
  for (const sink of SINKS) spaces.set(sink, workspace(sink, actors, { history: {} }));
  await startAgents();
}, 180_000);

afterAll(async () => {
  await stopAgents();
  await deleteNamespaces(core, [N]);
});

interface PastUsage {
  user: { label: string; key: string; name: string };
  how: Array<{ rel: string; via: string | null }>;
  intervals: Array<{ fromMs: number; toMs: number | null }>;
}

describe("history against the real apiserver", () => {
  const times: Record<string, number> = {};

  it("keeps a Job's short-lived pod that mounted a Secret, long after it is gone", async () => {
    times.start = Date.now();
    await rbac.createNamespacedRoleBinding({
      namespace: N,
      body: {
        metadata: { name: "temporary-access" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
        subjects: [{ kind: "ServiceAccount", name: "auditor", namespace: N }],
      },
    });
    // Made here, removed a minute later by the last test (the tests between fill the minute).
    times.bound = Date.now();

    await core.createNamespacedSecret({ namespace: N, body: { metadata: { name: "job-token" }, stringData: { token: "s3cr3t-value" } } });
    await batch.createNamespacedJob({
      namespace: N,
      body: {
        metadata: { name: "migrate" },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: "Never",
              automountServiceAccountToken: false,
              volumes: [{ name: "token", secret: { secretName: "job-token" } }],
              containers: [{ name: "c", image: "busybox:1.36", volumeMounts: [{ name: "token", mountPath: "/t" }] }],
            },
          },
        },
      },
    });
    // The job controller makes its pod; the agents record it.
    const podName = await eventually(
      "the Job's pod",
      async () => (await core.listNamespacedPod({ namespace: N, labelSelector: "job-name=migrate" })).items[0]?.metadata?.name,
      60_000,
    );
    await eventually("both agents to have seen the pod", async () => {
      for (const ws of spaces.values()) {
        const r = HistoryReader.open(historyPath(ws));
        try {
          if (r.versions(`local/${N}/Pod/${podName}`).length === 0) return undefined;
        } finally {
          r.close();
        }
      }
      return true;
    });
    // Gone a few seconds later: the Job deleted, the garbage collector takes its pod.
    await new Promise((r) => setTimeout(r, 3_000));
    await batch.deleteNamespacedJob({ namespace: N, name: "migrate", propagationPolicy: "Background" });
    await eventually(
      "the pod to be gone",
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: N, labelSelector: "job-name=migrate" })).items;
        // An unscheduled pod goes at once; the job-tracking finalizer is the controller's to lift.
        for (const p of pods)
          if (p.metadata?.deletionTimestamp && p.metadata.finalizers?.length)
            await core
              .patchNamespacedPod({ namespace: N, name: p.metadata.name!, body: [{ op: "remove", path: "/metadata/finalizers" }] })
              .catch(() => undefined);
        return pods.length === 0 ? true : undefined;
      },
      60_000,
    );
    times.podGone = Date.now();

    for (const [sink, ws] of spaces) {
      // The Job's pod, long gone, used the Secret for those seconds.
      const used = await json<{ usages: PastUsage[] }>(ws, [
        "who-uses",
        "secret",
        "job-token",
        "-n",
        N,
        "--between",
        new Date(times.start!).toISOString(),
        new Date().toISOString(),
      ]);
      const pods = used.usages.filter((u) => u.user.label === "Pod");
      expect(
        pods.map((u) => u.user.name),
        sink,
      ).toHaveLength(1);
      expect(pods[0]!.user.name, sink).toMatch(/^migrate-/);
      expect(
        pods[0]!.how.map((h) => h.rel),
        sink,
      ).toEqual(["USES_VOLUME", "BACKED_BY"]);
      const [interval] = pods[0]!.intervals;
      expect(interval!.toMs, sink).not.toBeNull();
      expect(interval!.toMs! - interval!.fromMs, sink).toBeGreaterThan(2_000);
      expect(interval!.toMs! - times.podGone!, sink).toBeLessThan(5_000);
      // Asked about a window after the pod was gone: nobody.
      const later = await json<{ usages: PastUsage[] }>(ws, ["who-uses", "secret", "job-token", "-n", N, "--at", "now"]);
      expect(
        later.usages.filter((u) => u.user.label === "Pod"),
        sink,
      ).toEqual([]);
      // The live graph has no trace of it.
      const live = await json<{ usages: unknown[] }>(ws, ["who-uses", "secret", "job-token", "-n", N]);
      expect(live.usages, sink).toEqual([]);
    }
  }, 300_000);

  it("keeps no Secret value in the history", async () => {
    for (const ws of spaces.values()) {
      const r = HistoryReader.open(historyPath(ws));
      try {
        const lines = [];
        for await (const line of r.at(Date.now()).export()) lines.push(JSON.stringify(line));
        expect(lines.join("\n")).not.toContain("s3cr3t-value");
        expect(lines.join("\n")).not.toContain(Buffer.from("s3cr3t-value").toString("base64"));
      } finally {
        r.close();
      }
    }
  });

  it("shows the time the agent was down as a gap in the watermarks, and the past graph equals the live one now", async () => {
    await stopAgents();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    await startAgents();
    const up = Date.now();
    for (const [sink, ws] of spaces) {
      const scope = `local/${N}/rolebinding`;
      const marks = await eventually(`${sink}: the new interval of coverage`, async () => {
        const m = await json<{
          scopes: Array<{ scope: string; completeFromMs: number; completeToMs: number; gaps: Array<{ fromMs: number; toMs: number; reason: string }> }>;
        }>(ws, ["history", "watermarks"]);
        const s = m.scopes.find((x) => x.scope === scope);
        return s && s.gaps.length >= 1 ? s : undefined;
      });
      const gap = marks.gaps.at(-1)!;
      expect(gap.reason, sink).toBe("start");
      // The gap covers the time the agent was down, and not much more.
      expect(gap.fromMs, sink).toBeLessThanOrEqual(down);
      expect(gap.toMs, sink).toBeGreaterThanOrEqual(down + 3_000);
      expect(gap.toMs, sink).toBeLessThanOrEqual(up);
      expect(down - gap.fromMs, sink).toBeLessThan(15_000);
      // Complete up to (nearly) now once the heartbeat or a change has run.
      expect(marks.completeFromMs, sink).toBe(gap.toMs);

      // The live graph equals the cluster (an independent LIST)...
      const verified = await cli(ws, ["verify", "--settle-seconds", "20"]);
      expect(verified.code, `${sink}: ${verified.stdout}${verified.stderr}`).toBe(0);
      // ...and where they meet, the history's graph is the live graph (less observedAt).
      const live = (await ws.exportLines()).map((l) => {
        if (l.type !== "node") return l;
        const { observedAt: _o, ...properties } = l.properties;
        return { ...l, properties };
      });
      const r = HistoryReader.open(historyPath(ws));
      try {
        const past = [];
        for await (const line of r.at(Date.now() + 60_000).export()) past.push(line);
        expect(past, sink).toEqual(live);
      } finally {
        r.close();
      }
    }
  }, 240_000);

  // The binding was made at the start of the first test; the agents restarted since (the
  // relist finds it unchanged: no version more).
  it("keeps a RoleBinding that existed for one minute (across an agent restart), with who-can and the graph as they were", async () => {
    // The binding lived one minute.
    await new Promise((r) => setTimeout(r, Math.max(0, times.bound + 60_000 - Date.now())));
    await rbac.deleteNamespacedRoleBinding({ namespace: N, name: "temporary-access" });
    times.unbound = Date.now();

    for (const [sink, ws] of spaces) {
      const key = `local/${N}/RoleBinding/temporary-access`;
      // The deletion reaches the history.
      const versions = await eventually(
        `${sink}: the binding's deletion in the history`,
        async () => {
          const v = (
            await json<{ versions: Array<{ fromMs: number; toMs: number | null; fromKind: string; toKind: string | null }> }>(ws, [
              "history",
              "rolebinding",
              "temporary-access",
              "-n",
              N,
            ])
          ).versions;
          return v.at(-1)?.toKind === "deleted" ? v : undefined;
        },
        30_000,
      );
      expect(
        versions.map((v) => [v.fromKind, v.toKind]),
        sink,
      ).toEqual([["created", "deleted"]]);
      const [v] = versions;
      // Observation times: within seconds of the writes, and about a minute apart.
      expect(v!.fromMs - times.start!, sink).toBeGreaterThanOrEqual(-1_000);
      expect(v!.fromMs - times.bound!, sink).toBeLessThan(5_000);
      expect(v!.toMs! - times.unbound!, sink).toBeLessThan(5_000);
      expect(v!.toMs! - v!.fromMs, sink).toBeGreaterThan(55_000);
      expect(v!.toMs! - v!.fromMs, sink).toBeLessThan(70_000);
      // Its edges, with the same interval, in the timeline.
      const timeline = await cli(ws, ["history", "rolebinding", "temporary-access", "-n", N]);
      expect(timeline.code, timeline.stderr).toBe(0);
      expect(timeline.stdout).toContain(key);
      expect(timeline.stdout).toMatch(/created\n/);
      expect(timeline.stdout).toMatch(/\+SUBJECT to ServiceAccount .*\/auditor/);
      expect(timeline.stdout).toMatch(/-SUBJECT to ServiceAccount .*\/auditor/);
      expect(timeline.stdout).toMatch(/\+GRANTS to Role .*\/secret-reader/);
      expect(timeline.stdout).toMatch(/ deleted\n/);

      // who-can, then and after.
      const mid = new Date(v!.fromMs + 30_000).toISOString();
      const after = new Date(v!.toMs! + 1_000).toISOString();
      const whoCanAt = async (at: string) =>
        (await json<{ serviceAccounts: Array<{ account: { name: string } }> }>(ws, ["who-can", "get", "secrets", "-n", N, "--at", at])).serviceAccounts.map(
          (a) => a.account.name,
        );
      expect(await whoCanAt(mid), sink).toContain("auditor");
      expect(await whoCanAt(after), sink).not.toContain("auditor");
      // The graph as it was.
      const exportAt = async (at: string) => {
        const run = await cli(ws, ["graph", "export", "--at", at]);
        expect(run.code, run.stderr).toBe(0);
        return run.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { type: string; key?: string });
      };
      expect(
        (await exportAt(mid)).some((l) => l.key === key),
        sink,
      ).toBe(true);
      expect(
        (await exportAt(after)).some((l) => l.key === key),
        sink,
      ).toBe(false);
    }
  }, 180_000);
});
