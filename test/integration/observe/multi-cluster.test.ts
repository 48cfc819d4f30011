// One agent, two real clusters, one graph. "east" is the shared first cluster, "west" the
// second control plane this file starts (or reuses) through the dev environment. The same
// namespace and the same object names exist in both; the graph keeps them apart by key,
// and verify compares both. West's kube-apiserver is then killed: east's changes keep
// reaching the graph (also across a restart of the agent during the outage), west's
// nodes stay as they were for the whole outage, and once the
// apiserver is back (same port, same etcd) a delete made behind its back, a create and a
// delete made after it returned all reach the graph, and verify agrees again.
//
// West observes ConfigMaps with namespace "*" (one cluster-wide watch) and Namespaces,
// east names its namespace: both observer topologies serve one agent at once.
// Cluster names are unique per run, so that the shared Neo4j needs no wipe (verify
// compares only the configured clusters) and no writer lease of an earlier run applies.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { ExportLine } from "../../../core/graph/model.js";
import type { VerifyReport } from "../../../core/verify/verify.js";
import { AgentProcess, repoRoot, type LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, devEnv, eventually, neo4jDriver, uniqueName } from "../../support/cluster.js";
import { openTestSink, type SinkKind } from "../../support/graph.js";
import { ensureSecondCluster, etcdDeleteIn, releaseSecondCluster, type SecondCluster } from "../../support/second-cluster.js";

/** "Within a few seconds": how long an east change may take to reach the graph while
 *  west is down (it takes well under a second when nothing is wrong). */
const LATENCY_BOUND_MS = 5_000;
/** How long a restarted agent may take to bring an east change into the graph while west
 *  is unreachable (start-up and east's initial sync; a few seconds when nothing waits for
 *  west). */
const AGENT_START_BOUND_MS = 20_000;
/** How long west stays down: several of the agent's reconnect attempts (backoff capped at
 *  2 s below) and longer than a watch's connect timeout. */
const OUTAGE_MS = 30_000;
const IMAGE = "registry.example/mc/web:1.0";

const eastCore = adminKubeConfig().makeApiClient(k8s.CoreV1Api);
let west: SecondCluster;
let westCore: k8s.CoreV1Api;
const processes: AgentProcess[] = [];

/** One run per sink, each with its own namespace (the same name in both clusters) and its
 *  own cluster names. */
interface Run {
  sink: SinkKind;
  ns: string;
  names: Clusters;
  /** Object uids per cluster, by "Kind/name". */
  uids: { east: Record<string, string>; west: Record<string, string> };
}
const runs: Run[] = (["sqlite", "neo4j"] as const).map((sink) => {
  const suffix = randomBytes(3).toString("hex");
  return { sink, ns: uniqueName("mc"), names: { east: `east-${suffix}`, west: `west-${suffix}` }, uids: { east: {}, west: {} } };
});

beforeAll(async () => {
  // Throws when cluster 2 cannot be started: every test of this file then fails.
  west = await ensureSecondCluster();
  westCore = west.kubeConfig().makeApiClient(k8s.CoreV1Api);
  console.log(`[multi-cluster] cluster 2 ${west.startedHere ? "started" : "reused"} in ${(west.startMs / 1000).toFixed(1)} s`);
  // Every run's objects are created now, before any outage: after west's apiserver
  // restarts, its kube-controller-manager takes up to ~30 s (client-go's watch backoff)
  // to give new namespaces their ServiceAccount again.
  for (const run of runs) {
    run.uids = { east: await seed(eastCore, run.ns, "east"), west: await seed(westCore, run.ns, "west") };
  }
}, 300_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  if (west) {
    // A failed outage test may have left west's apiserver down: bring it back to clean up.
    if (!west.apiserverAlive()) await west.startApiserver();
    await deleteNamespaces(
      westCore,
      runs.map((r) => r.ns),
    );
  }
  await deleteNamespaces(
    eastCore,
    runs.map((r) => r.ns),
  );
  await releaseSecondCluster();
}, 180_000);

const q = (text: string): string => JSON.stringify(text);

interface Clusters {
  east: string;
  west: string;
}

/** The agent's config: two clusters, their actors, the sink and this agent's own WAL. */
function configText(sink: SinkKind, names: Clusters, ns: string, dir: string): string {
  const actor = (cluster: string, resource: string, namespace?: string): string =>
    `T.Actor::{ cluster = ${q(cluster)}, resource = ${q(resource)}${namespace ? `, namespace = ${q(namespace)}` : ""} }`;
  const actors = [
    actor(names.east, "configmap", ns),
    actor(names.east, "serviceaccount", ns),
    actor(names.east, "pod", ns),
    actor(names.west, "namespace"),
    actor(names.west, "configmap"),
    actor(names.west, "serviceaccount", ns),
    actor(names.west, "pod", ns),
  ];
  const sinkText =
    sink === "sqlite"
      ? `T.Sink::{ sqlitePath = ${q(join(dir, "graph.sqlite"))} }`
      : `T.Sink::{ kind = "neo4j", neo4j = Some T.Neo4j::{ uri = ${q(devEnv().neo4j.boltUrl)}, username = ${q(devEnv().neo4j.user)}, passwordEnv = "KO_TEST_NEO4J_PASSWORD" } }`;
  return `let T = ${join(repoRoot, "config/types.dhall")}
in  T.Config::{
    , clusters =
      [ T.Cluster::{ name = ${q(names.east)}, kubeconfig = Some ${q(devEnv().kubeconfig)} }
      , T.Cluster::{ name = ${q(names.west)}, kubeconfig = Some ${q(west.kubeconfig)} }
      ]
    , actors = [ ${actors.join("\n      , ")} ]
    , observer = T.Observer::{ connectTimeoutSeconds = 2, backoff = T.Backoff::{ initialMs = 200, maxMs = 2000 } }
    , sink = ${sinkText}
    , wal = T.Wal::{ path = ${q(join(dir, "wal.sqlite"))} }
    }
`;
}

/** The same objects, by name, in a cluster: data and uids tell the two apart. */
async function seed(core: k8s.CoreV1Api, ns: string, region: string): Promise<Record<string, string>> {
  await createNamespace(core, ns);
  // Published by kube-controller-manager into every namespace (both clusters run it).
  await eventually(`kube-root-ca.crt in ${ns}`, () => core.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace: ns }).catch(() => undefined));
  const uids: Record<string, string> = {};
  for (const name of ["app-config", "doomed", "ghost"]) {
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { [`region-${region}`]: "1" } } });
    uids[`ConfigMap/${name}`] = cm.metadata!.uid!;
  }
  const sa = await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "app" } } });
  uids["ServiceAccount/app"] = sa.metadata!.uid!;
  const pod = await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: "web", labels: { app: "web" } },
      spec: {
        serviceAccountName: "app",
        automountServiceAccountToken: false,
        containers: [{ name: "app", image: IMAGE, env: [{ name: "REGION", valueFrom: { configMapKeyRef: { name: "app-config", key: `region-${region}` } } }] }],
      },
    },
  });
  uids["Pod/web"] = pod.metadata!.uid!;
  return uids;
}

type NodeLine = Extract<ExportLine, { type: "node" }>;
type EdgeLine = Extract<ExportLine, { type: "edge" }>;

interface Graph {
  nodes: Map<string, NodeLine>;
  edges: EdgeLine[];
}

const graphOf = (lines: ExportLine[]): Graph => ({
  nodes: new Map(lines.filter((l): l is NodeLine => l.type === "node").map((n) => [n.key, n])),
  edges: lines.filter((l): l is EdgeLine => l.type === "edge"),
});

const edgeId = (e: EdgeLine): string => `${e.from} -${e.rel}-> ${e.to}`;

/** What must not change about a cluster's part of the graph while its apiserver is down. */
function fingerprint(graph: Graph, cluster: string): { nodes: string[]; edges: string[] } {
  const prefix = `${cluster}/`;
  const nodes = [...graph.nodes.values()]
    .filter((n) => n.key.startsWith(prefix))
    .map((n) => `${n.key} uid=${String(n.properties.uid)} observed=${String(n.properties.observed)} rv=${String(n.properties.resourceVersion)}`)
    .sort();
  const edges = graph.edges
    .filter((e) => e.from.startsWith(prefix))
    .map(edgeId)
    .sort();
  return { nodes, edges };
}

async function runVerify(config: string, env: Record<string, string>): Promise<{ code: number | null; report: VerifyReport | undefined; output: string }> {
  const child = new AgentProcess(["verify", "--config", config, "--settle-seconds", "20", "--json"], env);
  processes.push(child);
  const { code } = await child.exited;
  const report = child.stdout.trim() ? (JSON.parse(child.stdout) as VerifyReport) : undefined;
  return { code, report, output: `${child.stdout}\n${child.stderr}` };
}

describe.each(runs)("one agent observing two clusters into the $sink sink", (run: Run) => {
  const { sink: sinkKind, ns, names } = run;
  const dir = mkdtempSync(join(tmpdir(), `kube-observer-mc-${sinkKind}-`));
  const config = join(dir, "config.dhall");
  const env = { KO_TEST_NEO4J_PASSWORD: devEnv().neo4j.password };
  const key = (cluster: string, kind: string, name: string): string => `${cluster}/${ns}/${kind}/${name}`;
  let agent: AgentProcess;

  const readGraph = async (): Promise<Graph> => {
    const sink = await openTestSink(sinkKind, join(dir, "graph.sqlite"));
    try {
      const lines: ExportLine[] = [];
      for await (const line of sink.export()) lines.push(line);
      return graphOf(lines);
    } finally {
      await sink.close();
    }
  };

  /** Polls the graph until check returns a value; `every` runs on each look (and throws to
   *  fail at once). Resolves with the value and how long it took. */
  const pollGraph = async <T>(
    what: string,
    check: (g: Graph) => T | undefined,
    timeoutMs: number,
    every?: (g: Graph) => void,
  ): Promise<{ value: T; ms: number }> => {
    const began = Date.now();
    let last: Graph | undefined;
    for (;;) {
      try {
        last = await readGraph();
      } catch {
        /* the embedded graph may not exist yet */
      }
      if (last) {
        every?.(last);
        const value = check(last);
        if (value !== undefined) return { value, ms: Date.now() - began };
      }
      if (Date.now() - began > timeoutMs)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the graph had ${last?.nodes.size ?? 0} nodes\n${agent.logTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    writeFileSync(config, configText(sinkKind, names, ns, dir));
    const began = Date.now();
    agent = new AgentProcess(["run", "--config", config], env);
    processes.push(agent);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 90_000);
    console.log(`[multi-cluster] ${sinkKind}: initial sync of both clusters in ${Date.now() - began} ms`);
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    // The shared Neo4j keeps what agents wrote: take this run's clusters out of it.
    if (sinkKind === "neo4j") {
      const driver = neo4jDriver();
      try {
        await driver.executeQuery("MATCH (n:Entity) WHERE n.key STARTS WITH $east OR n.key STARTS WITH $west DETACH DELETE n", {
          east: `${names.east}/`,
          west: `${names.west}/`,
        });
        // And the shared image and registry nodes, once nothing else uses them.
        await driver.executeQuery("MATCH (i:Entity {key: $image}) WHERE NOT ()-->(i) DETACH DELETE i", { image: IMAGE });
        await driver.executeQuery("MATCH (r:Entity:Registry {key: $registry}) WHERE NOT ()-->(r) DELETE r", { registry: IMAGE.split("/")[0] });
      } finally {
        await driver.close();
      }
    }
  });

  it("holds both clusters' same-named objects apart by key, each with its own edges, and verify lists both clusters", async () => {
    const expected = (cluster: string): string[] =>
      [
        "ConfigMap/app-config",
        "ConfigMap/doomed",
        "ConfigMap/ghost",
        "ConfigMap/kube-root-ca.crt",
        "ServiceAccount/app",
        "ServiceAccount/default",
        "Pod/web",
      ].map((kn) => `${cluster}/${ns}/${kn}`);
    const { value: graph } = await pollGraph(
      "every object of both clusters",
      (g) => ([...expected(names.east), ...expected(names.west)].every((k) => g.nodes.get(k)?.properties.observed === true) ? g : undefined),
      60_000,
    );

    for (const [side, cluster] of [
      ["east", names.east],
      ["west", names.west],
    ] as const) {
      // Each node carries its own cluster's object: uid and content from that cluster.
      for (const kn of ["ConfigMap/app-config", "ServiceAccount/app", "Pod/web"]) {
        const [kind, name] = kn.split("/") as [string, string];
        expect(graph.nodes.get(key(cluster, kind, name))!.properties.uid, `${cluster} ${kn}`).toBe(run.uids[side][kn]);
      }
      expect(graph.nodes.get(key(cluster, "ConfigMap", "app-config"))!.properties.keys).toEqual([`region-${side}`]);
      // The pod's edges point into its own cluster (the image is shared by reference).
      const podEdges = graph.edges
        .filter((e) => e.from === key(cluster, "Pod", "web"))
        .map((e) => `${e.rel} ${e.to}`)
        .sort();
      expect(podEdges).toEqual(
        expect.arrayContaining([
          `RUNS_AS ${key(cluster, "ServiceAccount", "app")}`,
          `USES_CONFIGMAP ${key(cluster, "ConfigMap", "app-config")}`,
          `RUNS_IMAGE ${IMAGE}`,
        ]),
      );
    }
    // No edge crosses from one cluster into the other.
    const crossing = graph.edges.filter(
      (e) =>
        (e.from.startsWith(`${names.east}/`) && e.to.startsWith(`${names.west}/`)) ||
        (e.from.startsWith(`${names.west}/`) && e.to.startsWith(`${names.east}/`)),
    );
    expect(crossing.map(edgeId)).toEqual([]);
    // West's cluster-wide ConfigMap watch reaches every namespace of west, and only west.
    expect(graph.nodes.get(`${names.west}/kube-system/ConfigMap/kube-root-ca.crt`)?.properties.observed).toBe(true);
    expect(graph.nodes.has(`${names.east}/kube-system/ConfigMap/kube-root-ca.crt`)).toBe(false);
    expect(graph.nodes.get(`${names.west}/Namespace/${ns}`)?.properties.observed).toBe(true);
    // One image node, used from both clusters (the shared Neo4j may hold other runs' users).
    const ours = (k: string): boolean => k.startsWith(`${names.east}/`) || k.startsWith(`${names.west}/`);
    expect(
      graph.edges
        .filter((e) => e.rel === "RUNS_IMAGE" && e.to === IMAGE && ours(e.from))
        .map((e) => e.from)
        .sort(),
    ).toEqual([key(names.east, "Pod", "web"), key(names.west, "Pod", "web")].sort());

    const verify = await runVerify(config, env);
    expect(verify.code, verify.output).toBe(0);
    expect(verify.report!.equal).toBe(true);
    expect([...verify.report!.clusters].sort()).toEqual([names.east, names.west].sort());
    expect(verify.report!.failures).toEqual([]);
  }, 120_000);

  it("west's kube-apiserver down, the agent restarted meanwhile: east stays current, west's nodes stay intact; west's changes arrive once it is back", async () => {
    const before = await readGraph();
    const westBefore = fingerprint(before, names.west);
    expect(westBefore.nodes.length).toBeGreaterThanOrEqual(10);
    expect(westBefore.nodes.some((n) => n.startsWith(`${key(names.west, "ConfigMap", "ghost")} `))).toBe(true);
    const westIntact = (g: Graph): void => {
      expect(fingerprint(g, names.west), "west's part of the graph while its apiserver is down").toEqual(westBefore);
    };
    const logsBefore = agent.logs.length;
    const earlierLogs: LogLine[] = [];
    const killedPid = west.apiserverPid();
    const outageStarted = Date.now();

    await west.stopApiserver({ hard: true });
    try {
      expect(west.apiserverAlive()).toBe(false);
      await agent.waitForLog("west's observers to notice the outage", (l) => l.cluster === names.west && l.phase === "backing-off", 30_000);
      // Behind the stopped apiserver's back: west's "ghost" goes from etcd. The graph cannot
      // know yet, and must keep it until west lists again.
      expect(await etcdDeleteIn(west, `/registry/configmaps/${ns}/ghost`)).toBe(1);

      // East keeps flowing: a create, an update and a delete, each within a few seconds.
      await eastCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "during-outage" }, data: { a: "1" } } });
      const created = await pollGraph(
        "east's ConfigMap created during the outage",
        (g) => (g.nodes.get(key(names.east, "ConfigMap", "during-outage"))?.properties.observed ? true : undefined),
        30_000,
        westIntact,
      );
      await eastCore.patchNamespacedConfigMap(
        { namespace: ns, name: "app-config", body: [{ op: "add", path: "/data/added", value: "2" }] },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      );
      const updated = await pollGraph(
        "east's updated ConfigMap",
        (g) => {
          const keys = g.nodes.get(key(names.east, "ConfigMap", "app-config"))?.properties.keys;
          return Array.isArray(keys) && keys.includes("added") ? true : undefined;
        },
        30_000,
        westIntact,
      );
      await eastCore.deleteNamespacedConfigMap({ namespace: ns, name: "doomed" });
      const deleted = await pollGraph(
        "east's deleted ConfigMap to leave",
        (g) => (g.nodes.has(key(names.east, "ConfigMap", "doomed")) ? undefined : true),
        30_000,
        westIntact,
      );
      console.log(`[multi-cluster] ${sinkKind}: east during west's outage: create ${created.ms} ms, update ${updated.ms} ms, delete ${deleted.ms} ms`);
      for (const change of [created, updated, deleted]) expect(change.ms).toBeLessThan(LATENCY_BOUND_MS);

      // The agent itself restarts during the outage (same config, same WAL): it comes up
      // with west unreachable, syncs east without waiting for west, and sweeps nothing of
      // west at start.
      const firstAgent = agent;
      const firstExit = await firstAgent.stop();
      expect(firstExit.code, firstAgent.logTail()).toBe(0);
      earlierLogs.push(...firstAgent.logs.slice(logsBefore));
      agent = new AgentProcess(["run", "--config", config], env);
      processes.push(agent);
      await eastCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "across-agent-restart" }, data: { a: "1" } } });
      const restarted = await pollGraph(
        "east's ConfigMap created as the agent restarted",
        (g) => (g.nodes.has(key(names.east, "ConfigMap", "across-agent-restart")) ? true : undefined),
        60_000,
        westIntact,
      );
      await agent.waitForLog(
        "west's observers, after the agent's restart, to find west down",
        (l) => l.cluster === names.west && l.phase === "backing-off",
        30_000,
      );
      console.log(`[multi-cluster] ${sinkKind}: agent restarted during west's outage: east's change in the graph ${restarted.ms} ms after the start`);
      expect(restarted.ms).toBeLessThan(AGENT_START_BOUND_MS);

      // Hold the outage, watching west's part of the graph all along.
      await pollGraph("the rest of the outage", () => (Date.now() - outageStarted >= OUTAGE_MS ? true : undefined), OUTAGE_MS + 10_000, westIntact);
      // Still later in the outage, east is still current.
      await eastCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "late-in-outage" }, data: { a: "1" } } });
      const late = await pollGraph(
        "east's ConfigMap created late in the outage",
        (g) => (g.nodes.has(key(names.east, "ConfigMap", "late-in-outage")) ? true : undefined),
        30_000,
        westIntact,
      );
      console.log(`[multi-cluster] ${sinkKind}: east ${Math.round((Date.now() - outageStarted) / 1000)} s into the outage: create ${late.ms} ms`);
      expect(late.ms).toBeLessThan(LATENCY_BOUND_MS);
      // Only west was in trouble: no east observer backed off.
      const outageLogs = [...earlierLogs, ...agent.logs];
      const eastTrouble = outageLogs.filter((l) => l.cluster === names.east && (l.phase === "backing-off" || l.level >= 50));
      expect(eastTrouble).toEqual([]);
    } finally {
      if (!west.apiserverAlive()) await west.startApiserver();
    }
    expect(west.apiserverPid()).not.toBe(killedPid);

    // West is back with its data: a create and a delete made now, and the delete made in
    // etcd during the outage, all reach the graph; east's same-named scope is untouched.
    await westCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after-return" }, data: { "region-west": "2" } } });
    await westCore.deleteNamespacedConfigMap({ namespace: ns, name: "doomed" });
    const eastNow = fingerprint(await readGraph(), names.east);
    const { value: after, ms: returnMs } = await pollGraph(
      "west's changes after its return",
      (g) =>
        g.nodes.get(key(names.west, "ConfigMap", "after-return"))?.properties.observed === true &&
        !g.nodes.has(key(names.west, "ConfigMap", "doomed")) &&
        !g.nodes.has(key(names.west, "ConfigMap", "ghost"))
          ? g
          : undefined,
      60_000,
    );
    console.log(`[multi-cluster] ${sinkKind}: west's changes in the graph ${returnMs} ms after they were made (apiserver back)`);
    for (const kn of ["ConfigMap/app-config", "ServiceAccount/app", "Pod/web"]) {
      const [kind, name] = kn.split("/") as [string, string];
      expect(after.nodes.get(key(names.west, kind, name))?.properties.uid, `west ${kn} after the return`).toBe(run.uids.west[kn]);
    }
    expect(fingerprint(after, names.east)).toEqual(eastNow);
    expect(after.nodes.get(key(names.east, "ConfigMap", "ghost"))?.properties.uid).toBe(run.uids.east["ConfigMap/ghost"]);

    const verify = await runVerify(config, env);
    expect(verify.code, verify.output).toBe(0);
    expect(verify.report!.equal).toBe(true);
    expect([...verify.report!.clusters].sort()).toEqual([names.east, names.west].sort());
  }, 240_000);
});
