// A third-party plugin whose toGraph loops forever on some objects (test/fixtures/plugins/
// loop: ConfigMaps named "loop-*"), against the real apiserver: the agent keeps running,
// /healthz and /metrics answer while the loops are being interrupted, exactly the looping
// messages are parked (wal status), every other object lands, and verify finishes.
import { resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, repoRoot } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { nodesOf, waitForGraph, workspace } from "../../support/graph.js";
import { sample } from "../../support/metrics.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, namespaces);
});

const LOOPS = ["loop-1", "loop-2", "loop-3", "loop-4", "loop-5", "loop-6"];
const CANARY = "LOOP-CONTENT-CANARY";

describe("a plugin whose graph function never returns", () => {
  it("is interrupted per object: the agent and its endpoints keep going, the looping messages are parked, the rest lands", async () => {
    const ns = uniqueName("budget");
    namespaces.push(ns);
    await createNamespace(core, ns);
    // Listed before the agent starts: the looping objects reach the dispatcher together.
    for (const name of ["fine-1", "fine-2", ...LOOPS]) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { [`${CANARY}-key`]: `${CANARY}-value` } } });
    }
    const budgetMs = 600;
    const ws = workspace(
      "sqlite",
      [
        { resource: "configmap", namespace: ns },
        { resource: "loop", namespace: ns },
      ],
      {
        pluginDirs: [resolve(repoRoot, "test/fixtures/plugins/loop")],
        pluginBudgetMs: budgetMs,
      },
    );
    const agent = ws.run(["--listen", "127.0.0.1:0"]);
    agents.push(agent);
    const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
    const base = `http://${String(listening.listen)}`;
    const scrape = async (): Promise<number> => {
      const response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      return sample(await response.text(), "kube_observer_plugin_budget_exceeded_total", { plugin: "loop" }) ?? 0;
    };

    // Probe while the loops are interrupted one by one: a /healthz answered between two
    // scrapes that both show the overruns under way was answered in the middle of them.
    let answeredMidway = 0;
    let healthz = 0;
    for (let overruns = 0, deadline = Date.now() + 90_000; overruns < LOOPS.length; ) {
      expect(Date.now(), `overruns seen: ${overruns}\n${agent.logTail()}`).toBeLessThan(deadline);
      const before = await scrape();
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      healthz += 1;
      overruns = await scrape();
      if (before >= 1 && overruns < LOOPS.length) answeredMidway += 1;
    }
    expect(healthz).toBeGreaterThan(0);
    expect(answeredMidway, "no /healthz answered while the overruns were under way").toBeGreaterThan(0);

    // Every object but the looping ones' LoopConfig nodes lands; a later one too.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "fine-later" }, data: { a: "b" } } });
    const keys = await waitForGraph(
      ws,
      "every other object",
      (lines) => {
        const k = nodesOf(lines).map((n) => n.key);
        return k.includes(`local/${ns}/LoopConfig/fine-later`) && k.includes(`local/${ns}/ConfigMap/fine-later`) ? k : undefined;
      },
      60_000,
    );
    const names = ["fine-1", "fine-2", "fine-later", "kube-root-ca.crt"];
    for (const name of [...names, ...LOOPS]) expect(keys).toContain(`local/${ns}/ConfigMap/${name}`);
    expect(keys.filter((k) => k.startsWith(`local/${ns}/LoopConfig/`)).sort()).toEqual(names.map((n) => `local/${ns}/LoopConfig/${n}`).sort());

    // Counted and reported: the metric, each park, and the plugin that keeps overrunning.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(sample(metrics, "kube_observer_plugin_budget_exceeded_total", { plugin: "loop" })).toBe(LOOPS.length);
    expect(sample(metrics, "kube_observer_errors_total", { where: "plugin", kind: "loop" })).toBe(LOOPS.length);
    expect(sample(metrics, "kube_observer_wal_parked")).toBe(LOOPS.length);
    const parkedLogs = agent.logs.filter((l) => l.msg === "message parked");
    expect(parkedLogs.map((l) => `${String(l.plugin)} ${String(l.name)}`).sort()).toEqual(LOOPS.map((n) => `loop ${n}`));
    const repeated = agent.logs.filter((l) => typeof l.msg === "string" && l.msg.startsWith("plugin keeps exceeding its time budget"));
    expect(repeated.map((l) => l.overruns)).toEqual([2, 4]);
    expect(agent.stderr).not.toContain(CANARY);

    // Still running and still answering.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await agent.stop();

    const status = new AgentProcess(["wal", "status", "--config", ws.config, "--json"]);
    agents.push(status);
    expect((await status.exited).code).toBe(0);
    const report = JSON.parse(status.stdout) as { depth: number; parked: number; parkedMessages: Array<{ plugin: string; name: string; error: string }> };
    expect(report.depth).toBe(0);
    expect(report.parked).toBe(LOOPS.length);
    for (const p of report.parkedMessages) {
      expect(p).toMatchObject({
        plugin: "loop",
        error: `plugin "loop" toGraph exceeded its time budget of ${budgetMs} ms on ConfigMap ${ns}/${p.name} (loop.mjs) and was interrupted`,
      });
    }
    expect(report.parkedMessages.map((p) => p.name).sort()).toEqual(LOOPS);
    expect(status.stdout).not.toContain(CANARY);

    // verify holds the plugin to the same budget: it finishes, the looping objects untranslatable.
    const verify = new AgentProcess(["verify", "--config", ws.config, "--json", "--settle-seconds", "0"]);
    agents.push(verify);
    expect((await verify.exited).code, verify.stderr).toBe(1); // not equal: untranslatable objects
    const untranslatable = (JSON.parse(verify.stdout) as { untranslatable: { count: number; examples: Array<{ reason: string }> } }).untranslatable;
    expect(untranslatable.count).toBe(LOOPS.length);
    expect(untranslatable.examples[0]!.reason).toMatch(
      new RegExp(`^plugin "loop" toGraph exceeded its time budget of ${budgetMs} ms on ConfigMap ${ns}/loop-\\d \\(loop\\.mjs\\) and was interrupted$`),
    );
  });
});
