// SIGTERM, as Kubernetes sends it: the agent delivers what its WAL holds and exits within
// the grace period, losing nothing — with a healthy sink (the WAL is drained) and with the
// sink down (the WAL keeps everything for the next start, which completes the graph).
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { startServerAgain, stopServer } from "../../../scripts/devenv/env.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, forEachLimited, uniqueName } from "../../support/cluster.js";
import { expectedExport } from "../../support/expected.js";
import { normalise, waitForGraph, wipeNeo4j, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];

afterAll(async () => {
  await deleteNamespaces(core, namespaces);
});

async function walDepth(ws: Workspace): Promise<number> {
  const status = new AgentProcess(["wal", "status", "--config", ws.config, "--json"], ws.env);
  await status.exited;
  return (JSON.parse(status.stdout) as { depth: number }).depth;
}

/** SIGTERM; resolves with the exit and how long it took. */
async function terminate(agent: AgentProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number }> {
  const started = Date.now();
  agent.signal("SIGTERM");
  const exit = await agent.exited;
  return { ...exit, seconds: (Date.now() - started) / 1000 };
}

async function converges(ws: Workspace, ns: string): Promise<void> {
  const expected = normalise(await expectedExport("local", [{ resource: "configmap", namespace: ns }]), ["observedAt"]);
  expect(expected.length).toBeGreaterThan(100);
  await waitForGraph(
    ws,
    "the graph to equal the cluster",
    (lines) => (JSON.stringify(normalise(lines, ["observedAt"])) === JSON.stringify(expected) ? true : undefined),
    90_000,
  );
}

describe("SIGTERM", () => {
  it("with a healthy sink: commits what the WAL holds and exits within the grace period", async () => {
    const ns = uniqueName("sigterm");
    namespaces.push(ns);
    await createNamespace(core, ns);
    const ws = workspace("sqlite", [{ resource: "configmap", namespace: ns }]);
    const agent = ws.run(["--grace-seconds", "10"]);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    // A burst, and SIGTERM as soon as it is written: observers and the sink are busy.
    await forEachLimited(
      Array.from({ length: 300 }, (_, i) => i),
      25,
      (i) => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm-${i}` }, data: { i: String(i) } } }),
    );
    const exit = await terminate(agent);
    expect(exit.code).toBe(0);
    expect(exit.seconds).toBeLessThan(10 + 3);
    // Everything the observers handed over was committed before the exit.
    expect(await walDepth(ws)).toBe(0);
    const stopped = agent.logs.find((l) => l.msg === "stopped");
    expect(Number(stopped?.messages)).toBeGreaterThan(0);
    // What was still on its way from the apiserver is listed again at the next start.
    const again = ws.run();
    try {
      await converges(ws, ns);
    } finally {
      await again.stop();
    }
  }, 240_000);

  it("with the sink down: exits within the grace period, not after its retry backoff, and keeps everything in the WAL", async () => {
    await wipeNeo4j();
    const ns = uniqueName("sigterm-down");
    namespaces.push(ns);
    await createNamespace(core, ns);
    // A long backoff: the shutdown must cut it short.
    const ws = workspace("neo4j", [{ resource: "configmap", namespace: ns }], { backoff: { initialMs: 30_000, maxMs: 60_000 } });
    const agent = ws.run(["--grace-seconds", "3"]);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    await stopServer("neo4j");
    try {
      await forEachLimited(
        Array.from({ length: 150 }, (_, i) => i),
        25,
        (i) => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `down-${i}` }, data: { i: String(i) } } }),
      );
      await agent.waitForLog("the sink failure", (l) => l.msg === "graph sink failed; retrying (messages stay in the WAL)", 60_000);
      const exit = await terminate(agent);
      expect(exit.code).toBe(0);
      // 3 s of grace, plus at most one transaction's retry window (5 s) already under way.
      expect(exit.seconds).toBeLessThan(3 + 5 + 3);
      expect(agent.logs.some((l) => l.msg === "shutdown grace period over: the rest stays in the WAL for the next start")).toBe(true);
      expect(await walDepth(ws)).toBeGreaterThanOrEqual(150);
    } finally {
      await startServerAgain("neo4j");
    }
    const again = ws.run();
    try {
      await converges(ws, ns);
      // The replayed WAL completed the graph; the relist's own messages follow it in.
      await eventually("the WAL to drain", async () => ((await walDepth(ws)) === 0 ? true : undefined), 60_000);
    } finally {
      await again.stop();
    }
  }, 300_000);
});
