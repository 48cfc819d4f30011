// The sink-only bench's baselines: the same rows as the sinks write, in the same batches,
// written the simplest way each database allows.
import Database from "better-sqlite3";
import neo4j from "neo4j-driver";
import type { GraphOp } from "../core/graph/model.js";
import type { DevEnvState } from "../scripts/devenv/env.js";
import type { StatementCounter } from "./statement-counter.js";

const NEO4J_CHUNK = 1_000;
const BASELINE_LABEL = "KoBenchRaw";

export interface Baseline {
  what: string;
  seconds: number;
  rowsPerSecond: number;
  statements: number;
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
export function sqliteBaseline(path: string, batches: readonly GraphOp[][], counter: StatementCounter): Baseline {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(
    "CREATE TABLE nodes (key TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL); CREATE TABLE edges (type TEXT, from_key TEXT, to_key TEXT, props TEXT)",
  );
  const node = db.prepare(
    "INSERT INTO nodes (key, label, props) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET label = excluded.label, props = excluded.props",
  );
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
  return {
    what: "prepared INSERT (nodes upserted on a primary key; edges into a table without indexes), one transaction per batch",
    seconds,
    rowsPerSecond: rows / seconds,
    statements: counter.count - before,
  };
}

/** One UNWIND per 1,000 rows into Neo4j: nodes MERGEd on a uniquely constrained key, then
 *  edges MATCHing both ends; one transaction per batch. Removed afterwards. */
export async function neo4jBaseline(env: DevEnvState, batches: readonly GraphOp[][], counter: StatementCounter): Promise<Baseline> {
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
            await tx.run(`UNWIND $rows AS r MERGE (n:${BASELINE_LABEL} {key: r.key}) SET n.label = r.label, n.props = r.props`, {
              rows: batch.nodes.slice(i, i + NEO4J_CHUNK),
            });
          }
          for (let i = 0; i < batch.edges.length; i += NEO4J_CHUNK) {
            await tx.run(
              `UNWIND $rows AS r MATCH (a:${BASELINE_LABEL} {key: r.from}), (b:${BASELINE_LABEL} {key: r.to}) CREATE (a)-[:RAW {type: r.type, props: r.props}]->(b)`,
              {
                rows: batch.edges.slice(i, i + NEO4J_CHUNK),
              },
            );
          }
        });
      } finally {
        await session.close();
      }
      rows += batch.nodes.length + batch.edges.length;
    }
    const seconds = (performance.now() - started) / 1000;
    const statements = counter.count - before;
    return {
      what: "UNWIND of 1,000 rows per query (nodes MERGEd on a uniquely constrained key, edges MATCHing both ends), one transaction per batch",
      seconds,
      rowsPerSecond: rows / seconds,
      statements,
    };
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
