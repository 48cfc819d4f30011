// The embedded graph's tables, and its storage schema version (core/graph/schema-version.ts).
//
// The version is SQLite's `PRAGMA user_version`, not a row of kube_observer_meta: it lives
// in the file header, so it is set in the same transaction as the DDL it describes (a
// crash mid-migration leaves the old version with the old tables), it exists before any
// table does (a reader can tell "no graph yet" from "old graph"), and `sqlite3 graph.sqlite
// 'PRAGMA user_version'` shows it. 0 is SQLite's default: a file that has graph tables and
// version 0 was written before versions were recorded.
import type Database from "better-sqlite3";
import { META_TABLE } from "../lock/meta-table.js";
import { HISTORY_TABLES } from "../history/schema.js";
import {
  GRAPH_SCHEMA_VERSION,
  GraphSchemaError,
  newerSchemaError,
  unreadableSchemaError,
  writeAction,
  type FoundSchema,
  type StorageSchemaStatus,
} from "./schema-version.js";

const GRAPH_TABLES = ["nodes", "edges", "selectors"] as const;

/** The columns the code reads and writes, per table (what a migration must provide). */
const COLUMNS: Record<(typeof GRAPH_TABLES)[number], readonly string[]> = {
  nodes: ["key", "label", "owner", "observed", "scope", "props"],
  edges: ["type", "from_key", "to_key", "owner", "props"],
  selectors: ["owner", "from_key", "type", "scope", "spec", "props"],
};

const CREATE_EDGES = `
  CREATE TABLE edges (
    type TEXT NOT NULL, from_key TEXT NOT NULL, to_key TEXT NOT NULL, owner TEXT NOT NULL,
    props TEXT NOT NULL, selected INTEGER NOT NULL DEFAULT 0)`;

/** Version 2: each row carries when its current version began (the observation time, the
 *  resourceVersion, and for a node the kind of change): the history's open version is the
 *  row itself (core/history/recorder.ts), so keeping history costs columns, not rows. */
const STAMP_COLUMNS = {
  nodes: ["h_ms INTEGER", "h_rv TEXT", "h_kind TEXT"],
  edges: ["h_ms INTEGER", "h_rv TEXT"],
} as const;

/** Version 1 (version 2 adds STAMP_COLUMNS). Only the indexes a query uses (EXPLAIN QUERY PLAN:
 *  test/unit/graph/sqlite-plans.test.ts); the edge identity index starts with from_key, so
 *  it also serves the lookups by start. IF NOT EXISTS: a migration runs it over tables it
 *  has brought to this shape. */
const CREATE_V1 = `
  CREATE TABLE IF NOT EXISTS nodes (
    key TEXT PRIMARY KEY, label TEXT NOT NULL, owner TEXT, observed INTEGER NOT NULL,
    scope TEXT, props TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS nodes_owner ON nodes(owner);
  CREATE INDEX IF NOT EXISTS nodes_scope ON nodes(scope) WHERE scope IS NOT NULL;
  CREATE TABLE IF NOT EXISTS selectors (
    owner TEXT NOT NULL, from_key TEXT NOT NULL, type TEXT NOT NULL, scope TEXT NOT NULL,
    spec TEXT NOT NULL, props TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS selectors_owner ON selectors(owner);
  CREATE INDEX IF NOT EXISTS selectors_scope ON selectors(scope);
  ${CREATE_EDGES.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")};
  CREATE UNIQUE INDEX IF NOT EXISTS edges_identity ON edges(from_key, type, to_key, owner, props);
  CREATE INDEX IF NOT EXISTS edges_owner ON edges(owner);
  CREATE INDEX IF NOT EXISTS edges_to ON edges(to_key);
  CREATE INDEX IF NOT EXISTS edges_selected_to ON edges(to_key) WHERE selected = 1;
`;

function addStampColumns(db: Database.Database): void {
  for (const [table, columns] of Object.entries(STAMP_COLUMNS)) {
    const have = columnsOf(db, table);
    for (const column of columns) if (!have.includes(column.split(" ")[0]!)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
  }
}

/**
 * In-place steps, by the version they start from. 0 → 1: every graph written before
 * versions were recorded (they differ only in what a later release added): the
 * `selectors` table (added with label selectors), the edges table in its current shape
 * (`selected` column — such graphs' edges are all declared ones, 0 — and the identity
 * index starting with from_key instead of UNIQUE (type, from_key, …) plus edges_from),
 * and no nodes_label index.
 */
const MIGRATIONS: Record<number, (db: Database.Database) => void> = {
  0: (db) => {
    if (tableExists(db, "edges")) {
      const selected = columnsOf(db, "edges").includes("selected") ? "selected" : "0";
      db.exec(`
        ${CREATE_EDGES.replace("CREATE TABLE edges", "CREATE TABLE edges_v1")};
        INSERT INTO edges_v1 (type, from_key, to_key, owner, props, selected)
          SELECT type, from_key, to_key, owner, props, ${selected} FROM edges;
        DROP TABLE edges;
        ALTER TABLE edges_v1 RENAME TO edges;
      `);
    }
    db.exec("DROP INDEX IF EXISTS nodes_label");
    db.exec(CREATE_V1);
  },
  // 1 → 2: the stamp columns (empty: the history stamps such rows when it is next on).
  1: (db) => addStampColumns(db),
};

export interface SqliteSchemaFinding {
  found: FoundSchema;
  /** Tables that are neither the graph's nor kube-observer's meta table. */
  foreign: string[];
  /** Whether in-place steps lead from what was found to GRAPH_SCHEMA_VERSION. */
  canMigrate: boolean;
}

export function inspectSqliteSchema(db: Database.Database): SqliteSchemaFinding {
  const version = db.pragma("user_version", { simple: true }) as number;
  const tables = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    .all()
    .map((t) => t.name);
  const ours = new Set<string>([...GRAPH_TABLES, META_TABLE, ...HISTORY_TABLES]);
  const foreign = tables.filter((t) => !ours.has(t)).sort();
  const graphTables = GRAPH_TABLES.filter((t) => tables.includes(t));
  const found: FoundSchema = version > 0 ? version : graphTables.length === 0 ? "empty" : "unversioned";
  // A graph from before versions is migrated only if its tables have the columns the steps
  // read; anything else of ours is rebuilt.
  const canMigrate =
    found === "unversioned"
      ? hasSteps(0) && tables.includes("nodes") && graphTables.every((t) => COLUMNS[t].every((c) => columnsOf(db, t).includes(c)))
      : typeof found === "number" && found < GRAPH_SCHEMA_VERSION && hasSteps(found);
  return { found, foreign, canMigrate };
}

/**
 * What opening the file for writing will do. Throws (and nothing is written) for a file
 * written by a newer kube-observer, and for a file that is some other database.
 */
export function planSqliteWrite(db: Database.Database, where: string): StorageSchemaStatus {
  const { found, foreign, canMigrate } = inspectSqliteSchema(db);
  if (typeof found !== "number" && foreign.length > 0) {
    throw new GraphSchemaError(
      where,
      found,
      `${where} is not a kube-observer embedded graph: it has the tables ${foreign.join(", ")} and no graph storage version. ` +
        "Point sink.sqlitePath at a file of its own (the agent creates it). Nothing was changed.",
    );
  }
  const action = writeAction(found, canMigrate);
  if (action === "refuse") throw newerSchemaError(where, found as number, "point sink.sqlitePath at a new file");
  return { found, version: typeof found === "number" && action === "keep" ? found : GRAPH_SCHEMA_VERSION, action };
}

/** Brings the file to GRAPH_SCHEMA_VERSION as planned, in one transaction. */
export function applySqliteWrite(db: Database.Database, status: StorageSchemaStatus): void {
  if (status.action === "keep") return;
  db.transaction(() => {
    if (status.action === "migrate") {
      for (let v = status.found === "unversioned" ? 0 : (status.found as number); v < GRAPH_SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    } else {
      if (status.action === "rebuild") for (const t of GRAPH_TABLES) db.exec(`DROP TABLE IF EXISTS ${t}`);
      db.exec(CREATE_V1);
      addStampColumns(db);
    }
    db.pragma(`user_version = ${GRAPH_SCHEMA_VERSION}`);
  })();
}

/** A read-only open: only a file at this agent's version is read (reads never migrate). */
export function checkSqliteReadable(db: Database.Database, where: string): StorageSchemaStatus {
  const { found } = inspectSqliteSchema(db);
  if (found === "empty") throw new Error(`${where} holds no graph yet (has the agent run with this config?)`);
  if (found !== GRAPH_SCHEMA_VERSION) throw unreadableSchemaError(where, found);
  return { found, version: found, action: "keep" };
}

function hasSteps(from: number): boolean {
  for (let v = from; v < GRAPH_SCHEMA_VERSION; v++) if (!MIGRATIONS[v]) return false;
  return true;
}

function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function columnsOf(db: Database.Database, table: string): string[] {
  return db
    .prepare<[], { name: string }>(`PRAGMA table_info(${table})`)
    .all()
    .map((c) => c.name);
}
