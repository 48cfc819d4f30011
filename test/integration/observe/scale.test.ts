// 1,000 namespaces × 5 resources: 5,000 observers on two worker threads all reach
// "watching", and the agent still answers quickly (a change arrives, it shuts down).
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, deleteNamespaces, forEachLimited, uniqueName } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const NAMESPACES = 1000;
const RESOURCES = ["pod", "configmap", "secret", "serviceaccount", "persistentvolumeclaim"];
const label = uniqueName("scale");
const names = Array.from({ length: NAMESPACES }, (_, i) => `${label}-${String(i).padStart(4, "0")}`);
let agent: AgentProcess | undefined;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, names);
}, 300_000);

describe("1,000 namespaces", () => {
  it("runs 5,000 observers on 2 threads, all watching, and stays responsive", async () => {
    await forEachLimited(names, 40, (name) => core.createNamespace({ body: { metadata: { name, labels: { "kube-observer-test": label } } } }));
    const existing = (await core.listNamespace()).items.map((n) => n.metadata!.name!);
    const others = existing.filter((n) => !n.startsWith(label));
    // Only this test's namespaces: every other one is excluded.
    const config = writeConfig({
      actors: RESOURCES.map((resource) => ({ resource, exclude: others })),
      observer: { threads: 2 },
    });
    const started = Date.now();
    agent = AgentProcess.run(config, [], { KUBE_OBSERVER_LOG_LEVEL: "info" });
    const a = agent;
    const expected = NAMESPACES * RESOURCES.length;
    await a.waitForLog(
      "every observer watching",
      (l) => l.msg === "observer phases" && (l.phases as Record<string, number>).watching === expected,
      240_000,
    );
    const secondsToWatching = (Date.now() - started) / 1000;
    expect(a.logs.find((l) => l.msg === "observer pool started")?.threads).toBe(2);
    expect(a.logs.filter((l) => l.level >= 50)).toEqual([]);

    // Responsive: a ConfigMap created in the last namespace arrives promptly.
    const target = names.at(-1)!;
    const before = Date.now();
    await core.createNamespacedConfigMap({ namespace: target, body: { metadata: { name: "ping" }, data: { a: "b" } } });
    await a.waitForMessage("the ping ConfigMap", (m) => m.namespace === target && m.name === "ping" && m.action === "Applied", 10_000);
    const latencyMs = Date.now() - before;
    expect(latencyMs).toBeLessThan(5_000);

    const stopStarted = Date.now();
    const exit = await a.stop(30_000);
    expect(exit.code).toBe(0);
    console.log(
      `[scale] ${expected} observers watching after ${secondsToWatching.toFixed(1)} s; ping latency ${latencyMs} ms; shutdown ${Date.now() - stopStarted} ms`,
    );
  }, 420_000);
});
