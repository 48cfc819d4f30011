// Watch topology against the real apiserver: a "*" actor is one cluster-wide list+watch
// (namespaces created later covered with no new observer), its exclusions follow reloads
// (an excluded namespace leaves the graph, an included one enters), switching between
// cluster-wide and per-namespace on reload leaves no window where objects are missing
// and no stale nodes, and a restart sweeps what vanished while the agent was down, a
// whole namespace included.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActorSpec, AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";
import { nodesOf, waitForGraph, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const prefix = uniqueName("topo");
const [nsA, nsB, nsX, nsC] = ["a", "b", "x", "c"].map((s) => `${prefix}-${s}`) as [string, string, string, string];
const agents: AgentProcess[] = [];
let others: string[] = [];

beforeAll(async () => {
  for (const ns of [nsA, nsB, nsX]) await createNamespace(core, ns);
  for (const [ns, name] of [
    [nsA, "a1"],
    [nsA, "a2"],
    [nsB, "b1"],
    [nsX, "x1"],
  ] as const) {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: name } } });
  }
  // Every namespace but this test's (and those it creates later) is excluded.
  others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => !n.startsWith(prefix));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, [nsA, nsB, nsX, nsC]);
});

const actors = (exclude: string[], topology?: ActorSpec["topology"]): ActorSpec[] => [
  { resource: "configmap", exclude: [...others, ...exclude], ...(topology ? { topology } : {}) },
];

/** The ConfigMaps of this test's namespaces in the graph, as "ns/name" (kube-root-ca.crt aside). */
function mine(lines: Parameters<typeof nodesOf>[0]): string[] {
  return nodesOf(lines)
    .filter(
      (n) =>
        n.labels[0] === "ConfigMap" &&
        n.properties.observed === true &&
        String(n.properties.namespace).startsWith(prefix) &&
        n.properties.name !== "kube-root-ca.crt",
    )
    .map((n) => `${String(n.properties.namespace)}/${String(n.properties.name)}`)
    .sort();
}

async function expectGraph(ws: Workspace, want: string[], what: string): Promise<void> {
  const sorted = [...want].sort();
  await waitForGraph(ws, what, (lines) => (JSON.stringify(mine(lines)) === JSON.stringify(sorted) ? true : undefined), 60_000);
}

/** Reads the graph every 100 ms until stopped; records every look missing one of `must`. */
function watchForGaps(ws: Workspace, must: string[]): { stop: () => Promise<{ looks: number; gaps: string[][] }> } {
  let running = true;
  let looks = 0;
  const gaps: string[][] = [];
  const loop = (async () => {
    while (running) {
      try {
        const have = new Set(mine(await ws.exportLines()));
        looks += 1;
        const missing = must.filter((m) => !have.has(m));
        if (missing.length) gaps.push(missing);
      } catch {
        /* a read racing a checkpoint: look again */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { looks, gaps };
    },
  };
}

async function reload(agent: AgentProcess, ws: Workspace, next: ActorSpec[], until: (agent: AgentProcess) => boolean, what: string): Promise<void> {
  const seen = agent.logs.length;
  ws.rewrite({ actors: next });
  agent.signal("SIGHUP");
  await agent.waitFor(what, () => (agent.logs.slice(seen).some((l) => l.msg === "config changed: applying") && until(agent) ? true : undefined), 60_000);
}

describe("watch topology", () => {
  it("one cluster-wide watch follows namespaces and exclusions, switches topology with no gap, and sweeps what vanished while it was down", async () => {
    const ws = workspace("sqlite", actors([nsX]));
    const agent = ws.run();
    agents.push(agent);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    expect(agent.logs.find((l) => l.msg === "actor topology")).toMatchObject({
      resource: "configmap",
      topology: "cluster",
      why: expect.stringContaining("cluster-wide"),
    });
    expect(agent.logs.filter((l) => l.msg === "observers reconciled").at(-1)?.observers).toBe(1);
    await expectGraph(ws, [`${nsA}/a1`, `${nsA}/a2`, `${nsB}/b1`], "A and B, not the excluded X");

    // A namespace created later: covered by the same watch, no observer started.
    const reconciles = agent.logs.filter((l) => l.msg === "observers reconciled").length;
    await createNamespace(core, nsC);
    await core.createNamespacedConfigMap({ namespace: nsC, body: { metadata: { name: "c1" } } });
    await expectGraph(ws, [`${nsA}/a1`, `${nsA}/a2`, `${nsB}/b1`, `${nsC}/c1`], "the new namespace's ConfigMap");
    expect(agent.logs.filter((l) => l.msg === "observers reconciled")).toHaveLength(reconciles);

    // Exclusions on reload: A leaves the graph, X enters it.
    await reload(agent, ws, actors([nsA]), (a) => a.logs.filter((l) => l.msg === "observers reconciled").length > reconciles, "the exclusion change applied");
    await expectGraph(ws, [`${nsB}/b1`, `${nsC}/c1`, `${nsX}/x1`], "A excluded, X included");

    // Cluster-wide -> per namespace -> cluster-wide: B, C and X never leave the graph.
    const kept = [`${nsB}/b1`, `${nsC}/c1`, `${nsX}/x1`];
    let gaps = watchForGaps(ws, kept);
    await reload(
      agent,
      ws,
      actors([nsA], "namespace"),
      (a) => a.logs.some((l) => l.msg === "observer phases" && (l.phases as Record<string, number>).watching === 3 && l.observers === 3),
      "per-namespace observers watching",
    );
    await expectGraph(ws, kept, "the same objects per namespace");
    let result = await gaps.stop();
    expect(result.looks).toBeGreaterThan(5);
    expect(result.gaps).toStrictEqual([]);

    gaps = watchForGaps(ws, kept);
    const before = agent.logs.length;
    await reload(
      agent,
      ws,
      actors([nsA], "cluster"),
      (a) => a.logs.slice(before).some((l) => l.msg === "observer phases" && l.observers === 1 && (l.phases as Record<string, number>).watching === 1),
      "the cluster-wide observer watching again",
    );
    await expectGraph(ws, kept, "the same objects cluster-wide again");
    result = await gaps.stop();
    expect(result.looks).toBeGreaterThan(5);
    expect(result.gaps).toStrictEqual([]);
    expect(agent.logs.filter((l) => l.level >= 50)).toStrictEqual([]);

    // Down: a ConfigMap deleted and a whole namespace deleted. The next start sweeps both,
    // and verify proves the graph equals the cluster.
    expect((await agent.stop()).code).toBe(0);
    await core.deleteNamespacedConfigMap({ namespace: nsB, name: "b1" });
    await core.deleteNamespace({ name: nsC });
    await eventually(
      `namespace ${nsC} to be gone`,
      async () => ((await core.listNamespace()).items.some((n) => n.metadata?.name === nsC) ? undefined : true),
      120_000,
      500,
    );
    const once = ws.run(["--once", "--verify"]);
    agents.push(once);
    const exit = await once.exited;
    expect(exit.code, once.logTail()).toBe(0);
    expect(once.stdout).toMatch(/graph equals the cluster/);
    await expectGraph(ws, [`${nsX}/x1`], "only X left");
  }, 300_000);
});
