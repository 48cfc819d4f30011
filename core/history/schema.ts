// The history's tables (issue 17): every version of every node and edge with the interval
// in which it held, and, per observed scope, the intervals in which the agent watched it
// (what makes a missing change a gap rather than "nothing happened"). They live in a
// SQLite file beside the graph: the embedded graph's own file, or, with Neo4j, a file of
// their own beside the WAL (with a copy of the current graph the versions are cut from).
//
// The tables hold the versions that ended; the version that holds now is the graph row
// itself, stamped with when it began (graph storage version 2: h_ms, h_rv, h_kind). A
// reader sees both as one (core/history/reader.ts). Times are the observation times of
// the changes (ms since the epoch); rv is the resourceVersion of the change that opened
// or closed a version (null for a derived edge).
import type Database from "better-sqlite3";

/** 1: open versions were rows of the history tables (to_ms NULL); 2: they are the graph's
 *  rows, and the tables hold ended versions only. */
export const HISTORY_SCHEMA_VERSION = 2;

export const HISTORY_TABLES = ["history_nodes", "history_edges", "history_coverage", "history_meta"] as const;

const CREATE = `
  CREATE TABLE IF NOT EXISTS history_nodes (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, label TEXT NOT NULL, observed INTEGER NOT NULL,
    owner TEXT, scope TEXT, props TEXT NOT NULL,
    from_ms INTEGER NOT NULL, from_rv TEXT, from_kind TEXT NOT NULL,
    to_ms INTEGER, to_rv TEXT, to_kind TEXT);
  -- A key's versions in order (its timeline, and the open one: to_ms IS NULL sorts first).
  CREATE INDEX IF NOT EXISTS history_nodes_key ON history_nodes(key, to_ms);
  CREATE INDEX IF NOT EXISTS history_nodes_ended ON history_nodes(to_ms) WHERE to_ms IS NOT NULL;
  CREATE TABLE IF NOT EXISTS history_edges (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, from_key TEXT NOT NULL, to_key TEXT NOT NULL,
    owner TEXT NOT NULL, props TEXT NOT NULL, selected INTEGER NOT NULL,
    from_ms INTEGER NOT NULL, from_rv TEXT, from_kind TEXT NOT NULL,
    to_ms INTEGER, to_rv TEXT, to_kind TEXT);
  -- An edge's versions (the open one is found among them; the recorder never opens two)
  -- and, by its prefix, the edges out of a node; then the edges into a node. No more:
  -- every index is paid for by each change (a moment in time is read by a scan).
  CREATE INDEX IF NOT EXISTS history_edges_identity ON history_edges(from_key, type, to_key);
  CREATE INDEX IF NOT EXISTS history_edges_to ON history_edges(to_key);
  CREATE INDEX IF NOT EXISTS history_edges_ended ON history_edges(to_ms) WHERE to_ms IS NOT NULL;
  CREATE TABLE IF NOT EXISTS history_coverage (
    id INTEGER PRIMARY KEY, scope TEXT NOT NULL, reason TEXT NOT NULL,
    from_ms INTEGER NOT NULL, from_rv TEXT, to_ms INTEGER NOT NULL, to_rv TEXT);
  CREATE INDEX IF NOT EXISTS history_coverage_scope ON history_coverage(scope, id);
  CREATE TABLE IF NOT EXISTS history_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** Creates the tables (idempotent; true when they are new), migrates an older history,
 *  refuses a file whose history a newer agent wrote. The graph tables are at storage
 *  version 2. */
export function ensureHistoryTables(db: Database.Database, where: string): boolean {
  const existed = hasHistoryTables(db);
  db.exec(CREATE);
  const found = readMeta(db, "version");
  if (found !== undefined && Number(found) > HISTORY_SCHEMA_VERSION) {
    throw new Error(
      `${where} holds a history written by a newer kube-observer (history version ${found}; this one writes ${HISTORY_SCHEMA_VERSION}). Upgrade the agent, or point history.path at another file.`,
    );
  }
  if (found !== undefined && Number(found) < 2) migrateOpenVersions(db);
  if (found === undefined || Number(found) < HISTORY_SCHEMA_VERSION) writeMeta(db, "version", String(HISTORY_SCHEMA_VERSION));
  return !existed;
}

/** History version 1 → 2: each open version's stamp moves onto its graph row; an open
 *  version whose row is gone (none should be) ends now. */
function migrateOpenVersions(db: Database.Database): void {
  const now = Date.now();
  db.exec(`
    UPDATE nodes SET (h_ms, h_rv, h_kind) = (SELECT h.from_ms, h.from_rv, h.from_kind FROM history_nodes AS h
      WHERE h.key = nodes.key AND h.to_ms IS NULL ORDER BY h.id DESC LIMIT 1);
    UPDATE edges SET (h_ms, h_rv) = (SELECT h.from_ms, h.from_rv FROM history_edges AS h
      WHERE h.from_key = edges.from_key AND h.type = edges.type AND h.to_key = edges.to_key AND h.owner = edges.owner
        AND h.props = edges.props AND h.to_ms IS NULL ORDER BY h.id DESC LIMIT 1);
    UPDATE history_nodes SET to_ms = max(${now}, from_ms), to_kind = 'deleted'
      WHERE to_ms IS NULL AND NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.key = history_nodes.key);
    UPDATE history_edges SET to_ms = max(${now}, from_ms), to_kind = 'deleted'
      WHERE to_ms IS NULL AND NOT EXISTS (SELECT 1 FROM edges AS e WHERE e.from_key = history_edges.from_key AND e.type = history_edges.type
        AND e.to_key = history_edges.to_key AND e.owner = history_edges.owner AND e.props = history_edges.props);
    DELETE FROM history_nodes WHERE to_ms IS NULL;
    DELETE FROM history_edges WHERE to_ms IS NULL;
  `);
}

/** Whether the file has history tables at all (a reader's check). */
export function hasHistoryTables(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history_nodes'").get() !== undefined;
}

export function readMeta(db: Database.Database, name: string): string | undefined {
  return db.prepare<[string], { value: string }>("SELECT value FROM history_meta WHERE name = ?").get(name)?.value;
}

export function writeMeta(db: Database.Database, name: string, value: string): void {
  db.prepare("INSERT INTO history_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(name, value);
}

/** Registers ko_history_props (historyProps in SQL) on a connection: the recorder's
 *  triggers, a pause and the readers' views compare and show props through it. */
export function registerHistoryProps(db: Database.Database): void {
  db.function("ko_history_props", { deterministic: true }, (props: unknown) => historyProps(String(props)));
}

/** Node properties as the history keeps them: without observedAt, which changes on every
 *  relist of an unchanged object (the version's own from_ms is its observation time). */
export function historyProps(props: string): string {
  const at = props.indexOf('"observedAt":"');
  if (at < 0) return props;
  const end = props.indexOf('"', at + 14);
  if (end < 0) return props;
  let from = at;
  let to = end + 1;
  // canonical JSON: `,"observedAt":"…"` in the middle or at the end, `"observedAt":"…",` first.
  if (props[to] === ",") to += 1;
  else if (props[from - 1] === ",") from -= 1;
  return props.slice(0, from) + props.slice(to);
}
