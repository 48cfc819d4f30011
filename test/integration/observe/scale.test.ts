// 1,000 namespaces × 5 resources, in both topologies. Cluster-wide (the default for "*"
// actors): 5 observers, at most 2 apiserver sockets per resource, responsive. Per
// namespace (topology "namespace"): 5,000 observers on two worker threads all reach
// "watching", and the agent still answers quickly (a change arrives, it shuts down).
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, deleteNamespaces, devEnv, forEachLimited, socketsTo, uniqueName } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const NAMESPACES = 1000;
const RESOURCES = ["pod", "configmap", "secret", "serviceaccount", "persistentvolumeclaim"];
const label = uniqueName("scale");
const names = Array.from({ length: NAMESPACES }, (_, i) => `${label}-${String(i).padStart(4, "0")}`);
const agents: AgentProcess[] = [];
let others: string[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, names);
}, 300_000);

async function createNamespaces(): Promise<void> {
  if (others.length > 0) return;
  await forEachLimited(names, 40, (name) => core.createNamespace({ body: { metadata: { name, labels: { "kube-observer-test": label } } } }));
  const existing = (await core.listNamespace()).items.map((n) => n.metadata!.name!);
  others = existing.filter((n) => !n.startsWith(label));
}

/** A ConfigMap created in the last namespace reaches the agent; returns the latency. */
async function ping(agent: AgentProcess, name: string): Promise<number> {
  const target = names.at(-1)!;
  const before = Date.now();
  await core.createNamespacedConfigMap({ namespace: target, body: { metadata: { name }, data: { a: "b" } } });
  await agent.waitForMessage(`the ${name} ConfigMap`, (m) => m.objectNamespace === target && m.name === name && m.action === "Applied", 10_000);
  return Date.now() - before;
}

describe("1,000 namespaces", () => {
  it("cluster-wide (the default): one observer and at most 2 apiserver sockets per resource, responsive", async () => {
    await createNamespaces();
    // Only this test's namespaces: every other one is excluded.
    const config = writeConfig({ actors: RESOURCES.map((resource) => ({ resource, exclude: others })), observer: { threads: 2 } });
    const started = Date.now();
    const agent = AgentProcess.run(config, [], { KUBE_OBSERVER_LOG_LEVEL: "info" });
    agents.push(agent);
    await agent.waitForLog(
      "every observer watching",
      (l) => l.msg === "observer phases" && (l.phases as Record<string, number>).watching === RESOURCES.length,
      120_000,
    );
    const secondsToWatching = (Date.now() - started) / 1000;
    expect(agent.logs.filter((l) => l.msg === "actor topology").map((l) => l.topology)).toStrictEqual(RESOURCES.map(() => "cluster"));
    expect(agent.logs.filter((l) => l.level >= 50)).toEqual([]);
    const apiserverPort = Number(new URL(devEnv().apiserverUrl).port);
    const sockets = socketsTo(agent.pid!, apiserverPort);
    expect(sockets).toBeGreaterThanOrEqual(1);
    expect(sockets).toBeLessThanOrEqual(2 * RESOURCES.length);
    const latencyMs = await ping(agent, "ping-cluster");
    expect(latencyMs).toBeLessThan(5_000);
    expect((await agent.stop(30_000)).code).toBe(0);
    console.log(
      `[scale] cluster-wide: ${RESOURCES.length} observers watching after ${secondsToWatching.toFixed(1)} s; ${sockets} apiserver sockets; ping latency ${latencyMs} ms`,
    );
  }, 420_000);

  it('per namespace (topology "namespace"): 5,000 observers on 2 threads, all watching, and stays responsive', async () => {
    await createNamespaces();
    const config = writeConfig({
      actors: RESOURCES.map((resource) => ({ resource, exclude: others, topology: "namespace" as const })),
      observer: { threads: 2 },
    });
    const started = Date.now();
    const agent = AgentProcess.run(config, [], { KUBE_OBSERVER_LOG_LEVEL: "info" });
    agents.push(agent);
    const expected = NAMESPACES * RESOURCES.length;
    await agent.waitForLog(
      "every observer watching",
      (l) => l.msg === "observer phases" && (l.phases as Record<string, number>).watching === expected,
      240_000,
    );
    const secondsToWatching = (Date.now() - started) / 1000;
    expect(agent.logs.find((l) => l.msg === "observer pool started")?.threads).toBe(2);
    expect(agent.logs.filter((l) => l.level >= 50)).toEqual([]);

    const latencyMs = await ping(agent, "ping-namespace");
    expect(latencyMs).toBeLessThan(5_000);

    const stopStarted = Date.now();
    const exit = await agent.stop(30_000);
    expect(exit.code).toBe(0);
    console.log(
      `[scale] per namespace: ${expected} observers watching after ${secondsToWatching.toFixed(1)} s; ping latency ${latencyMs} ms; shutdown ${Date.now() - stopStarted} ms`,
    );
  }, 420_000);
});
