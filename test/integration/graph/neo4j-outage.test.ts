// Neo4j stopped for 30 s while objects change: the agent keeps running, the WAL holds
// the changes, and once Neo4j is back the graph converges to the cluster.
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { startServerAgain, stopServer } from "../../../scripts/devenv/env.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { expectedExport } from "../../support/expected.js";
import { normalise, waitForGraph, wipeNeo4j, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("neo4j-outage");
let agent: AgentProcess | undefined;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [ns]);
});

describe("a Neo4j outage", () => {
  it("is ridden out in the WAL, and the graph converges when Neo4j returns", async () => {
    await wipeNeo4j();
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "before" }, data: { a: "b" } } });
    const ws = workspace(
      "neo4j",
      ["configmap", "secret"].map((resource) => ({ resource, namespace: ns })),
      { backoff: { initialMs: 200, maxMs: 2000 } },
    );
    agent = ws.run();
    const a = agent;
    await waitForGraph(ws, "the first ConfigMap in Neo4j", (l) =>
      l.some((x) => x.type === "node" && x.key === `local/${ns}/ConfigMap/before`) ? true : undefined,
    );

    await stopServer("neo4j");
    const outageStarted = Date.now();
    try {
      for (let i = 0; i < 20; i += 1) {
        await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `during-${i}` }, data: { i: String(i) } } });
        await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `s-${i}` }, stringData: { k: "v" } } });
      }
      await core.deleteNamespacedConfigMap({ namespace: ns, name: "before" });
      await a.waitForLog("the sink failure to be reported", (l) => l.msg === "graph sink failed; retrying (messages stay in the WAL)", 30_000);
      // The WAL holds what the sink could not take.
      const status = new AgentProcess(["wal", "status", "--config", ws.config, "--json"]);
      await status.exited;
      const report = JSON.parse(status.stdout) as { depth: number };
      expect(report.depth).toBeGreaterThanOrEqual(41);
      const remaining = 30_000 - (Date.now() - outageStarted);
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
      expect(a.exited).not.toBeUndefined();
      expect(await Promise.race([a.exited.then(() => "exited"), Promise.resolve("running")])).toBe("running");
    } finally {
      await startServerAgain("neo4j");
    }
    await a.waitForLog("the sink to be back", (l) => l.msg === "graph sink is back", 60_000);
    const expected = normalise(
      await expectedExport(
        "local",
        ["configmap", "secret"].map((resource) => ({ resource, namespace: ns })),
      ),
      ["observedAt"],
    );
    await waitForGraph(
      ws,
      "the graph to equal the cluster",
      (lines) => (JSON.stringify(normalise(lines, ["observedAt"])) === JSON.stringify(expected) ? true : undefined),
      60_000,
    );
  }, 240_000);
});
