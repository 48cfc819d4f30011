// Reading the bench's graph back (outside any timing): observed nodes per label, all
// nodes and edges — to prove the initial sync complete — and, for Neo4j (shared with
// other users of the local environment), removing only what the bench wrote.
import Database from "better-sqlite3";
import neo4j from "neo4j-driver";
import type { DevEnvState } from "../scripts/devenv/env.js";
import { BENCH_CLUSTER, BENCH_REGISTRY } from "./tiers.js";

export interface GraphCounts {
  /** Observed object nodes per label (Pod, ConfigMap, …) in the namespaces asked about. */
  observed: Record<string, number>;
  nodes: number;
  edges: number;
}

const PREFIX = `${BENCH_CLUSTER}/`;

/** Observed nodes are counted in `namespaces` only: other users of the local cluster may
 *  create namespaces while the agent (namespace "*") runs. */
export function sqliteCounts(path: string, namespaces: readonly string[]): GraphCounts {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const wanted = new Set(namespaces);
    const observed: Record<string, number> = {};
    const rows = db
      .prepare<[], { scope: string; n: number }>("SELECT scope, count(*) AS n FROM nodes WHERE observed = 1 AND scope IS NOT NULL GROUP BY scope")
      .all();
    for (const { scope, n } of rows) {
      // scope: cluster/namespace/Label
      const [, ns, label] = scope.split("/");
      if (ns !== undefined && label !== undefined && wanted.has(ns)) observed[label] = (observed[label] ?? 0) + n;
    }
    const nodes = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM nodes").get()!.n;
    const edges = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM edges").get()!.n;
    return { observed, nodes, edges };
  } finally {
    db.close();
  }
}

function driver(env: DevEnvState): neo4j.Driver {
  return neo4j.driver(env.neo4j.boltUrl, neo4j.auth.basic(env.neo4j.user, env.neo4j.password));
}

const toNumber = (v: unknown): number => (neo4j.isInt(v) ? (v as neo4j.Integer).toNumber() : Number(v));

/** Only nodes whose key is the bench's: "bench/…" objects and the bench registry's images. */
export async function neo4jCounts(env: DevEnvState, labels: readonly string[], namespaces: readonly string[]): Promise<GraphCounts> {
  const d = driver(env);
  try {
    const observed: Record<string, number> = {};
    for (const label of labels) {
      if (!/^[A-Z][A-Za-z0-9]*$/.test(label)) continue;
      const r = await d.executeQuery(
        `MATCH (n:${label}) WHERE n.key STARTS WITH $p AND n.observed = true AND n.scope IS NOT NULL AND n.namespace IN $ns RETURN count(n) AS n`,
        {
          p: PREFIX,
          ns: namespaces,
        },
      );
      observed[label] = toNumber(r.records[0]?.get("n"));
    }
    const nodes = await d.executeQuery("MATCH (n:Entity) WHERE n.key STARTS WITH $p OR n.key STARTS WITH $r RETURN count(n) AS n", {
      p: PREFIX,
      r: BENCH_REGISTRY,
    });
    const edges = await d.executeQuery("MATCH (n:Entity)-[e]->() WHERE n.key STARTS WITH $p OR n.key STARTS WITH $r RETURN count(e) AS n", {
      p: PREFIX,
      r: BENCH_REGISTRY,
    });
    return { observed, nodes: toNumber(nodes.records[0]?.get("n")), edges: toNumber(edges.records[0]?.get("n")) };
  } finally {
    await d.close();
  }
}

/** Deletes the bench's nodes (and their edges) in batches; nobody else's. */
export async function cleanNeo4j(env: DevEnvState): Promise<number> {
  const d = driver(env);
  const session = d.session();
  try {
    let deleted = 0;
    for (;;) {
      const r = await session.run(
        "MATCH (n:Entity) WHERE n.key STARTS WITH $p OR n.key STARTS WITH $r WITH n LIMIT 5000 DETACH DELETE n RETURN count(*) AS n",
        { p: PREFIX, r: BENCH_REGISTRY },
      );
      const n = toNumber(r.records[0]?.get("n"));
      deleted += n;
      if (n === 0) return deleted;
    }
  } finally {
    await session.close();
    await d.close();
  }
}

export async function neo4jVersion(env: DevEnvState): Promise<string> {
  const d = driver(env);
  try {
    const r = await d.executeQuery("CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS version, edition");
    const row = r.records[0];
    return row ? `${row.get("name")} ${row.get("version")} ${row.get("edition")}` : "unknown";
  } finally {
    await d.close();
  }
}
