// Neo4j down when the agent starts: the agent starts anyway, observes into the WAL and
// says on /readyz why it is not ready; when Neo4j comes up, the sink is opened (storage
// version checked, constraints made, writer registered) before anything is applied, and
// the WAL drains into it until the graph equals the cluster. What Neo4j says once it
// answers still decides: a graph written by a newer kube-observer stops the agent (exit 2).
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import neo4j from "neo4j-driver";
import { startServerAgain, stopServer } from "../../../scripts/devenv/env.js";
import { GRAPH_SCHEMA_VERSION } from "../../../core/graph/schema-version.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, neo4jDriver, uniqueName } from "../../support/cluster.js";
import { expectedExport } from "../../support/expected.js";
import { normalise, waitForGraph, wipeNeo4j, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, namespaces);
  await wipeNeo4j();
});

const DOES_NOT_ANSWER = "graph sink does not answer at start-up: observing into the WAL, not ready; delivered once the sink answers";

async function walDepth(config: string): Promise<number> {
  const status = new AgentProcess(["wal", "status", "--config", config, "--json"]);
  await status.exited;
  return (JSON.parse(status.stdout) as { depth: number }).depth;
}

describe("Neo4j down when the agent starts", () => {
  it("the agent observes into the WAL, is not ready, and drains into Neo4j once it starts", async () => {
    await wipeNeo4j();
    const ns = uniqueName("neo4j-late");
    namespaces.push(ns);
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "before" }, data: { a: "b" } } });
    const scopes = ["configmap", "secret"].map((resource) => ({ resource, namespace: ns }));
    const ws = workspace("neo4j", scopes, { backoff: { initialMs: 200, maxMs: 2000 } });

    await stopServer("neo4j");
    let a: AgentProcess;
    try {
      a = ws.run(["--listen", "127.0.0.1:0"]);
      agents.push(a);
      const base = `http://${String((await a.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000)).listen)}`;
      const down = await a.waitForLog("the sink reported down", (l) => l.msg === DOES_NOT_ANSWER, 60_000);
      expect(String(down.err)).toContain("is unavailable");
      await a.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
      for (let i = 0; i < 5; i += 1)
        await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `during-${i}` }, data: { i: String(i) } } });
      for (let i = 0; i < 2; i += 1) await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `s-${i}` }, stringData: { k: "v" } } });
      await core.deleteNamespacedConfigMap({ namespace: ns, name: "before" });

      const notReady = await eventually("/readyz to say why", async () => {
        const response = await fetch(`${base}/readyz`);
        const body = await response.text();
        return response.status === 503 && body.includes("the graph sink has not answered since start-up") ? body : undefined;
      });
      expect(notReady).toContain("the graph sink does not answer");
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^kube_observer_sink_open 0$/m);
      // The lists (kube-root-ca.crt, "before", two boundaries) and the changes since; the
      // delete of "before" replaces its pending Applied (the WAL coalesces per object).
      await eventually("the WAL to hold what was observed", async () => ((await walDepth(ws.config)) === 11 ? true : undefined), 30_000);
      expect(a.logs.some((l) => l.msg === "graph sink could not be opened")).toBe(false);
    } finally {
      await startServerAgain("neo4j");
    }
    await a.waitForLog("the sink to open", (l) => l.msg === "graph sink answers: opened; delivering what the WAL holds", 120_000);
    const expected = normalise(await expectedExport("local", scopes), ["observedAt"]);
    await waitForGraph(
      ws,
      "the graph to equal the cluster",
      (lines) => (JSON.stringify(normalise(lines, ["observedAt"])) === JSON.stringify(expected) ? true : undefined),
      60_000,
    );
    expect(await walDepth(ws.config)).toBe(0);
    // Opened properly before the first apply: stamped with this version, registered as the writer.
    const driver = neo4jDriver();
    try {
      const meta = await driver.executeQuery("MATCH (m:KoMeta {id: 'graph'}) RETURN m.schemaVersion AS v");
      expect(meta.records.map((r) => Number(r.get("v")))).toEqual([GRAPH_SCHEMA_VERSION]);
      const writers = await driver.executeQuery("MATCH (w:KoWriter) RETURN w.cluster AS cluster");
      expect(writers.records.map((r) => r.get("cluster"))).toEqual(["local"]);
    } finally {
      await driver.close();
    }
    const base = `http://${String(a.logs.find((l) => l.msg === "HTTP endpoint listening")!.listen)}`;
    await eventually("ready", async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 60_000);
    expect((await a.stop()).code).toBe(0);
  }, 300_000);

  it("stops with exit code 2, writing nothing, when Neo4j answers at last with a graph of a newer kube-observer", async () => {
    await wipeNeo4j();
    const admin = neo4jDriver();
    try {
      await admin.executeQuery("CREATE (:KoMeta {id: 'graph', schemaVersion: $v})", { v: neo4j.int(GRAPH_SCHEMA_VERSION + 1) });
    } finally {
      await admin.close();
    }
    const ns = uniqueName("neo4j-newer");
    namespaces.push(ns);
    await createNamespace(core, ns);
    const ws = workspace("neo4j", [{ resource: "configmap", namespace: ns }], { backoff: { initialMs: 200, maxMs: 2000 } });
    await stopServer("neo4j");
    let a: AgentProcess;
    try {
      a = ws.run();
      agents.push(a);
      await a.waitForLog("the sink reported down", (l) => l.msg === DOES_NOT_ANSWER, 60_000);
    } finally {
      await startServerAgain("neo4j");
    }
    const exit = await Promise.race([a.exited, new Promise<"running">((r) => setTimeout(() => r("running"), 120_000))]);
    expect(exit, a.logTail()).toMatchObject({ code: 2 });
    const refused = a.logs.find((l) => l.msg === "graph sink answered and refused this agent: stopping");
    expect(String(refused?.err)).toContain("written by a newer kube-observer");
    const driver = neo4jDriver();
    try {
      expect((await driver.executeQuery("MATCH (n:Entity) RETURN count(n) AS n")).records[0]!.get("n").toNumber()).toBe(0);
    } finally {
      await driver.close();
    }
  }, 300_000);
});
