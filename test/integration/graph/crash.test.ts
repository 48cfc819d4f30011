// Crash safety: the agent is killed with SIGKILL again and again during churn — at random
// moments and at failpoints between the WAL append and the sink commit — and restarted.
// Afterwards the graph equals what a direct LIST implies, with no duplicate node or edge.
// Deletes made while the agent is down are gone once it is back.
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { expectedExport } from "../../support/expected.js";
import { normalise, waitForGraph, wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";
import type { AgentProcess } from "../../support/agent.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];

afterAll(async () => {
  await deleteNamespaces(core, namespaces);
});

const RESOURCES = ["pod", "configmap", "secret"];
const FAILPOINTS = ["wal.after-append=2", "dispatcher.before-commit=2", "dispatcher.after-commit=2", "dispatcher.before-commit=1", "wal.after-append=5"];

/** A steady mix of creates, updates and deletes until stopped. */
function churn(ns: string): { stop: () => Promise<number> } {
  let running = true;
  let ops = 0;
  const loop = (async () => {
    let i = 0;
    while (running) {
      i += 1;
      const n = i % 12;
      try {
        switch (i % 5) {
          case 0:
            await core.createNamespacedConfigMap({
              namespace: ns,
              body: { metadata: { name: `cm-${n}-${i}`, labels: { gen: String(i) } }, data: { v: String(i) } },
            });
            break;
          case 1:
            await core.createNamespacedPod({
              namespace: ns,
              body: {
                metadata: { name: `pod-${i}` },
                spec: {
                  automountServiceAccountToken: false,
                  containers: [{ name: "c", image: `app:${n}`, envFrom: [{ configMapRef: { name: `cm-${n}-${i - 1}` } }, { secretRef: { name: `s-${n}` } }] }],
                },
              },
            });
            break;
          case 2: {
            const list = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: "gen" });
            const victim = list.items[i % Math.max(1, list.items.length)];
            if (victim) await core.deleteNamespacedConfigMap({ namespace: ns, name: victim.metadata!.name! });
            break;
          }
          case 3:
            await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `s-${n}` }, stringData: { k: String(i) } } }).catch(async () => {
              await core.deleteNamespacedSecret({ namespace: ns, name: `s-${n}` });
            });
            break;
          default: {
            const pods = await core.listNamespacedPod({ namespace: ns });
            const victim = pods.items[i % Math.max(1, pods.items.length)];
            if (victim && i % 2 === 0) await core.deleteNamespacedPod({ namespace: ns, name: victim.metadata!.name!, gracePeriodSeconds: 0 });
          }
        }
        ops += 1;
      } catch {
        /* conflicts are part of churn */
      }
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return ops;
    },
  };
}

describe.each(["sqlite", "neo4j"] as const)("crash safety with the %s sink", (sinkKind: SinkKind) => {
  it("ends equal to the cluster after 10 SIGKILLs during churn, and sees deletes made while it was down", async () => {
    if (sinkKind === "neo4j") await wipeNeo4j();
    const ns = uniqueName(`crash-${sinkKind}`);
    namespaces.push(ns);
    await createNamespace(core, ns);
    const ws = workspace(
      sinkKind,
      RESOURCES.map((resource) => ({ resource, namespace: ns })),
    );
    const load = churn(ns);
    let kills = 0;
    let failpointKills = 0;
    let agent: AgentProcess | undefined;
    try {
      for (let round = 0; round < 10; round += 1) {
        const failpoints = round % 2 === 0 ? FAILPOINTS[(round / 2) % FAILPOINTS.length]! : "";
        agent = ws.run([], { KUBE_OBSERVER_FAILPOINTS: failpoints });
        if (failpoints) {
          // Killed by its own failpoint, or by us if the point was not reached in time.
          // Generous: on a loaded machine the point can take a while to be reached.
          const timer = setTimeout(() => agent?.signal("SIGKILL"), 12_000);
          const exit = await agent.exited;
          clearTimeout(timer);
          if (agent.stderr.includes("failpoint")) failpointKills += 1;
          expect(exit.signal).toBe("SIGKILL");
        } else {
          await new Promise((r) => setTimeout(r, 500 + Math.random() * 2_500));
          agent.signal("SIGKILL");
          expect((await agent.exited).signal).toBe("SIGKILL");
        }
        kills += 1;
      }
    } finally {
      await load.stop();
    }
    expect(kills).toBe(10);
    expect(failpointKills).toBeGreaterThanOrEqual(3);

    // Deletes while the agent is down.
    const doomed = (await core.listNamespacedConfigMap({ namespace: ns, labelSelector: "gen" })).items.slice(0, 3).map((c) => c.metadata!.name!);
    for (const name of doomed) await core.deleteNamespacedConfigMap({ namespace: ns, name });

    agent = ws.run();
    try {
      const expected = normalise(
        await expectedExport(
          "local",
          RESOURCES.map((resource) => ({ resource, namespace: ns })),
        ),
        ["observedAt"],
      );
      const actual = await waitForGraph(
        ws,
        "the graph to equal the cluster",
        (lines) => {
          const mine = normalise(
            lines.filter((l) =>
              l.type === "node"
                ? l.key.startsWith(`local/${ns}/`) || !l.key.startsWith("local/")
                : l.from.startsWith(`local/${ns}/`) || !l.from.startsWith("local/"),
            ),
            ["observedAt"],
          );
          return JSON.stringify(mine) === JSON.stringify(expected) ? mine : undefined;
        },
        60_000,
      ).catch(async (error: Error) => {
        const lines = await ws.exportLines();
        const mine = normalise(
          lines.filter((l) =>
            l.type === "node"
              ? l.key.startsWith(`local/${ns}/`) || !l.key.startsWith("local/")
              : l.from.startsWith(`local/${ns}/`) || !l.from.startsWith("local/"),
          ),
          ["observedAt"],
        );
        expect(mine).toEqual(expected);
        throw error;
      });
      expect(actual.length).toBeGreaterThan(10);
      const keys = actual.filter((l) => l.type === "node").map((l) => (l.type === "node" ? l.key : ""));
      expect(new Set(keys).size).toBe(keys.length);
      const edges = actual.filter((l) => l.type === "edge").map((l) => JSON.stringify(l));
      expect(new Set(edges).size).toBe(edges.length);
      for (const name of doomed) expect(keys).not.toContain(`local/${ns}/ConfigMap/${name}`);
    } finally {
      await agent.stop();
    }
  }, 300_000);
});
