// Namespace discovery's LIST answered 200 with a body that is valid JSON but not a List
// (`{}`, then a Status saying "Success"), as a broken gateway would. Taken as a complete,
// empty namespace list, it stopped every per-namespace observer and swept their objects
// from the graph. It must be an error: discovery backs off and says why, every observer
// keeps running (a ConfigMap created meanwhile still arrives), the graph still equals the
// cluster, and discovery recovers once the bodies are right again.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { ExportLine } from "../../../core/graph/model.js";
import type { AgentProcess, LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { startCorruptingProxy, type CorruptingProxy } from "../../support/corrupting-proxy.js";
import { expectedExport } from "../../support/expected.js";
import { nodesOf, normalise, waitForGraph, workspace, type Workspace } from "../../support/graph.js";

const core = adminKubeConfig().makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];
const proxies: CorruptingProxy[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  await deleteNamespaces(core, namespaces);
});

const NOT_LISTS = ["{}", JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success" })];
const EXPIRED = JSON.stringify({
  type: "ERROR",
  object: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "too old resource version", reason: "Expired", code: 410 },
});
const RESOURCES = ["configmap", "secret"];

/** Polls until the graph equals a fresh LIST of the namespace's scopes (recomputed each
 *  look: the cluster may move meanwhile). */
async function graphEqualsCluster(ws: Workspace, ns: string, what: string): Promise<ExportLine[]> {
  let expected: ExportLine[] = [];
  const mine = (lines: ExportLine[]) => normalise(lines, ["observedAt"]);
  return waitForGraph(
    ws,
    what,
    (lines) => (JSON.stringify(mine(lines)) === JSON.stringify(expected) ? lines : undefined),
    30_000,
    async () => {
      expected = mine(
        await expectedExport(
          "local",
          RESOURCES.map((resource) => ({ resource, namespace: ns })),
        ),
      );
    },
  );
}

describe("namespace discovery answered 200 with a body that is not a List", () => {
  it("is an error, never an empty namespace list: no observer stops, nothing leaves the graph", async () => {
    const ns = uniqueName("disc-body");
    namespaces.push(ns);
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "kept" }, data: { a: "b" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "kept" }, stringData: { k: "v" } } });

    let corrupting = false;
    let expiredSent = false;
    let served = 0;
    const discovery = (path: string): boolean => path.startsWith("/api/v1/namespaces?");
    const proxy = await startCorruptingProxy({
      list(path) {
        if (!corrupting || !discovery(path)) return undefined;
        return NOT_LISTS[served++ % NOT_LISTS.length];
      },
      // A legitimate 410 in the namespace watch makes discovery relist (into the bad bodies).
      watchLine(path, line) {
        if (!corrupting || expiredSent || !discovery(path) || !line.includes(`"${ns}"`)) return undefined;
        expiredSent = true;
        return EXPIRED;
      },
    });
    proxies.push(proxy);

    // One observer per namespace (what needs discovery), every other namespace excluded.
    const others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => n !== ns);
    const ws = workspace(
      "sqlite",
      RESOURCES.map((resource) => ({ resource, topology: "namespace" as const, exclude: others })),
      { kubeconfig: proxy.kubeconfig(mkdtempSync(join(tmpdir(), "kube-observer-proxy-"))), backoff: { initialMs: 200, maxMs: 1000 }, logLevel: "debug" },
    );
    const agent = ws.run();
    agents.push(agent);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    await graphEqualsCluster(ws, ns, "the graph to equal the cluster before the damage");
    const mark = agent.logs.length;

    corrupting = true;
    await core.patchNamespace(
      { name: ns, body: { metadata: { labels: { touched: "yes" } } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await agent.waitFor("discovery's relist answered with a body that is not a List", () => (served >= 1 ? true : undefined), 30_000);
    const since = (): LogLine[] => agent.logs.slice(mark);
    // Taken as an empty namespace list, it stops the observers; refused, it is an error.
    const stoppedObservers = (l: LogLine): boolean => l.msg === "observers reconciled" && Number(l.stopped) > 0;
    const failed = await agent.waitFor(
      "the agent's answer to it",
      () => since().find((l) => stoppedObservers(l) || (String(l.msg).startsWith("namespace discovery failed") && l.errorKind === "server")),
      30_000,
    );
    expect(stoppedObservers(failed), "the body was taken for an empty namespace list: every observer stopped").toBe(false);
    expect(failed.level).toBeGreaterThanOrEqual(40);
    expect(String(failed.reason)).toMatch(
      /^LIST \/api\/v1\/namespaces: the 200 response is not a Kubernetes List: "items" is missing, not an array \(\d+ bytes besides its items, not shown\)$/,
    );
    // The other body too, and retried (not taken once and forgotten).
    await agent.waitFor(
      "the Status body refused",
      () => since().find((l) => /not a Kubernetes List: its "kind" does not end in "List"/.test(String(l.reason))),
      30_000,
    );
    await agent.waitFor("a third refused discovery LIST", () => (served >= 3 ? true : undefined), 30_000);

    // Every observer still runs: a ConfigMap created now arrives.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "during" }, data: { c: "d" } } });
    await waitForGraph(ws, "the ConfigMap created while discovery fails", (lines) =>
      nodesOf(lines).some((n) => n.key === `local/${ns}/ConfigMap/during`) ? true : undefined,
    );
    await graphEqualsCluster(ws, ns, "the graph to still equal the cluster");
    expect(since().filter(stoppedObservers)).toEqual([]);
    expect(agent.logs.filter((l) => l.msg === "observer phases").at(-1)).toMatchObject({ observers: 2, phases: { watching: 2 } });

    // The bodies are right again: discovery lists and says so; still nothing lost.
    corrupting = false;
    await agent.waitFor("discovery to recover", () => since().find((l) => l.msg === "namespace discovery recovered"), 30_000);
    await graphEqualsCluster(ws, ns, "the graph to equal the cluster after recovery");
    expect(since().filter(stoppedObservers)).toEqual([]);
    expect((await agent.stop()).code).toBe(0);
  });
});
