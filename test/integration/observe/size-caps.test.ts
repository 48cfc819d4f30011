// Memory bounds against the real apiserver, in both watch topologies: an object over
// observer.maxObjectBytes is skipped (a warning naming it, a metric), in a LIST and on
// the watch, and never stalls the others; a LIST page over maxListPageBytes is read with
// a smaller page size and loses nothing; an object that shrinks below the cap enters the
// graph, one that grows past it leaves.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, apiserverRequestCount, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { nodesOf, waitForGraph, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const agents: AgentProcess[] = [];
const namespaces: string[] = [];
let others: string[] = [];

const OBJECT_CAP = 128 * 1024;
const PAGE_CAP = 256 * 1024;
const blob = (kib: number): string => "k".repeat(kib * 1024);

beforeAll(async () => {
  others = (await core.listNamespace()).items.map((n) => n.metadata!.name!);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, namespaces);
});

function configMaps(lines: Parameters<typeof nodesOf>[0], ns: string): string[] {
  return nodesOf(lines)
    .filter((n) => n.labels[0] === "ConfigMap" && n.properties.observed === true && n.properties.namespace === ns && n.properties.name !== "kube-root-ca.crt")
    .map((n) => String(n.properties.name))
    .sort();
}

async function expectConfigMaps(ws: Workspace, ns: string, want: string[], what: string): Promise<void> {
  const sorted = JSON.stringify([...want].sort());
  await waitForGraph(ws, what, (lines) => (JSON.stringify(configMaps(lines, ns)) === sorted ? true : undefined), 60_000);
}

describe.each(["cluster", "namespace"] as const)("size caps, %s topology", (topology) => {
  it("skips what is over the object cap with a warning and a metric, shrinks pages over the page cap, and follows objects across the cap", async () => {
    const ns = uniqueName(`caps-${topology.slice(0, 2)}`);
    namespaces.push(ns);
    await createNamespace(core, ns);
    // Six 60 KiB objects: 360 KiB in one page of 500 passes the 256 KiB page cap.
    const mids = Array.from({ length: 6 }, (_, i) => `mid-${i}`);
    for (const name of mids) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: blob(60) } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "big" }, data: { v: blob(200) } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "small" }, data: { v: "s" } } });

    const actor = topology === "cluster" ? { resource: "configmap", exclude: others, topology } : { resource: "configmap", namespace: ns, topology };
    const ws = workspace("sqlite", [actor], { observer: { maxObjectBytes: OBJECT_CAP, maxListPageBytes: PAGE_CAP } });
    const listCount = (): Promise<number> => apiserverRequestCount({ verb: "LIST", resource: "configmaps", scope: topology });
    const listsBefore = await listCount();
    const agent = ws.run(["--listen", "127.0.0.1:0"]);
    agents.push(agent);
    const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    await expectConfigMaps(ws, ns, [...mids, "small"], "every ConfigMap but the one over the cap");
    if (topology === "namespace") {
      // One page of 500 would be one request; 360 KiB of objects over a 256 KiB page cap
      // halve the limit down to 3 (500, 250, …, 3), then two more pages of 3.
      expect(await listCount()).toBeGreaterThanOrEqual(listsBefore + 8);
    }

    const skippedBig = await agent.waitForLog("the warning about big", (l) => l.msg.startsWith("object over the size cap") && l.name === "big");
    expect(skippedBig).toMatchObject({ namespace: ns, kind: "ConfigMap", source: "list", capBytes: OBJECT_CAP, level: 40 });
    expect(Number(skippedBig.bytes)).toBeGreaterThan(200 * 1024);

    // On the watch: big shrinks (enters), small grows (leaves, not kept stale), and a
    // change after them still arrives.
    await core.replaceNamespacedConfigMap({ name: "big", namespace: ns, body: { metadata: { name: "big" }, data: { v: "now small" } } });
    await core.replaceNamespacedConfigMap({ name: "small", namespace: ns, body: { metadata: { name: "small" }, data: { v: blob(150) } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after" }, data: { v: "a" } } });
    await expectConfigMaps(ws, ns, [...mids, "big", "after"], "big in, small out, after in");
    const skippedSmall = await agent.waitForLog("the warning about small", (l) => l.msg.startsWith("object over the size cap") && l.name === "small");
    expect(skippedSmall).toMatchObject({ namespace: ns, kind: "ConfigMap", source: "watch", eventType: "MODIFIED" });

    const metrics = await (await fetch(`http://${String(listening.listen)}/metrics`)).text();
    expect(metrics).toMatch(/kube_observer_objects_skipped_total\{cluster="local",resource="configmap",reason="too-large"\} 2/);
    // Nothing failed: the caps are not errors.
    expect(agent.logs.filter((l) => l.level >= 50)).toStrictEqual([]);
    expect((await agent.stop()).code).toBe(0);

    // A restart relists through the smaller pages: the same graph, the same one skipped.
    const again = ws.run();
    agents.push(again);
    await again.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    await expectConfigMaps(ws, ns, [...mids, "big", "after"], "the same graph after a relist");
    expect(again.logs.filter((l) => l.msg.startsWith("object over the size cap")).map((l) => l.name)).toStrictEqual(["small"]);
    expect((await again.stop()).code).toBe(0);
  }, 180_000);
});
