// Scopes that vanished while the agent was down: an actor removed from the config, a
// cluster removed, a namespace deleted (per-namespace topology). The agent remembers the
// scopes it wrote (in its WAL) and, once every observer has listed, sweeps those no
// observer covers, so the graph keeps nothing nobody observes. A cluster that cannot be
// reached holds the sweep back: its nodes stay.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActorSpec, AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";
import { nodesOf, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const nsV = uniqueName("vanish");
const nsD = uniqueName("vanish-gone");
const agents: AgentProcess[] = [];

beforeAll(async () => {
  for (const ns of [nsV, nsD]) {
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "cm" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "s" }, stringData: { k: "v" } } });
  }
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, [nsV, nsD]);
});

/** Observed nodes of this test's namespaces, as "cluster/namespace/Label/name". */
async function observed(ws: Workspace): Promise<string[]> {
  return nodesOf(await ws.exportLines())
    .filter((n) => n.properties.observed === true && [nsV, nsD].includes(String(n.properties.namespace)))
    .map((n) => n.key)
    .filter((k) => !k.includes("kube-root-ca.crt"))
    .sort();
}

async function once(ws: Workspace, extra: string[] = []): Promise<AgentProcess> {
  const agent = ws.run(["--once", ...extra]);
  agents.push(agent);
  const exit = await agent.exited;
  expect(exit.code, agent.logTail()).toBe(0);
  return agent;
}

const swept = (agent: AgentProcess) => agent.logs.find((l) => l.msg.startsWith("swept graph scopes no longer observed"));

describe("scopes that vanished while the agent was down", () => {
  it("sweeps a removed actor's and a removed cluster's scopes at the next start, and nothing else", async () => {
    const both: ActorSpec[] = [
      { resource: "configmap", namespace: nsV },
      { resource: "secret", namespace: nsV },
    ];
    const ws = workspace("sqlite", both, { cluster: "ghost" });
    await once(ws);
    expect(await observed(ws)).toStrictEqual([`ghost/${nsV}/ConfigMap/cm`, `ghost/${nsV}/Secret/s`]);

    // The cluster renamed: "ghost" left the config.
    ws.rewrite({ actors: both, cluster: "local" });
    const renamed = await once(ws);
    expect(swept(renamed)).toMatchObject({ scopes: 2 });
    expect(await observed(ws)).toStrictEqual([`local/${nsV}/ConfigMap/cm`, `local/${nsV}/Secret/s`]);

    // The secret actor removed; the next start (live this time) sweeps its scope only.
    ws.rewrite({ actors: [{ resource: "configmap", namespace: nsV }], cluster: "local" });
    const live = ws.run();
    agents.push(live);
    await live.waitForLog("the sweep", (l) => l.msg.startsWith("swept graph scopes no longer observed"), 60_000);
    expect(swept(live)).toMatchObject({ scopes: 1, examples: [`local/${nsV}/Secret`] });
    expect(await observed(ws)).toStrictEqual([`local/${nsV}/ConfigMap/cm`]);
    await live.stop();

    // Nothing vanished since: no sweep, and verify agrees.
    const again = await once(ws, ["--verify"]);
    expect(swept(again)).toBeUndefined();
    expect(again.stdout).toMatch(/graph equals the cluster/);
  });

  it("sweeps a namespace deleted while down (per-namespace topology)", async () => {
    const others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => n !== nsV && n !== nsD);
    const ws = workspace("sqlite", [{ resource: "configmap", exclude: others, topology: "namespace" }]);
    await once(ws);
    expect(await observed(ws)).toStrictEqual([`local/${nsD}/ConfigMap/cm`, `local/${nsV}/ConfigMap/cm`].sort());
    await core.deleteNamespace({ name: nsD });
    await eventually(
      `namespace ${nsD} to be gone`,
      async () => ((await core.listNamespace()).items.some((n) => n.metadata?.name === nsD) ? undefined : true),
      120_000,
      500,
    );
    const next = await once(ws, ["--verify"]);
    expect(swept(next)).toMatchObject({ scopes: 1, examples: [`local/${nsD}/ConfigMap`] });
    expect(await observed(ws)).toStrictEqual([`local/${nsV}/ConfigMap/cm`]);
    expect(next.stdout).toMatch(/graph equals the cluster/);
  });

  it("sweeps nothing while a cluster cannot be reached: its nodes stay", async () => {
    const actors: ActorSpec[] = [{ resource: "configmap", namespace: nsV }];
    const ws = workspace("sqlite", actors);
    await once(ws);
    const before = await observed(ws);
    expect(before).toStrictEqual([`local/${nsV}/ConfigMap/cm`]);
    // The same cluster, unreachable (nothing listens on port 9), and an actor removed.
    const dir = mkdtempSync(join(tmpdir(), "kube-observer-vanish-"));
    const deadKubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      deadKubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: dead, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: dead, context: {cluster: dead, user: u}}]\ncurrent-context: dead\n`,
    );
    ws.rewrite({ actors: [{ resource: "secret", namespace: nsV }], kubeconfig: deadKubeconfig });
    const agent = ws.run();
    agents.push(agent);
    await agent.waitForLog("the observer backing off", (l) => l.phase === "backing-off", 30_000);
    await new Promise((r) => setTimeout(r, 6_000));
    expect(swept(agent)).toBeUndefined();
    expect(await observed(ws)).toStrictEqual(before);
    await agent.stop();
  });
});
