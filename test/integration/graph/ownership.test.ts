// One agent per WAL, per embedded graph and per (cluster, Neo4j database): a second agent
// is refused at once with exit code 2 and an error naming the file (or cluster) and the
// holder; read-only commands keep working beside the live agent, whose graph stays
// complete; SIGKILL frees the lock. And no silent paths: a failed WAL append or ack is
// logged, counted and reflected in once mode's exit code, and loses nothing.
import { hostname } from "node:os";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess, writeConfig, type ActorSpec } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, devEnv, forEachLimited, uniqueName } from "../../support/cluster.js";
import { expectedExport } from "../../support/expected.js";
import { normalise, waitForGraph, wipeNeo4j, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("own");
const CONFIGMAPS = 30;
const actors: ActorSpec[] = [
  { resource: "configmap", namespace: ns },
  { resource: "serviceaccount", namespace: ns },
];
const scopes = [
  { resource: "configmap", namespace: ns },
  { resource: "serviceaccount", namespace: ns },
];
const running: AgentProcess[] = [];

beforeAll(async () => {
  await createNamespace(core, ns);
  await forEachLimited(
    Array.from({ length: CONFIGMAPS }, (_, i) => i),
    8,
    (i) => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm-${i}` }, data: { v: String(i) } } }),
  );
});

afterAll(async () => {
  await Promise.all(running.map((a) => a.stop(5_000)));
  await deleteNamespaces(core, [ns]);
});

function start(ws: Workspace, args: string[] = [], env: Record<string, string> = {}): AgentProcess {
  const agent = ws.run(args, env);
  running.push(agent);
  return agent;
}

/** `kube-observer verify` (graph against an independent LIST) says the graph is complete. */
async function expectVerified(ws: Workspace): Promise<void> {
  const verify = await cli(["verify", "--config", ws.config, "--settle-seconds", "30", "--json"], ws.env);
  const report = JSON.parse(verify.stdout) as { equal: boolean; verdict: string; objects: number };
  expect(report.verdict).toMatch(/^graph equals the cluster/);
  expect(report.objects).toBeGreaterThan(CONFIGMAPS);
  expect(verify.code).toBe(0);
}

/** The graph equals what a direct LIST implies (the agent keeps delivering meanwhile). */
async function expectComplete(ws: Workspace): Promise<void> {
  let expected = normalise(await expectedExport("local", scopes));
  await waitForGraph(
    ws,
    "the graph to equal the cluster",
    (lines) => (JSON.stringify(normalise(lines)) === JSON.stringify(expected) ? true : undefined),
    60_000,
    async () => {
      expected = normalise(await expectedExport("local", scopes));
    },
  );
}

function refusal(agent: AgentProcess): string {
  const line = agent.logs.find((l) => l.msg === "refusing to start");
  expect(line, agent.logTail()).toBeDefined();
  return String(line!.err);
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; agent: AgentProcess }> {
  const agent = new AgentProcess(args, env);
  const exit = await agent.exited;
  return { code: exit.code, stdout: agent.stdout, agent };
}

describe("one agent per WAL and per embedded graph", () => {
  it("refuses a second agent on the same WAL or graph file, keeps readers working, and frees the lock on SIGKILL", async () => {
    const ws = workspace("sqlite", actors);
    const a = start(ws);
    await a.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);

    // The same config: the same WAL (and graph).
    const started = Date.now();
    const sameWal = start(ws, ["--once"]);
    expect((await sameWal.exited).code).toBe(2);
    expect(Date.now() - started).toBeLessThan(15_000);
    const walError = refusal(sameWal);
    expect(walError).toContain(`the WAL ${ws.walPath} is in use`);
    expect(walError).toContain(`pid ${a.pid} on host ${hostname()}`);
    expect(walError).toContain("wal.path");

    // Another WAL, the same embedded graph.
    const other = mkdtempSync(join(tmpdir(), "kube-observer-own-"));
    const sameGraph = writeConfig({ actors, walPath: join(other, "wal.sqlite"), sink: { kind: "sqlite", sqlitePath: ws.graphPath } }, other);
    const graphAgent = new AgentProcess(["run", "--config", sameGraph, "--once"]);
    running.push(graphAgent);
    expect((await graphAgent.exited).code).toBe(2);
    const graphError = refusal(graphAgent);
    expect(graphError).toContain(`the embedded graph ${ws.graphPath} is in use`);
    expect(graphError).toContain(`pid ${a.pid}`);
    expect(graphError).toContain("sink.sqlitePath");

    // Read-only commands work beside the live agent.
    const status = await cli(["wal", "status", "--config", ws.config, "--json"]);
    expect(status.code).toBe(0);
    const holder = (JSON.parse(status.stdout) as { holder: { pid: number; host: string; live: boolean } }).holder;
    expect(holder).toMatchObject({ pid: a.pid, host: hostname(), live: true });
    const stats = await cli(["graph", "stats", "--config", ws.config, "--json"]);
    expect(stats.code).toBe(0);
    expect((JSON.parse(stats.stdout) as { nodes: Record<string, number> }).nodes.ConfigMap).toBeGreaterThanOrEqual(CONFIGMAPS);
    const whoUses = await cli(["who-uses", "configmap", "cm-1", "-n", ns, "--config", ws.config]);
    expect(whoUses.code, whoUses.agent.logTail()).toBe(0);

    // The live agent lost nothing to the refused ones, and keeps following the cluster.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after-refusals" } } });
    await expectComplete(ws);
    await expectVerified(ws);

    // SIGKILL: the kernel drops the lock with the process; the next start succeeds, and
    // proves its own graph complete.
    a.signal("SIGKILL");
    await a.exited;
    const next = start(ws, ["--once", "--verify"]);
    expect((await next.exited).code, next.logTail()).toBe(0);
    expect(next.stdout).toMatch(/graph equals the cluster/);
    const after = JSON.parse((await cli(["wal", "status", "--config", ws.config, "--json"])).stdout) as { holder: { pid: number; live: boolean } };
    expect(after.holder).toMatchObject({ pid: next.pid, live: false });
  });
});

describe("one writer per cluster in a Neo4j database", () => {
  it("refuses a second live writer of the same cluster, lets a restart on the same WAL take over at once, and expires a dead writer's lease", async () => {
    await wipeNeo4j();
    const lease = { sink: { kind: "neo4j" as const, uri: devEnv().neo4j.boltUrl, writerLeaseSeconds: 4 } };
    const wsA = workspace("neo4j", actors, lease);
    const wsB = workspace("neo4j", actors, lease);
    const a = start(wsA);
    await a.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);

    const b = start(wsB, ["--once"]);
    expect((await b.exited).code).toBe(2);
    const error = refusal(b);
    expect(error).toContain("is already written by another live kube-observer agent");
    expect(error).toContain(`cluster "local"`);
    expect(error).toContain(`pid ${a.pid} on host ${hostname()}`);
    // B wrote nothing: A's graph is whole and current.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "neo4j-after-refusal" } } });
    await expectComplete(wsA);
    await expectVerified(wsA);

    // Killed: its registration stays until the lease runs out, but the same WAL (a
    // restarted pod on its volume) takes it back at once.
    a.signal("SIGKILL");
    await a.exited;
    const restarted = start(wsA, ["--once"]);
    expect((await restarted.exited).code, restarted.logTail()).toBe(0);
    // A clean exit released it: B starts at once.
    const bAgain = start(wsB, ["--once"]);
    expect((await bAgain.exited).code, bAgain.logTail()).toBe(0);

    // A dead writer with another WAL: refused until its lease expires, then admitted.
    const c = start(wsA);
    await c.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    c.signal("SIGKILL");
    await c.exited;
    const killedAt = Date.now();
    let admittedAfterMs: number | undefined;
    while (admittedAfterMs === undefined && Date.now() - killedAt < 30_000) {
      const attempt = start(wsB, ["--once"]);
      const code = (await attempt.exited).code;
      if (code === 0) admittedAfterMs = Date.now() - killedAt;
      else expect(code, attempt.logTail()).toBe(2);
    }
    expect(admittedAfterMs).toBeDefined();
    expect(admittedAfterMs!).toBeLessThan((4 + 10) * 1000);
    await expectComplete(wsB);
  });
});

describe("no silent paths", () => {
  it("a failed WAL append makes once exit 1 and is logged and counted; a live agent appends the batch again and loses nothing", async () => {
    const ws = workspace("sqlite", actors);
    const once = start(ws, ["--once"], { KUBE_OBSERVER_FAILPOINTS: "wal.before-append=1:throw" });
    expect((await once.exited).code).toBe(1);
    expect(once.logs.some((l) => l.msg.startsWith("WAL append failed") && String(l.err).includes("injected failure"))).toBe(true);
    const summary = once.logs.find((l) => String(l.msg).startsWith("once: incomplete"));
    expect(summary, once.logTail()).toMatchObject({ walAppendFailures: 1 });
    expect(Number(summary!.failed)).toBeGreaterThanOrEqual(1);

    const live = start(ws, [], { KUBE_OBSERVER_FAILPOINTS: "wal.before-append=2:throw" });
    await live.waitForLog("the append failure", (l) => l.msg.startsWith("WAL append failed: the batch is held"), 60_000);
    await live.waitForLog("the retried append", (l) => l.msg === "WAL appends succeed again: observers resume", 60_000);
    await expectComplete(ws);
    await live.stop();
  });

  it("a failed ack is logged, counted and retried: once exits 1 though the graph is complete", async () => {
    const ws = workspace("sqlite", actors);
    const once = start(ws, ["--once"], { KUBE_OBSERVER_FAILPOINTS: "dispatcher.before-ack=1:throw" });
    expect((await once.exited).code).toBe(1);
    expect(once.logs.some((l) => l.msg.startsWith("WAL ack failed"))).toBe(true);
    expect(once.logs.find((l) => String(l.msg).startsWith("once: incomplete"))).toMatchObject({ walAckFailures: 1, leftInWal: 0, failed: 0 });
    await expectComplete(ws);
  });
});
