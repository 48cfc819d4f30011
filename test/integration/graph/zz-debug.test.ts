// The graph sink contract (docs/graph-semantics.md), run against both sinks: the real
// local Neo4j and the embedded SQLite graph. Every case compares full exports, and a
// seeded random sequence of ops must leave both sinks with identical exports.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "vitest";
import type { Driver } from "neo4j-driver";
import type { ExportLine, GraphEdge, GraphNode, GraphOp, GraphSchema, GraphSink, Placeholder, Properties } from "../../../core/graph/model.js";
import { Neo4jSink } from "../../../core/graph/neo4j-sink.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { devEnv, neo4jDriver } from "../../support/cluster.js";

// ---- the graph vocabulary used here ----

const SCHEMA: GraphSchema = {
  labels: ["Pod", "Volume", "Secret", "ConfigMap", "ServiceAccount", "Node", "ContainerImage", "Thing"],
  relationships: ["USES_VOLUME", "BACKED_BY", "USES_SECRET", "USES_CONFIGMAP", "RUNS_AS", "RUNS_IMAGE", "SCHEDULED_ON", "REFERS_TO"],
};
const C = "c1";

const keyOf = (ns: string | null, kind: string, name: string): string => (ns === null ? `${C}/${kind}/${name}` : `${C}/${ns}/${kind}/${name}`);
const scopeOf = (ns: string | null, kind: string): string => `${C}/${ns ?? ""}/${kind}`;

/** An observed object's node: cluster/namespace/name plus `extra`. */
function object(ns: string | null, kind: string, name: string, extra: Properties = {}): GraphNode {
  const properties: Properties = { cluster: C, name, ...extra };
  if (ns !== null) properties.namespace = ns;
  return { label: kind, key: keyOf(ns, kind, name), scope: scopeOf(ns, kind), properties };
}

/** A reference to an object, as plugins make them: same key and cluster/namespace/name. */
function ref(ns: string | null, kind: string, name: string, extra: Properties = {}): Placeholder {
  const { label, key, properties } = object(ns, kind, name, extra);
  return { label, key, properties };
}

function owned(owner: GraphNode, label: string, suffix: string, properties: Properties = {}): GraphNode {
  return { label, key: `${owner.key}/${suffix}`, properties };
}

const edge = (type: string, from: string, to: string, properties: Properties = {}): GraphEdge => ({ type, from, to, properties });

function upsert(node: GraphNode, parts: { owned?: GraphNode[]; placeholders?: Placeholder[]; edges?: GraphEdge[] } = {}): GraphOp {
  return { op: "upsert", node, owned: parts.owned ?? [], placeholders: parts.placeholders ?? [], edges: parts.edges ?? [] };
}
const del = (key: string): GraphOp => ({ op: "delete", key });
const sweep = (scope: string, present: string[]): GraphOp => ({ op: "sweep", scope, present });

// ---- expected export lines ----

const observedLine = (n: GraphNode): ExportLine => ({
  type: "node",
  labels: [n.label],
  key: n.key,
  properties: { ...n.properties, observed: true, owner: n.key, ...(n.scope === undefined ? {} : { scope: n.scope }) },
});
const ownedLine = (n: GraphNode, owner: GraphNode): ExportLine => ({ type: "node", labels: [n.label], key: n.key, properties: { ...n.properties, observed: true, owner: owner.key } });
const placeholderLine = (p: Placeholder): ExportLine => ({ type: "node", labels: [p.label], key: p.key, properties: { ...p.properties, observed: false } });
const edgeLine = (e: GraphEdge, owner: GraphNode): ExportLine => ({ type: "edge", rel: e.type, from: e.from, to: e.to, properties: { ...e.properties, owner: owner.key } });

/** The contract's order, computed independently of the sinks: UTF-8 bytes (= code points). */
function contractOrder(lines: ExportLine[]): ExportLine[] {
  const bytes = (s: string): Buffer => Buffer.from(s, "utf8");
  const cmp = (a: string, b: string): number => Buffer.compare(bytes(a), bytes(b));
  const canonical = (v: unknown): string => JSON.stringify(v, (_k, value: unknown) =>
    value !== null && typeof value === "object" && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => cmp(a, b))) : value,
  );
  const nodes = lines.filter((l): l is Extract<ExportLine, { type: "node" }> => l.type === "node").sort((a, b) => cmp(a.key, b.key));
  const edges = lines
    .filter((l): l is Extract<ExportLine, { type: "edge" }> => l.type === "edge")
    .sort((a, b) => cmp(a.from, b.from) || cmp(a.rel, b.rel) || cmp(a.to, b.to) || cmp(canonical(a.properties), canonical(b.properties)));
  return [...nodes, ...edges];
}

async function exportOf(sink: GraphSink): Promise<ExportLine[]> {
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  return lines;
}

// ---- the two sinks ----

interface SinkUnderTest {
  name: string;
  /** An empty sink with SCHEMA declared. */
  open(): Promise<GraphSink>;
  /** After each test. */
  release(sink: GraphSink): Promise<void>;
  /** After the file. */
  dispose(): Promise<void>;
}

function neo4jUnderTest(): SinkUnderTest {
  let shared: Neo4jSink | undefined;
  let admin: Driver | undefined;
  return {
    name: "neo4j",
    async open() {
      const { boltUrl, user, password } = devEnv().neo4j;
      shared ??= await Neo4jSink.connect({ uri: boltUrl, username: user, password });
      admin ??= neo4jDriver();
      // Community has one database: every test starts from an empty one.
      await admin.executeQuery("MATCH (n) DETACH DELETE n");
      await shared.init(SCHEMA);
      return shared;
    },
    async release() {},
    async dispose() {
      await shared?.close();
      await admin?.close();
    },
  };
}

function sqliteUnderTest(): SinkUnderTest {
  const dir = mkdtempSync(join(tmpdir(), "sink-contract-"));
  let n = 0;
  return {
    name: "sqlite",
    async open() {
      const sink = new SqliteGraphSink(join(dir, `graph-${n++}.db`));
      await sink.init(SCHEMA);
      return sink;
    },
    async release(sink) {
      await sink.close();
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- fixtures ----

const NS = "ns1";
const secretRef = ref(NS, "Secret", "db");
const defaultSa = ref(NS, "ServiceAccount", "default");
const imageRef: Placeholder = { label: "ContainerImage", key: "docker.io/library/nginx:1.27", properties: { reference: "docker.io/library/nginx:1.27", tag: "1.27" } };

/** A pod with a secret volume, an env reference to the same secret, an image and a SA. */
function webPod(name = "web", extra: Properties = {}) {
  const node = object(NS, "Pod", name, { uid: `uid-${name}`, labels: ["app=web", "tier=front"], restarts: 3, ratio: 0.25, privileged: false, ...extra });
  const volume = owned(node, "Volume", "volume/creds", { name: "creds", type: "secret" });
  const edges = [
    edge("USES_VOLUME", node.key, volume.key, { mounts: ["main:/etc/creds:ro"] }),
    edge("BACKED_BY", volume.key, secretRef.key, { source: "secret", optional: false }),
    edge("USES_SECRET", node.key, secretRef.key, { via: "env", container: "main", env: "DB_PASSWORD", key: "password" }),
    edge("RUNS_IMAGE", node.key, imageRef.key, { container: "main", containerType: "container" }),
    edge("RUNS_AS", node.key, defaultSa.key),
  ];
  return { node, volume, edges, op: upsert(node, { owned: [volume], placeholders: [secretRef, imageRef, defaultSa], edges }) };
}


const sinks: SinkUnderTest[] = [neo4jUnderTest(), sqliteUnderTest()];
// ---- both sinks, one random history ----

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * ~`count` ops over ~30 keys in two namespaces, cut into batches of 1–12. With `hints`,
 * references carry a random extra property, so which declaration created a placeholder
 * (and whether it was demoted or recreated) shows in the export.
 */
function randomHistory(seed: number, count: number, hints: boolean): GraphOp[][] {
  const random = prng(seed);
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const some = <T,>(items: readonly T[], max: number): T[] => Array.from({ length: Math.floor(random() * (max + 1)) }, () => pick(items));
  const namespaces = ["a", "b"];
  const names = { Pod: ["p0", "p1", "p2", "p3", "p4"], Secret: ["s0", "s1", "s2", "s3"], ConfigMap: ["c0", "c1"], ServiceAccount: ["default", "robot"] };
  const nodes = ["n0", "n1"];
  const hint = (): Properties => (hints ? { hint: Math.floor(random() * 3) } : {});
  const refTo = (ns: string | null, kind: string, name: string): Placeholder => ref(ns, kind, name, hint());
  const refIn = (ns: string, kind: keyof typeof names): Placeholder => refTo(ns, kind, pick(names[kind]));

  const podOp = (ns: string): GraphOp => {
    const node = object(ns, "Pod", pick(names.Pod), { restarts: Math.floor(random() * 5), phase: pick(["Pending", "Running"]) });
    const placeholders: Placeholder[] = [];
    const edges: GraphEdge[] = [];
    const refer = (p: Placeholder): string => (placeholders.push(p), p.key);
    const volumes = Array.from({ length: Math.floor(random() * 3) }, (_, i) => owned(node, "Volume", `volume/v${i}`, { name: `v${i}`, size: Math.floor(random() * 3) }));
    for (const v of volumes) {
      edges.push(edge("USES_VOLUME", node.key, v.key, { mounts: some(["main:/a", "main:/b"], 2) }));
      if (random() < 0.7) edges.push(edge("BACKED_BY", v.key, refer(refIn(ns, random() < 0.5 ? "Secret" : "ConfigMap")), { source: "volume" }));
    }
    for (const s of some(names.Secret, 2)) edges.push(edge("USES_SECRET", node.key, refer(refTo(ns, "Secret", s)), { via: pick(["env", "envFrom"]) }));
    if (random() < 0.8) edges.push(edge("RUNS_AS", node.key, refer(refIn(ns, "ServiceAccount"))));
    if (random() < 0.5) edges.push(edge("SCHEDULED_ON", node.key, refer(refTo(null, "Node", pick(nodes)))));
    if (random() < 0.3) edges.push(edge("REFERS_TO", node.key, refer(refIn(ns, "Pod")))); // pods referencing pods
    if (random() < 0.2 && edges.length > 0) edges.push(pick(edges)); // an exact duplicate
    return upsert(node, { owned: volumes, placeholders, edges });
  };
  const objectOp = (ns: string): GraphOp => {
    const kind = pick(["Secret", "ConfigMap", "ServiceAccount", "Node"] as const);
    if (kind === "Node") return upsert(object(null, "Node", pick(nodes), { ready: random() < 0.5 }));
    return upsert(object(ns, kind, pick(names[kind]), { version: Math.floor(random() * 100) }));
  };
  const anyKey = (): string => {
    if (random() < 0.1) return keyOf(null, "Node", pick(nodes));
    const kind = pick(Object.keys(names) as Array<keyof typeof names>);
    return keyOf(pick(namespaces), kind, pick(names[kind]));
  };
  const sweepOp = (): GraphOp => {
    if (random() < 0.15) return sweep(scopeOf(null, "Node"), nodes.filter(() => random() < 0.5).map((n) => keyOf(null, "Node", n)));
    const ns = pick(namespaces);
    const kind = pick(Object.keys(names) as Array<keyof typeof names>);
    return sweep(scopeOf(ns, kind), names[kind].filter(() => random() < 0.6).map((n) => keyOf(ns, kind, n)));
  };

  const ops: GraphOp[] = [];
  while (ops.length < count) {
    const roll = random();
    const ns = pick(namespaces);
    ops.push(roll < 0.45 ? podOp(ns) : roll < 0.65 ? objectOp(ns) : roll < 0.9 ? del(anyKey()) : sweepOp());
  }
  const batches: GraphOp[][] = [];
  for (let i = 0; i < ops.length; ) {
    const size = 1 + Math.floor(random() * 12);
    batches.push(ops.slice(i, i + size));
    i += size;
  }
  return batches;
}


it("debug", async () => {
  const seed = Number(process.env.DSEED); const hints = process.env.DHINTS === "1"; const upto = Number(process.env.DBATCH);
  const key = process.env.DKEY!;
  const a = await sinks[0]!.open(); const b = await sinks[1]!.open();
  const batches = randomHistory(seed, 200, hints);
  if (process.env.DREPLAY) {
    for (const batch of batches.slice(0, upto)) await a.apply(batch);
    const trace = JSON.parse((await import("node:fs")).readFileSync("/tmp/trace.json", "utf8")) as Array<[string, Record<string, unknown>]>;
    const { neo4jDriver } = await import("../../support/cluster.js");
    const drv = neo4jDriver();
    const tryTrace = async (t: Array<[string, Record<string, unknown>]>): Promise<boolean> => {
      const session = drv.session();
      const tx = session.beginTransaction();
      try { for (const [q, p] of t) await tx.run(q, p); return false; } catch (e) { return /has been deleted/.test(String(e)); } finally { await tx.rollback().catch(() => undefined); await session.close(); }
    };
    console.log("FULL", await tryTrace(trace));
    // greedy minimisation, keeping the last query
    let cur = trace;
    for (let i = cur.length - 2; i >= 0; i--) {
      const cand = cur.filter((_, j) => j !== i);
      if (await tryTrace(cand)) cur = cand;
    }
    for (const [q, p] of cur) console.log("MIN", q.replace(/\s+/g, " ").trim(), JSON.stringify(p));
    const rows = await drv.executeQuery("MATCH (n:Entity) WHERE n.key STARTS WITH 'c1/a/Pod/p4' OPTIONAL MATCH (n)-[r]-(m) RETURN n.key AS k, labels(n) AS l, properties(n) AS p, type(r) AS t, m.key AS m");
    for (const r of rows.records) console.log("STATE", JSON.stringify(r.toObject()));
    await drv.close();
    return;
  }
  for (const [i, batch] of batches.entries()) {
    if (i === upto) {
      const touching = (lines: ExportLine[]) => lines.filter((l) => l.type === "node" ? l.key === key : l.from === key || l.to === key || l.from.startsWith(key + "/"));
      console.log("BEFORE neo4j", JSON.stringify(touching(await exportOf(a))));
      console.log("BEFORE sqlite", JSON.stringify(touching(await exportOf(b))));
      for (const op of batch) console.log("OP", JSON.stringify(op.op === "upsert" ? { op: "upsert", key: op.node.key, owned: op.owned.map((o) => o.key), placeholders: op.placeholders.map((p) => p.key), edges: op.edges.map((e) => `${e.from} -${e.type}-> ${e.to}`) } : op));
    }
    try { await a.apply(batch); } catch (e) { console.log("FAILED at", i); (await import("node:fs")).writeFileSync("/tmp/trace.json", JSON.stringify((globalThis as any).__trace)); for (const op of batch) console.log("OP", JSON.stringify(op.op === "upsert" ? { op: "upsert", key: op.node.key, owned: op.owned.map((o) => o.key), placeholders: op.placeholders.map((p) => p.key), edges: op.edges.map((e) => `${e.from} -${e.type}-> ${e.to}`) } : op)); throw e; }
    await b.apply(batch);
    if (i === upto) {
      const touching = (lines: ExportLine[]) => lines.filter((l) => l.type === "node" ? l.key === key : l.from === key || l.to === key);
      console.log("AFTER neo4j", JSON.stringify(touching(await exportOf(a))));
      console.log("AFTER sqlite", JSON.stringify(touching(await exportOf(b))));
      break;
    }
  }
  await sinks[0]!.dispose(); await sinks[1]!.release(b);
});
