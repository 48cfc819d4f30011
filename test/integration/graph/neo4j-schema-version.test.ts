// The Neo4j graph's storage schema version (core/graph/neo4j-schema.ts), against the real
// Neo4j: init() stamps an empty database, migrates one written before versions (its graph
// unchanged), refuses a newer one untouched; read-only opens read the current version only;
// the version node is never part of the graph that export and stats show.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import neo4j, { type Driver } from "neo4j-driver";
import type { ExportLine, GraphOp, GraphSchema } from "../../../core/graph/model.js";
import { Neo4jSink } from "../../../core/graph/neo4j-sink.js";
import { applyNeo4jWrite } from "../../../core/graph/neo4j-schema.js";
import { openSink } from "../../../core/graph/open-sink.js";
import { GRAPH_SCHEMA_VERSION, GraphSchemaError, type SchemaLog } from "../../../core/graph/schema-version.js";
import { devEnv, neo4jDriver } from "../../support/cluster.js";

const SCHEMA: GraphSchema = { labels: ["Pod", "Secret", "Service"], relationships: ["USES_SECRET", "SELECTS"] };

const ops: GraphOp[] = [
  {
    op: "upsert",
    node: { label: "Pod", key: "c/ns/Pod/a", scope: "c/ns/Pod", properties: { name: "a", labels: ["app=web"] } },
    owned: [],
    placeholders: [{ label: "Secret", key: "c/ns/Secret/s", properties: { name: "s" } }],
    edges: [{ type: "USES_SECRET", from: "c/ns/Pod/a", to: "c/ns/Secret/s", properties: { via: "env" } }],
  },
  {
    op: "upsert",
    node: { label: "Service", key: "c/ns/Service/web", scope: "c/ns/Service", properties: { name: "web" } },
    owned: [],
    placeholders: [],
    edges: [],
    selectors: [{ type: "SELECTS", from: "c/ns/Service/web", scope: "c/ns/Pod", matchLabels: { app: "web" }, requirements: [], properties: {} }],
  },
];

function recordingLog(): SchemaLog & { lines: Array<{ level: string; obj: object; msg: string }> } {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  return { lines, info: (obj, msg) => void lines.push({ level: "info", obj, msg }), warn: (obj, msg) => void lines.push({ level: "warn", obj, msg }) };
}

async function exported(sink: Neo4jSink): Promise<ExportLine[]> {
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  return lines;
}

describe("Neo4j storage schema version", () => {
  let admin: Driver;
  const sinks: Neo4jSink[] = [];
  const connect = async (log?: SchemaLog): Promise<Neo4jSink> => {
    const { boltUrl, user, password } = devEnv().neo4j;
    const sink = await Neo4jSink.connect({ uri: boltUrl, username: user, password, ...(log ? { log } : {}) });
    sinks.push(sink);
    return sink;
  };
  const openForReading = () => {
    const { boltUrl, user, password } = devEnv().neo4j;
    return openSink(
      { kind: "neo4j", sqlitePath: "", neo4j: { uri: boltUrl, username: user, passwordEnv: "KO_TEST_PASSWORD", database: null, writerLeaseSeconds: 30 } },
      { access: "read", env: { KO_TEST_PASSWORD: password } },
    );
  };
  const stamped = async (): Promise<unknown[]> =>
    (await admin.executeQuery("MATCH (m:KoMeta {id: 'graph'}) RETURN m.schemaVersion AS v")).records.map((r) => r.get("v"));
  const where = (): string => `Neo4j at ${devEnv().neo4j.boltUrl}`;

  beforeAll(() => {
    admin = neo4jDriver();
  });

  beforeEach(async () => {
    await admin.executeQuery("MATCH (n) DETACH DELETE n");
  });

  afterAll(async () => {
    for (const sink of sinks) await sink.close().catch(() => undefined);
    await admin.executeQuery("MATCH (n) DETACH DELETE n");
    await admin.close();
  });

  it("stamps an empty database with the current version, outside the exported graph", async () => {
    const log = recordingLog();
    const sink = await connect(log);
    expect(await sink.storageSchema()).toEqual({ found: "empty", version: GRAPH_SCHEMA_VERSION, action: "create" });
    expect(await stamped()).toEqual([]); // asking wrote nothing
    await sink.init(SCHEMA);
    expect(await sink.storageSchema()).toEqual({ found: "empty", version: GRAPH_SCHEMA_VERSION, action: "create" });
    expect(await stamped()).toEqual([neo4j.int(GRAPH_SCHEMA_VERSION)]);
    expect(log.lines).toEqual([]);

    await sink.apply(ops);
    const lines = await exported(sink);
    expect(lines.map((l) => (l.type === "node" ? l.key : l.rel))).toEqual(["c/ns/Pod/a", "c/ns/Secret/s", "c/ns/Service/web", "USES_SECRET", "SELECTS"]);
    expect(await sink.stats()).toEqual({ nodes: { Pod: 1, Secret: 1, Service: 1 }, edges: { SELECTS: 1, USES_SECRET: 1 } });

    const again = await connect(log);
    await again.init(SCHEMA);
    expect(await again.storageSchema()).toEqual({ found: GRAPH_SCHEMA_VERSION, version: GRAPH_SCHEMA_VERSION, action: "keep" });
    const reader = await openForReading();
    try {
      expect(await reader.storageSchema?.()).toEqual({ found: GRAPH_SCHEMA_VERSION, version: GRAPH_SCHEMA_VERSION, action: "keep" });
    } finally {
      await reader.close();
    }
  });

  it("refuses a database written by a newer kube-observer and leaves it untouched", async () => {
    const newer = GRAPH_SCHEMA_VERSION + 1;
    await admin.executeQuery("CREATE (:KoMeta {id: 'graph', schemaVersion: $v}), (:Entity:Pod {key: 'c/ns/Pod/future', shape: 'new'})", {
      v: neo4j.int(newer),
    });
    const sink = await connect();
    const error = await sink.init(SCHEMA).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphSchemaError);
    expect((error as GraphSchemaError).exitCode).toBe(2);
    expect((error as Error).message).toContain(
      `${where()} has graph storage schema version ${newer}, written by a newer kube-observer; this one knows versions up to ${GRAPH_SCHEMA_VERSION}`,
    );
    expect((error as Error).message).toContain("use another database");
    await expect(sink.apply(ops)).rejects.toThrow(/needs init\(schema\) before apply\(\)/);
    expect(await stamped()).toEqual([neo4j.int(newer)]);
    const nodes = await admin.executeQuery("MATCH (n:Entity) RETURN n.key AS key, n.shape AS shape");
    expect(nodes.records.map((r) => [r.get("key"), r.get("shape")])).toEqual([["c/ns/Pod/future", "new"]]);

    await expect(openForReading()).rejects.toThrow(
      `${where()} has graph storage version ${newer}; this kube-observer reads version ${GRAPH_SCHEMA_VERSION} only: use the kube-observer that wrote it`,
    );
  });

  it("migrates a database written before versions in place (info log), its export unchanged", async () => {
    // A graph as the previous release left it: the same nodes, edges and selectors, no version node.
    const writer = await connect();
    await writer.init(SCHEMA);
    await writer.apply(ops);
    const before = await exported(writer);
    const statsBefore = await writer.stats();
    await admin.executeQuery("MATCH (m:KoMeta) DELETE m");
    expect(before.length).toBe(5);

    // Read-only commands do not read it until the agent has migrated it.
    await expect(openForReading()).rejects.toThrow(
      `${where()} has graph storage version 0 (unversioned: written before kube-observer recorded storage versions); this kube-observer reads version ${GRAPH_SCHEMA_VERSION} only: run the agent`,
    );
    expect(await stamped()).toEqual([]);

    const log = recordingLog();
    const sink = await connect(log);
    expect(await sink.storageSchema()).toEqual({ found: "unversioned", version: GRAPH_SCHEMA_VERSION, action: "migrate" });
    await sink.init(SCHEMA);
    expect(log.lines).toEqual([
      {
        level: "info",
        obj: { store: where(), from: 0, to: GRAPH_SCHEMA_VERSION },
        msg: expect.stringMatching(/^graph storage migrated in place from version 0 .* to version 2$/),
      },
    ]);
    expect(await stamped()).toEqual([neo4j.int(GRAPH_SCHEMA_VERSION)]);
    expect(await exported(sink)).toEqual(before);
    expect(await sink.stats()).toEqual(statsBefore);

    // And reads and writes as a current graph: the Pod's new labels end the selected edge.
    await sink.apply([
      { ...ops[0]!, node: { ...(ops[0] as Extract<GraphOp, { op: "upsert" }>).node, properties: { name: "a", labels: ["app=db"] } } } as GraphOp,
    ]);
    const reader = await openForReading();
    try {
      const after: ExportLine[] = [];
      for await (const line of reader.export()) after.push(line);
      expect(after.filter((l) => l.type === "edge").map((l) => (l.type === "edge" ? l.rel : ""))).toEqual(["USES_SECRET"]);
    } finally {
      await reader.close();
    }
  });

  it("rebuilds (empties the graph's nodes and selectors, nothing else) only while no agent writes the database", async () => {
    // No version is unmigratable today: the step init() takes for one is run directly.
    const writer = await connect();
    await writer.init(SCHEMA);
    await writer.apply(ops);
    await admin.executeQuery("CREATE (:SomeoneElse {x: 1}), (:KoWriter {cluster: 'c', holder: 'h1', pid: 7, host: 'node-a', heartbeat: timestamp()})");
    const count = async (): Promise<Record<string, number>> => {
      const result = await admin.executeQuery("MATCH (n) UNWIND labels(n) AS l RETURN l, count(*) AS n ORDER BY l");
      return Object.fromEntries(result.records.map((r) => [r.get("l") as string, (r.get("n") as { toNumber(): number }).toNumber()]));
    };
    const before = await count();
    expect(before).toMatchObject({ Entity: 3, KoSelector: 1, KoWriter: 1, SomeoneElse: 1, KoMeta: 1 });
    const rebuild = { found: "unversioned" as const, version: GRAPH_SCHEMA_VERSION, action: "rebuild" as const };

    await expect(applyNeo4jWrite(admin, undefined, rebuild, where(), 30)).rejects.toThrow(/agents are writing it now: cluster "c" \(pid 7 on host node-a\)/);
    expect(await count()).toEqual(before);

    await admin.executeQuery("MATCH (w:KoWriter) SET w.heartbeat = timestamp() - 31000");
    await applyNeo4jWrite(admin, undefined, rebuild, where(), 30);
    expect(await count()).toEqual({ KoMeta: 1, KoWriter: 1, SomeoneElse: 1 });
  });
});
