// The storage schema version of a Neo4j graph (core/graph/schema-version.ts): one node
// (:KoMeta {id: "graph", schemaVersion}) per database, beside the :KoWriter registrations.
// Not an :Entity, so export, stats, who-uses and verify never see it.
import neo4j, { isInt, type Driver } from "neo4j-driver";
import { ENTITY_LABEL, SELECTOR_LABEL } from "./model.js";
import { WRITER_LABEL } from "./neo4j-writer.js";
import {
  describeFound,
  GRAPH_SCHEMA_VERSION,
  GraphSchemaError,
  newerSchemaError,
  unreadableSchemaError,
  writeAction,
  type FoundSchema,
  type StorageSchemaStatus,
} from "./schema-version.js";

export const META_LABEL = "KoMeta";

export const META_CONSTRAINT = `CREATE CONSTRAINT ko_meta_id IF NOT EXISTS FOR (m:${META_LABEL}) REQUIRE m.id IS UNIQUE`;

const READ = `
OPTIONAL MATCH (m:${META_LABEL} {id: 'graph'})
RETURN m.schemaVersion AS version,
       EXISTS { MATCH (:${ENTITY_LABEL}) } OR EXISTS { MATCH (:${SELECTOR_LABEL}) } AS hasData`;

const STAMP = `
MERGE (m:${META_LABEL} {id: 'graph'})
SET m.schemaVersion = $version, m.stampedAt = datetime()`;

/** Registrations whose heartbeat is younger than the lease (neo4j-writer.ts). */
const LIVE_WRITERS = `
MATCH (w:${WRITER_LABEL}) WHERE timestamp() - w.heartbeat < $leaseMs
RETURN w.cluster AS cluster, w.pid AS pid, w.host AS host`;

/** Auto-commit only (CALL … IN TRANSACTIONS): a large graph is deleted in batches. */
const DELETE_GRAPH = `
MATCH (n) WHERE n:${ENTITY_LABEL} OR n:${SELECTOR_LABEL}
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS`;

/**
 * In-place steps, by the version they start from. 0 → 1 (a graph written before versions
 * were recorded): nothing to change. Every release before stored the same labels and
 * properties, and its constraints and indexes are a subset of today's, which init()
 * creates (IF NOT EXISTS) in any case; the step is the stamp.
 */
const MIGRATIONS: Record<number, (driver: Driver, database: string | undefined) => Promise<void>> = {
  0: async () => undefined,
  // 2 changed the embedded graph's tables only.
  1: async () => undefined,
};

export async function readNeo4jSchema(driver: Driver, database: string | undefined, where: string): Promise<FoundSchema> {
  const { records } = await driver.executeQuery(READ, {}, { database, routing: neo4j.routing.READ });
  const record = records[0];
  const raw: unknown = record?.get("version");
  if (raw === null || raw === undefined) return record?.get("hasData") === true ? "unversioned" : "empty";
  const version = isInt(raw) ? raw.toNumber() : Number(raw);
  if (!Number.isInteger(version) || version < 1) {
    throw new GraphSchemaError(
      where,
      "unversioned",
      `${where} has an unrecognised graph storage version ${JSON.stringify(String(raw))} on (:${META_LABEL} {id: "graph"}); ` +
        `this kube-observer writes version ${GRAPH_SCHEMA_VERSION}. Fix or delete that node (deleting it makes the agent treat the graph as written before versions).`,
    );
  }
  return version;
}

/** What a writing agent does with what it found (throws for a newer graph). */
export function planNeo4jWrite(found: FoundSchema, where: string): StorageSchemaStatus {
  const from = found === "unversioned" ? 0 : found;
  const canMigrate = typeof from === "number" && from < GRAPH_SCHEMA_VERSION && hasSteps(from);
  const action = writeAction(found, canMigrate);
  if (action === "refuse") throw newerSchemaError(where, found as number, "use another database");
  return { found, version: action === "keep" ? (found as number) : GRAPH_SCHEMA_VERSION, action };
}

/** The steps before the schema statements: migration steps, or emptying the graph. init()
 *  runs before the writer registration, and the graph is the database's (every cluster's),
 *  so it is emptied only while no agent holds a live registration. */
export async function applyNeo4jWrite(
  driver: Driver,
  database: string | undefined,
  status: StorageSchemaStatus,
  where: string,
  leaseSeconds: number,
): Promise<void> {
  if (status.action === "migrate") {
    for (let v = status.found === "unversioned" ? 0 : (status.found as number); v < GRAPH_SCHEMA_VERSION; v++) await MIGRATIONS[v]!(driver, database);
  }
  if (status.action === "rebuild") {
    const { records } = await driver.executeQuery(LIVE_WRITERS, { leaseMs: leaseSeconds * 1000 }, { database, routing: neo4j.routing.READ });
    if (records.length > 0) {
      const writers = records.map((r) => `cluster ${JSON.stringify(r.get("cluster"))} (pid ${String(r.get("pid"))} on host ${String(r.get("host"))})`);
      throw new GraphSchemaError(
        where,
        status.found,
        `${where} has graph storage ${describeFound(status.found)}, which cannot be migrated to version ${GRAPH_SCHEMA_VERSION}: the graph must be emptied and rebuilt, ` +
          `but agents are writing it now: ${writers.join(", ")}. Stop them (every agent writing this database needs this version), then start this one.`,
      );
    }
    const session = driver.session({ database, defaultAccessMode: neo4j.session.WRITE });
    try {
      await session.run(DELETE_GRAPH);
    } finally {
      await session.close();
    }
  }
}

/** Recorded last, after constraints and indexes: an init that fails before is redone whole. */
export async function stampNeo4jSchema(driver: Driver, database: string | undefined): Promise<void> {
  await driver.executeQuery(STAMP, { version: neo4j.int(GRAPH_SCHEMA_VERSION) }, { database });
}

/** A read-only open: a graph at another version is not read (reads never migrate). An
 *  empty database is fine: there is nothing to misread. */
export function checkNeo4jReadable(found: FoundSchema, where: string): StorageSchemaStatus {
  if (found === "empty") return { found, version: GRAPH_SCHEMA_VERSION, action: "create" };
  if (found !== GRAPH_SCHEMA_VERSION) throw unreadableSchemaError(where, found);
  return { found, version: found, action: "keep" };
}

function hasSteps(from: number): boolean {
  for (let v = from; v < GRAPH_SCHEMA_VERSION; v++) if (!MIGRATIONS[v]) return false;
  return true;
}
