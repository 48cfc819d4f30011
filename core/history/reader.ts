// Reads the history (read-only, beside a running agent): an object's versions and its
// edges' intervals, who used an object when, the graph as it was at a moment, and the
// coverage that says up to when each scope's history is complete.
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import type { ExportLine, GraphStats, IncomingEdge } from "../graph/model.js";
import { compareCodePoints, compareEdges, edgeSortKey, sortedKeys } from "../graph/order.js";
import { HISTORY_SCHEMA_VERSION, hasHistoryTables, readMeta, registerHistoryProps } from "./schema.js";

// The versions as one: those that ended (the history's tables) and those that hold now (the
// graph's rows, stamped with when they began). SQLite pushes a reader's conditions into
// both arms, so each keeps its indexes.
const OPEN_ID = 2 ** 50;
const VIEWS = `
  CREATE TEMP VIEW h_nodes AS
    SELECT id, key, label, observed, owner, scope, props, from_ms, from_rv, from_kind, to_ms, to_rv, to_kind FROM main.history_nodes
    UNION ALL
    SELECT ${OPEN_ID} + rowid, key, label, observed, owner, scope, ko_history_props(props), h_ms, h_rv, h_kind, NULL, NULL, NULL
      FROM main.nodes WHERE h_ms IS NOT NULL;
  CREATE TEMP VIEW h_edges AS
    SELECT id, type, from_key, to_key, owner, props, selected, from_ms, from_rv, from_kind, to_ms, to_rv, to_kind FROM main.history_edges
    UNION ALL
    SELECT ${OPEN_ID} + rowid, type, from_key, to_key, owner, props, selected, h_ms, h_rv, 'created', NULL, NULL, NULL
      FROM main.edges WHERE h_ms IS NOT NULL;
`;

/** "paused": the agent went on without history (what happened next is not recorded);
 *  "resumed": the version that held when history was on again. */
export type ChangeKind = "created" | "changed" | "deleted" | "placeholder" | "paused" | "resumed";

/** The columns every version has: when, by which change, it began and ended. */
interface StampColumns {
  id: number;
  props: string;
  from_ms: number;
  from_rv: string | null;
  from_kind: ChangeKind;
  to_ms: number | null;
  to_rv: string | null;
  to_kind: ChangeKind | null;
}

interface NodeVersionRow extends StampColumns {
  key: string;
  label: string;
  observed: number;
  owner: string | null;
  scope: string | null;
}

interface EdgeVersionRow extends StampColumns {
  type: string;
  from_key: string;
  to_key: string;
  owner: string;
  selected: number;
}

/** When a version held: [fromMs, toMs), toMs null while it still holds. */
export interface Interval {
  fromMs: number;
  toMs: number | null;
}

export interface NodeVersion extends Interval {
  key: string;
  label: string;
  observed: boolean;
  properties: Record<string, unknown>;
  fromRv: string | null;
  fromKind: ChangeKind;
  toRv: string | null;
  toKind: ChangeKind | null;
}

export interface EdgeVersion extends Interval {
  rel: string;
  from: string;
  to: string;
  owner: string;
  properties: Record<string, unknown>;
  /** declared by its owner, made by a selector, or derived (attack edges). */
  origin: "declared" | "selected" | "derived";
  fromRv: string | null;
  toRv: string | null;
}

export interface CoverageInterval extends Interval {
  scope: string;
  /** "start": the first list of an agent process; "relist": a later one (the changes since
   *  the previous interval's end may have been missed). */
  reason: "start" | "relist";
  fromRv: string | null;
  toMs: number;
  toRv: string | null;
}

const ORIGINS = ["declared", "selected", "derived"] as const;

function nodeVersion(row: NodeVersionRow): NodeVersion {
  return {
    key: row.key,
    label: row.label,
    observed: row.observed === 1,
    properties: nodeProperties(row),
    fromMs: row.from_ms,
    toMs: row.to_ms,
    fromRv: row.from_rv,
    fromKind: row.from_kind,
    toRv: row.to_rv,
    toKind: row.to_kind,
  };
}

function edgeVersion(row: EdgeVersionRow): EdgeVersion {
  return {
    rel: row.type,
    from: row.from_key,
    to: row.to_key,
    owner: row.owner,
    properties: JSON.parse(row.props) as Record<string, unknown>,
    origin: ORIGINS[row.selected] ?? "declared",
    fromMs: row.from_ms,
    toMs: row.to_ms,
    fromRv: row.from_rv,
    toRv: row.to_rv,
  };
}

/** As the live graph exports a node (less observedAt: a version holds over an interval). */
function nodeProperties(row: Pick<NodeVersionRow, "props" | "observed" | "owner" | "scope">): Record<string, unknown> {
  const props = JSON.parse(row.props) as Record<string, unknown>;
  props.observed = row.observed === 1;
  if (row.owner !== null) props.owner = row.owner;
  if (row.scope !== null) props.scope = row.scope;
  return sortedKeys(props);
}

const AT = "from_ms <= :at AND (to_ms IS NULL OR to_ms > :at)";
const OVERLAPS = "from_ms <= :to AND (to_ms IS NULL OR to_ms > :from)";

export class HistoryReader {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  static open(path: string): HistoryReader {
    if (!existsSync(path)) throw new Error(`no history at ${path} (is history enabled in the config, and has the agent run with it?)`);
    const db = new Database(path, { readonly: true, fileMustExist: true });
    if (!hasHistoryTables(db)) {
      db.close();
      throw new Error(`${path} holds no history (is history enabled in the config, and has the agent run with it?)`);
    }
    const version = Number(readMeta(db, "version") ?? 0);
    if (version !== HISTORY_SCHEMA_VERSION) {
      db.close();
      throw new Error(
        version > HISTORY_SCHEMA_VERSION
          ? `${path} holds a history written by a newer kube-observer (history version ${version}); read it with that version`
          : `${path} holds a history of version ${version}; this kube-observer reads version ${HISTORY_SCHEMA_VERSION}: run the agent of this version once with this config to migrate it`,
      );
    }
    registerHistoryProps(db);
    db.exec(VIEWS);
    return new HistoryReader(db, path);
  }

  close(): void {
    this.db.close();
  }

  /** Versions before this time were pruned by retention (undefined: none were). */
  prunedBeforeMs(): number | undefined {
    const value = readMeta(this.db, "pruned_before_ms");
    return value === undefined ? undefined : Number(value);
  }

  /** Every version of a node, oldest first. */
  versions(key: string): NodeVersion[] {
    return this.db.prepare<[string], NodeVersionRow>("SELECT * FROM h_nodes WHERE key = ? ORDER BY from_ms, id").all(key).map(nodeVersion);
  }

  /** Every version of the edges into and out of a node, oldest first. */
  edgesOf(key: string): { incoming: EdgeVersion[]; outgoing: EdgeVersion[] } {
    const read = (column: "to_key" | "from_key") =>
      this.db.prepare<[string], EdgeVersionRow>(`SELECT * FROM h_edges WHERE ${column} = ? ORDER BY from_ms, id`).all(key).map(edgeVersion);
    return { incoming: read("to_key"), outgoing: read("from_key") };
  }

  /** The edges into `key` that held at some time in [fromMs, toMs]. */
  incomingBetween(key: string, fromMs: number, toMs: number, from?: string): EdgeVersion[] {
    const sql = `SELECT * FROM h_edges WHERE to_key = :key AND ${OVERLAPS}${from === undefined ? "" : " AND from_key = :source"} ORDER BY from_ms, id`;
    return this.db
      .prepare<Record<string, unknown>, EdgeVersionRow>(sql)
      .all({ key, from: fromMs, to: toMs, ...(from === undefined ? {} : { source: from }) })
      .map(edgeVersion);
  }

  /** The version of a node that held at `atMs`, else the last one before it, else the first. */
  nodeNear(key: string, atMs: number): NodeVersion | undefined {
    const row =
      this.db
        .prepare<[string, number], NodeVersionRow>("SELECT * FROM h_nodes WHERE key = ? AND from_ms <= ? ORDER BY from_ms DESC, id DESC LIMIT 1")
        .get(key, atMs) ?? this.db.prepare<[string], NodeVersionRow>("SELECT * FROM h_nodes WHERE key = ? ORDER BY from_ms, id LIMIT 1").get(key);
    return row ? nodeVersion(row) : undefined;
  }

  /** The graph as it was at `atMs`. */
  at(atMs: number): GraphAtTime {
    return new GraphAtTime(this.db, atMs);
  }

  /** Every scope's intervals of coverage, by scope then time. */
  coverage(): CoverageInterval[] {
    return this.db
      .prepare<[], { scope: string; reason: "start" | "relist"; from_ms: number; from_rv: string | null; to_ms: number; to_rv: string | null }>(
        "SELECT scope, reason, from_ms, from_rv, to_ms, to_rv FROM history_coverage ORDER BY scope, from_ms, id",
      )
      .all()
      .map((r) => ({ scope: r.scope, reason: r.reason, fromMs: r.from_ms, fromRv: r.from_rv, toMs: r.to_ms, toRv: r.to_rv }));
  }

  /** Row counts and bytes of what the history holds (`history watermarks`, the bench). */
  size(): { nodeVersions: number; edgeVersions: number; bytes: number; tableBytes: number; stampBytes: number } {
    const count = (table: string) => this.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()!.n;
    const tableBytes = historyBytes(this.db);
    const stampBytes = this.stampBytes();
    return { nodeVersions: count("h_nodes"), edgeVersions: count("h_edges"), bytes: tableBytes + stampBytes, tableBytes, stampBytes };
  }

  /** What the open versions' stamp columns add to the graph's rows, as SQLite stores them:
   *  the values (a millisecond time takes 6 bytes) and a byte of record header each. */
  private stampBytes(): number {
    const sum = (sql: string) => this.db.prepare<[], { n: number | null }>(sql).get()?.n ?? 0;
    return (
      sum("SELECT sum(6 + 3 + coalesce(length(h_rv), 0) + coalesce(length(h_kind), 0)) AS n FROM main.nodes WHERE h_ms IS NOT NULL") +
      sum("SELECT sum(6 + 2 + coalesce(length(h_rv), 0)) AS n FROM main.edges WHERE h_ms IS NOT NULL")
    );
  }
}

/** Bytes the history's tables and indexes take in the file (SQLite's dbstat). */
export function historyBytes(db: Database.Database): number {
  return (
    db
      .prepare<[], { bytes: number | null }>(
        "SELECT sum(pgsize) AS bytes FROM dbstat('main', 1) WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name LIKE 'history\\_%' ESCAPE '\\')",
      )
      .get()?.bytes ?? 0
  );
}

/** The graph at one moment, read the way the live graph is (export, subgraph, incoming,
 *  stats), so graph export, who-uses and who-can answer for the past unchanged. */
export class GraphAtTime {
  constructor(
    private readonly db: Database.Database,
    readonly atMs: number,
  ) {}

  private nodes(where = "", params: Record<string, unknown> = {}): NodeVersionRow[] {
    return this.db.prepare<Record<string, unknown>, NodeVersionRow>(`SELECT * FROM h_nodes WHERE ${AT}${where}`).all({ at: this.atMs, ...params });
  }

  private edges(where = "", params: Record<string, unknown> = {}): EdgeVersionRow[] {
    return this.db.prepare<Record<string, unknown>, EdgeVersionRow>(`SELECT * FROM h_edges WHERE ${AT}${where}`).all({ at: this.atMs, ...params });
  }

  private lines(nodes: NodeVersionRow[], edges: EdgeVersionRow[]): ExportLine[] {
    nodes.sort((a, b) => compareCodePoints(a.key, b.key));
    const sorted = edges.map((row) => {
      const line: ExportLine = { type: "edge", rel: row.type, from: row.from_key, to: row.to_key, properties: edgeProperties(row) };
      return { line, sort: edgeSortKey({ rel: row.type, from: row.from_key, to: row.to_key, properties: line.properties }) };
    });
    sorted.sort((a, b) => compareEdges(a.sort, b.sort));
    return [
      ...nodes.map((row): ExportLine => ({ type: "node", labels: [row.label], key: row.key, properties: nodeProperties(row) })),
      ...sorted.map((s) => s.line),
    ];
  }

  async *export(): AsyncIterable<ExportLine> {
    yield* this.lines(this.nodes(), this.edges());
  }

  async subgraph(labels: readonly string[], rels: readonly string[]): Promise<ExportLine[]> {
    return this.lines(
      this.nodes(" AND label IN (SELECT value FROM json_each(:labels))", { labels: JSON.stringify(labels) }),
      this.edges(" AND type IN (SELECT value FROM json_each(:rels))", { rels: JSON.stringify(rels) }),
    );
  }

  async incoming(key: string): Promise<IncomingEdge[]> {
    const edges = this.edges(" AND to_key = :key", { key });
    const sources = new Map(
      this.nodes(" AND key IN (SELECT value FROM json_each(:keys))", { keys: JSON.stringify([...new Set(edges.map((e) => e.from_key))]) }).map((n) => [
        n.key,
        n,
      ]),
    );
    const result = edges.flatMap((e) => {
      const from = sources.get(e.from_key);
      if (!from) return [];
      const properties = edgeProperties(e);
      return [
        {
          sort: edgeSortKey({ rel: e.type, from: e.from_key, to: e.to_key, properties }),
          edge: { rel: e.type, properties, from: { labels: [from.label], key: from.key, properties: nodeProperties(from) } },
        },
      ];
    });
    result.sort((a, b) => compareEdges(a.sort, b.sort));
    return result.map((r) => r.edge);
  }

  async stats(): Promise<GraphStats> {
    const count = (table: string, column: string) =>
      Object.fromEntries(
        this.db
          .prepare<{ at: number }, { name: string; n: number }>(
            `SELECT ${column} AS name, count(*) AS n FROM ${table} WHERE ${AT} GROUP BY ${column} ORDER BY ${column}`,
          )
          .all({ at: this.atMs })
          .map((r) => [r.name, r.n]),
      );
    return { nodes: count("h_nodes", "label"), edges: count("h_edges", "type") };
  }
}

function edgeProperties(row: Pick<EdgeVersionRow, "props" | "owner">): Record<string, unknown> {
  return sortedKeys({ ...(JSON.parse(row.props) as Record<string, unknown>), owner: row.owner });
}
