// `npm run bench -- --sink-only [--tier M] [--sink sqlite|neo4j|both]`: the sinks alone.
// Generates the tier's initial-sync stream (the objects bench/load.ts creates, as a
// cluster-wide LIST returns them: pages of 500 per resource, interleaved, each resource's
// list closed by its relist boundary), reduces every object through the real plugin and
// turns it into GraphOps with the dispatcher's own translate, in the dispatcher's batches
// (2,000 messages); then replays the batches into each sink, timing only sink.apply.
// Reported: rows/s (rows = nodes, owned nodes, placeholders and edges the ops carry, as
// the main bench counts them), ops/s, statements (SQLite) or queries (Neo4j) per op, and a
// baseline measured in the same run: the same rows inserted the simplest way (prepared
// INSERTs into bare tables; one UNWIND per chunk into Neo4j).
import Database from "better-sqlite3";
import neo4j, { ManagedTransaction } from "neo4j-driver";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { toGraphOp } from "../core/dispatch/translate.js";
import type { GraphOp, GraphSink } from "../core/graph/model.js";
import { combinedSchema } from "../core/graph/open-sink.js";
import { SqliteGraphSink } from "../core/graph/sqlite-sink.js";
import type { KubeMessage, KubeObject } from "../core/messages.js";
import { scrubObject } from "../core/plugin/sdk.js";
import { loadPlugins, type LoadedPlugin } from "../core/plugin/registry.js";
import type { DevEnvState } from "../scripts/devenv/env.js";
import { cleanNeo4j } from "./graph-check.js";
import { configMapManifest, podManifest, podRefs, pvcManifest, secretManifest, serviceAccountManifest } from "./load.js";
import { BENCH_CLUSTER, configMapName, namespacePlans, podName, pvcName, replicaSetName, secretName, serviceAccountName, type Tier } from "./tiers.js";

/** The dispatcher's batch (core/pipeline.ts) and the observers' LIST page. */
export const DISPATCH_BATCH = 2_000;
const PAGE = 500;
const NEO4J_CHUNK = 1_000;
const BASELINE_LABEL = "KoBenchRaw";

export interface SinkOnlyResult {
  sink: "sqlite" | "neo4j";
  messages: number;
  ops: number;
  batches: number;
  rows: number;
  rowKinds: RowCounts;
  /** Seconds inside sink.apply, summed over the batches. */
  seconds: number;
  rowsPerSecond: number;
  opsPerSecond: number;
  /** SQLite statements executed / Neo4j queries run, per op. */
  statementsPerOp: number;
  statements: number;
  /** The batch that took longest, and what it held. */
  slowestBatch: { seconds: number; ops: number; sweeps: number };
  /** Seconds in batches that contain a relist boundary (sweep) vs. the others. */
  secondsInSweepBatches: number;
  /** Where the time inside the sink goes: the statements or queries that took longest. */
  topStatements: Array<{ statement: string; count: number; seconds: number }>;
  /** Seconds of all statements or queries together (the rest: commits, the sink's own code). */
  statementSeconds: number;
  baseline: { what: string; seconds: number; rowsPerSecond: number; statements: number };
  /** rows/s of the sink against the baseline's. */
  ofBaseline: number;
  graph: { nodes: number; edges: number };
}

export interface RowCounts {
  nodes: number;
  owned: number;
  placeholders: number;
  edges: number;
  links: number;
}

// ---- the stream ---------------------------------------------------------------------

type Raw = Record<string, unknown>;

/** An object as the apiserver lists it: the manifest plus what the server sets. */
function served(kind: string, apiVersion: string, namespace: string, body: Raw, seq: number): KubeObject {
  const metadata = (body.metadata ?? {}) as Raw;
  return {
    apiVersion,
    kind,
    ...body,
    metadata: {
      ...metadata,
      namespace,
      uid: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
      resourceVersion: String(1000 + seq),
      creationTimestamp: "2026-12-01T00:00:00Z",
    },
  } as unknown as KubeObject;
}

/** The ServiceAccount admission plugin's projected token volume (its name has a random
 *  suffix; a fixed one here). */
function withTokenVolume(pod: Raw): Raw {
  const spec = pod.spec as Raw;
  const volume = {
    name: "kube-api-access-bench",
    projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }, { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } }] },
  };
  return { ...pod, spec: { ...spec, volumes: [...((spec.volumes as unknown[]) ?? []), volume] } };
}

/** Every object of the tier per resource, in list order. */
export function tierObjects(tier: Tier): Map<string, KubeObject[]> {
  const byResource = new Map<string, KubeObject[]>([
    ["serviceaccount", []],
    ["configmap", []],
    ["secret", []],
    ["persistentvolumeclaim", []],
    ["pod", []],
  ]);
  let seq = 0;
  const add = (resource: string, kind: string, apiVersion: string, ns: string, body: unknown): void => {
    byResource.get(resource)!.push(served(kind, apiVersion, ns, body as Raw, ++seq));
  };
  const rsUids = new Map<string, string>();
  for (const plan of namespacePlans(tier)) {
    for (let j = 0; j < plan.serviceaccounts; j++) {
      add("serviceaccount", "ServiceAccount", "v1", plan.name, serviceAccountManifest(tier, serviceAccountName(j)));
      rsUids.set(`${plan.name}/${replicaSetName(j)}`, `rs-uid-${plan.name}-${j}`);
    }
    for (let j = 0; j < plan.configmaps; j++) add("configmap", "ConfigMap", "v1", plan.name, configMapManifest(tier, configMapName(j), `app-${serviceAccountName(j % plan.serviceaccounts)}`));
    for (let j = 0; j < plan.secrets; j++) add("secret", "Secret", "v1", plan.name, secretManifest(tier, secretName(j), `app-${serviceAccountName(j % plan.serviceaccounts)}`));
    for (let j = 0; j < plan.pvcs; j++) add("persistentvolumeclaim", "PersistentVolumeClaim", "v1", plan.name, pvcManifest(tier, pvcName(j)));
    for (let j = 0; j < plan.pods; j++) add("pod", "Pod", "v1", plan.name, withTokenVolume(podManifest(tier, podName(j), podRefs(plan, j, rsUids)) as unknown as Raw));
  }
  return byResource;
}

/** The initial sync's messages: each resource's LIST in pages, pages of the resources
 *  interleaved (observers run side by side), each list closed by its relist boundary. */
export function tierMessages(tier: Tier, plugins: ReadonlyMap<string, LoadedPlugin>): KubeMessage[] {
  const observedAt = new Date("2026-12-01T00:00:00Z").toISOString();
  const lists = [...tierObjects(tier)].map(([resource, objects]) => ({ resource, objects, plugin: plugins.get(resource)! }));
  const messages: KubeMessage[] = [];
  for (let page = 0; lists.some((l) => page * PAGE < l.objects.length); page++) {
    for (const { resource, objects, plugin } of lists) {
      const slice = objects.slice(page * PAGE, (page + 1) * PAGE);
      for (const object of slice) {
        const meta = object.metadata as { name: string; namespace: string; uid: string; resourceVersion: string };
        messages.push({
          cluster: BENCH_CLUSTER,
          namespace: null,
          resource,
          kind: plugin.plugin.resource.kind,
          action: "Applied",
          objectNamespace: meta.namespace,
          uid: meta.uid,
          name: meta.name,
          resourceVersion: meta.resourceVersion,
          observedAt,
          object: JSON.parse(JSON.stringify(plugin.plugin.reduce(scrubObject(object)))) as unknown,
        });
      }
      if (slice.length > 0 && (page + 1) * PAGE >= objects.length) {
        messages.push({
          cluster: BENCH_CLUSTER,
          namespace: null,
          resource,
          kind: plugin.plugin.resource.kind,
          action: "Restarted",
          objectNamespace: null,
          uid: null,
          name: null,
          resourceVersion: "999999",
          observedAt,
          object: null,
          present: objects.map((o) => {
            const m = o.metadata as { name: string; namespace: string; uid: string };
            return { namespace: m.namespace, name: m.name, uid: m.uid };
          }),
          sweepExcept: [],
        });
      }
    }
  }
  return messages;
}

/** The dispatcher's batches of ops (translate as it does; every message of the stream translates). */
export function opBatches(messages: readonly KubeMessage[], plugins: ReadonlyMap<string, LoadedPlugin>, batchSize = DISPATCH_BATCH): GraphOp[][] {
  const batches: GraphOp[][] = [];
  for (let i = 0; i < messages.length; i += batchSize) {
    const ops: GraphOp[] = [];
    for (const m of messages.slice(i, i + batchSize)) {
      const op = toGraphOp(m, plugins.get(m.resource)!);
      if (op) ops.push(op);
    }
    batches.push(ops);
  }
  return batches;
}

export function countRows(batches: readonly GraphOp[][]): RowCounts & { ops: number; total: number } {
  const c = { nodes: 0, owned: 0, placeholders: 0, edges: 0, links: 0, ops: 0, total: 0 };
  for (const ops of batches) {
    for (const op of ops) {
      c.ops += 1;
      if (op.op !== "upsert") continue;
      c.nodes += 1;
      c.owned += op.owned.length;
      c.placeholders += op.placeholders.length;
      c.edges += op.edges.length;
      c.links += op.links?.length ?? 0;
    }
  }
  c.total = c.nodes + c.owned + c.placeholders + c.edges + c.links;
  return c;
}

// ---- counting statements and queries ------------------------------------------------

/** Counts every SQLite statement executed (run/get/all/iterate) and Neo4j query run in a
 *  managed transaction, process-wide, while installed; and the time each shape of
 *  statement or query takes (SQLite: the call; Neo4j: from run() until its result is in). */
class StatementCounter {
  count = 0;
  shapes = new Map<string, { count: number; ms: number }>();
  private restore: Array<() => void> = [];

  install(): void {
    const probe = new Database(":memory:");
    const statementProto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<string, (...args: unknown[]) => unknown>;
    probe.close();
    const counter = this;
    const wrap = (proto: Record<string, (...args: unknown[]) => unknown>, name: string, timed: (self: unknown, args: unknown[], result: unknown, started: number) => void): void => {
      const original = proto[name]!;
      proto[name] = function (this: unknown, ...args: unknown[]) {
        counter.count += 1;
        const started = performance.now();
        const result = original.apply(this, args);
        timed(this, args, result, started);
        return result;
      };
      this.restore.push(() => void (proto[name] = original));
    };
    const sqlite = (self: unknown, _args: unknown[], _result: unknown, started: number): void => this.record(shapeOf(String((self as { source: string }).source)), performance.now() - started);
    for (const name of ["run", "get", "all"]) wrap(statementProto, name, sqlite);
    wrap(statementProto, "iterate", (self) => this.record(shapeOf(String((self as { source: string }).source)), 0));
    wrap(ManagedTransaction.prototype as unknown as Record<string, (...args: unknown[]) => unknown>, "run", (_self, args, result, started) => {
      const shape = shapeOf(String(args[0]));
      (result as PromiseLike<unknown>).then(
        () => this.record(shape, performance.now() - started),
        () => this.record(shape, performance.now() - started),
      );
    });
  }

  private record(shape: string, ms: number): void {
    const s = this.shapes.get(shape);
    if (s) {
      s.count += 1;
      s.ms += ms;
    } else this.shapes.set(shape, { count: 1, ms });
  }

  /** Seconds of every statement or query since `reset`. */
  totalSeconds(): number {
    let ms = 0;
    for (const v of this.shapes.values()) ms += v.ms;
    return ms / 1000;
  }

  /** The shapes that took longest since `reset`. */
  top(n: number): Array<{ statement: string; count: number; seconds: number }> {
    return [...this.shapes]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, n)
      .map(([statement, v]) => ({ statement, count: v.count, seconds: v.ms / 1000 }));
  }

  reset(): void {
    this.shapes.clear();
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0).reverse()) undo();
  }
}

/** A statement or query as one short line (labels and types stay: they tell shapes apart).
 *  Memoised: this runs inside the timed calls, hundreds of thousands of times. */
const shapes = new Map<string, string>();
function shapeOf(text: string): string {
  let shape = shapes.get(text);
  if (shape === undefined) {
    const line = text.replace(/\s+/g, " ").trim();
    shapes.set(text, (shape = line.length > 140 ? `${line.slice(0, 137)}...` : line));
  }
  return shape;
}

// ---- replaying into a sink ------------------------------------------------------------

async function replay(sink: GraphSink, batches: readonly GraphOp[][], counter: StatementCounter): Promise<{ seconds: number; statements: number; slowest: SinkOnlyResult["slowestBatch"]; inSweeps: number }> {
  let seconds = 0;
  let inSweeps = 0;
  let slowest = { seconds: 0, ops: 0, sweeps: 0 };
  const before = counter.count;
  for (const ops of batches) {
    const started = performance.now();
    await sink.apply(ops);
    const s = (performance.now() - started) / 1000;
    seconds += s;
    const sweeps = ops.filter((o) => o.op === "sweep").length;
    if (sweeps > 0) inSweeps += s;
    if (s > slowest.seconds) slowest = { seconds: s, ops: ops.length, sweeps };
  }
  return { seconds, statements: counter.count - before, slowest, inSweeps };
}

interface FlatRows {
  nodes: Array<{ key: string; label: string; props: string }>;
  edges: Array<{ type: string; from: string; to: string; props: string }>;
}

/** The rows the ops carry, flat, per batch: what a bare insert writes. */
function flatRows(ops: readonly GraphOp[]): FlatRows {
  const rows: FlatRows = { nodes: [], edges: [] };
  for (const op of ops) {
    if (op.op !== "upsert") continue;
    for (const n of [op.node, ...op.owned, ...op.placeholders]) rows.nodes.push({ key: n.key, label: n.label, props: JSON.stringify(n.properties) });
    for (const e of [...op.edges, ...(op.links ?? [])]) rows.edges.push({ type: e.type, from: e.from, to: e.to, props: JSON.stringify(e.properties) });
  }
  return rows;
}

/** Prepared INSERTs of the same rows into a nodes table (key primary key, upsert) and an
 *  edges table without indexes, one transaction per batch, same pragmas as the sink. */
function sqliteBaseline(path: string, batches: readonly GraphOp[][], counter: StatementCounter): SinkOnlyResult["baseline"] {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE nodes (key TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL); CREATE TABLE edges (type TEXT, from_key TEXT, to_key TEXT, props TEXT)");
  const node = db.prepare("INSERT INTO nodes (key, label, props) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET label = excluded.label, props = excluded.props");
  const edge = db.prepare("INSERT INTO edges (type, from_key, to_key, props) VALUES (?, ?, ?, ?)");
  const flat = batches.map(flatRows);
  const before = counter.count;
  let rows = 0;
  const started = performance.now();
  for (const batch of flat) {
    db.transaction(() => {
      for (const n of batch.nodes) node.run(n.key, n.label, n.props);
      for (const e of batch.edges) edge.run(e.type, e.from, e.to, e.props);
    })();
    rows += batch.nodes.length + batch.edges.length;
  }
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return { what: "prepared INSERT (nodes upserted on a primary key; edges into a table without indexes), one transaction per batch", seconds, rowsPerSecond: rows / seconds, statements: counter.count - before };
}

/** One UNWIND per 1,000 rows into Neo4j: nodes MERGEd on a uniquely constrained key, then
 *  edges MATCHing both ends; one transaction per batch. Removed afterwards. */
async function neo4jBaseline(env: DevEnvState, batches: readonly GraphOp[][], counter: StatementCounter): Promise<SinkOnlyResult["baseline"]> {
  const driver = neo4j.driver(env.neo4j.boltUrl, neo4j.auth.basic(env.neo4j.user, env.neo4j.password));
  try {
    await driver.executeQuery(`CREATE CONSTRAINT ko_bench_raw_key IF NOT EXISTS FOR (n:${BASELINE_LABEL}) REQUIRE n.key IS UNIQUE`);
    await driver.executeQuery("CALL db.awaitIndexes(300)");
    const flat = batches.map(flatRows);
    const before = counter.count;
    let rows = 0;
    const started = performance.now();
    for (const batch of flat) {
      const session = driver.session();
      try {
        await session.executeWrite(async (tx) => {
          for (let i = 0; i < batch.nodes.length; i += NEO4J_CHUNK) {
            await tx.run(`UNWIND $rows AS r MERGE (n:${BASELINE_LABEL} {key: r.key}) SET n.label = r.label, n.props = r.props`, { rows: batch.nodes.slice(i, i + NEO4J_CHUNK) });
          }
          for (let i = 0; i < batch.edges.length; i += NEO4J_CHUNK) {
            await tx.run(`UNWIND $rows AS r MATCH (a:${BASELINE_LABEL} {key: r.from}), (b:${BASELINE_LABEL} {key: r.to}) CREATE (a)-[:RAW {type: r.type, props: r.props}]->(b)`, {
              rows: batch.edges.slice(i, i + NEO4J_CHUNK),
            });
          }
        });
      } finally {
        await session.close();
      }
      rows += batch.nodes.length + batch.edges.length;
    }
    const seconds = (performance.now() - started) / 1000;
    const statements = counter.count - before;
    return { what: "UNWIND of 1,000 rows per query (nodes MERGEd on a uniquely constrained key, edges MATCHing both ends), one transaction per batch", seconds, rowsPerSecond: rows / seconds, statements };
  } finally {
    await removeBaseline(driver);
    await driver.close();
  }
}

async function removeBaseline(driver: neo4j.Driver): Promise<void> {
  await driver.executeQuery(`MATCH (n:${BASELINE_LABEL}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS`).catch(async () => {
    // Older syntax / implicit transactions: delete in a loop.
    for (;;) {
      const r = await driver.executeQuery(`MATCH (n:${BASELINE_LABEL}) WITH n LIMIT 5000 DETACH DELETE n RETURN count(*) AS c`);
      if (Number(r.records[0]?.get("c") ?? 0) === 0) break;
    }
  });
  await driver.executeQuery("DROP CONSTRAINT ko_bench_raw_key IF EXISTS");
}

async function graphSize(sink: GraphSink): Promise<{ nodes: number; edges: number }> {
  const stats = await sink.stats();
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  return { nodes: sum(stats.nodes), edges: sum(stats.edges) };
}

export interface SinkOnlyOptions {
  tier: Tier;
  sinks: Array<"sqlite" | "neo4j">;
  workDir: string;
  /** Needed for Neo4j. */
  env?: DevEnvState;
  say: (line: string) => void;
}

export async function runSinkOnly(options: SinkOnlyOptions): Promise<{ results: SinkOnlyResult[]; messages: number; generateSeconds: number }> {
  const { tier, say } = options;
  const { plugins } = await loadPlugins([]);
  const t = performance.now();
  const messages = tierMessages(tier, plugins);
  const batches = opBatches(messages, plugins);
  const generateSeconds = (performance.now() - t) / 1000;
  const rows = countRows(batches);
  say(`sink-only: ${messages.length} messages → ${rows.ops} ops in ${batches.length} batches, ${rows.total} rows (generated and translated in ${generateSeconds.toFixed(1)} s)`);
  const counter = new StatementCounter();
  counter.install();
  const results: SinkOnlyResult[] = [];
  try {
    for (const kind of options.sinks) {
      let sink: GraphSink;
      let baseline: SinkOnlyResult["baseline"];
      if (kind === "sqlite") {
        const path = join(options.workDir, "sink-only-graph.sqlite");
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
        sink = new SqliteGraphSink(path);
      } else {
        if (!options.env) throw new Error("the Neo4j sink-only run needs the local environment");
        const removed = await cleanNeo4j(options.env);
        if (removed) say(`neo4j: removed ${removed} node(s) of an earlier bench run`);
        const { Neo4jSink } = await import("../core/graph/neo4j-sink.js");
        sink = await Neo4jSink.connect({ uri: options.env.neo4j.boltUrl, username: options.env.neo4j.user, password: options.env.neo4j.password });
      }
      try {
        await sink.init(combinedSchema(plugins.values()));
        // Neo4j may hold other graphs (the local environment is shared): count what the run added.
        const before = await graphSize(sink);
        say(`${kind}: replaying ${batches.length} batches`);
        counter.reset();
        const run = await replay(sink, batches, counter);
        const topStatements = counter.top(8);
        const statementSeconds = counter.totalSeconds();
        const after = await graphSize(sink);
        const graph = { nodes: after.nodes - before.nodes, edges: after.edges - before.edges };
        say(`${kind}: ${run.seconds.toFixed(2)} s inside the sink, ${(rows.total / run.seconds).toFixed(0)} rows/s, ${(run.statements / rows.ops).toFixed(1)} statements per op`);
        baseline =
          kind === "sqlite"
            ? sqliteBaseline(join(options.workDir, "sink-only-baseline.sqlite"), batches, counter)
            : await neo4jBaseline(options.env!, batches, counter);
        say(`${kind}: baseline ${baseline.seconds.toFixed(2)} s, ${baseline.rowsPerSecond.toFixed(0)} rows/s`);
        results.push({
          sink: kind,
          messages: messages.length,
          ops: rows.ops,
          batches: batches.length,
          rows: rows.total,
          rowKinds: { nodes: rows.nodes, owned: rows.owned, placeholders: rows.placeholders, edges: rows.edges, links: rows.links },
          seconds: run.seconds,
          rowsPerSecond: rows.total / run.seconds,
          opsPerSecond: rows.ops / run.seconds,
          statementsPerOp: run.statements / rows.ops,
          statements: run.statements,
          slowestBatch: run.slowest,
          secondsInSweepBatches: run.inSweeps,
          topStatements,
          statementSeconds,
          baseline,
          ofBaseline: rows.total / run.seconds / baseline.rowsPerSecond,
          graph,
        });
      } finally {
        await sink.close();
        if (kind === "neo4j" && options.env) await cleanNeo4j(options.env);
      }
    }
  } finally {
    counter.uninstall();
  }
  return { results, messages: messages.length, generateSeconds };
}
