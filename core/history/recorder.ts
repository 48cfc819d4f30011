// Records the history inside the embedded graph's transactions: temporary triggers note
// every node and edge row an apply writes or removes; the noted rows are compared with
// their open versions, and only a real difference closes a version and opens the next. So a change is in the graph and in the history or in neither (one SQLite
// transaction), a relist or a replayed batch that finds an object unchanged adds nothing,
// and whatever the sink itself decides (a deleted object kept as a placeholder, a
// placeholder collected, the edges a selector makes) is recorded as it happened.
//
// Set-based statements over the noted rows keep the cost near the apply's own: they run
// once per batch (and between two ops of a batch on the same key, so that no version in
// between is lost), each change stamped with the op that wrote its key.
import type Database from "better-sqlite3";
import type { GraphOp } from "../graph/model.js";
import { originOf, type OpOrigin } from "./origin.js";
import { ensureHistoryTables, historyProps, readMeta, writeMeta } from "./schema.js";

// The triggers only append (the cheapest a trigger can do: no lookup, no conflict to
// resolve; an INSERT OR IGNORE in a trigger would take the conflict policy of the
// statement that fired it, and the graph's upsert aborts). The statements read the noted
// rows DISTINCT.
const TEMP = `
  CREATE TEMP TABLE IF NOT EXISTS ko_h_nodes (key TEXT NOT NULL);
  CREATE TEMP TABLE IF NOT EXISTS ko_h_edges (
    from_key TEXT NOT NULL, type TEXT NOT NULL, to_key TEXT NOT NULL, owner TEXT NOT NULL, props TEXT NOT NULL);
  CREATE TEMP TABLE IF NOT EXISTS ko_h_stamps (key TEXT PRIMARY KEY, ms INTEGER NOT NULL, rv TEXT) WITHOUT ROWID;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_node_insert AFTER INSERT ON main.nodes BEGIN INSERT INTO ko_h_nodes VALUES (new.key); END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_node_update AFTER UPDATE ON main.nodes BEGIN INSERT INTO ko_h_nodes VALUES (new.key); END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_node_delete AFTER DELETE ON main.nodes BEGIN INSERT INTO ko_h_nodes VALUES (old.key); END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_edge_insert AFTER INSERT ON main.edges
    BEGIN INSERT INTO ko_h_edges VALUES (new.from_key, new.type, new.to_key, new.owner, new.props); END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_edge_delete AFTER DELETE ON main.edges
    BEGIN INSERT INTO ko_h_edges VALUES (old.from_key, old.type, old.to_key, old.owner, old.props); END;
`;

const SAME_EDGE = (a: string, b: string) =>
  `${a}.from_key = ${b}.from_key AND ${a}.type = ${b}.type AND ${a}.to_key = ${b}.to_key AND ${a}.owner = ${b}.owner AND ${a}.props = ${b}.props`;

/** The stamp of a change: looked up per row from the keys the batch's ops wrote (the op
 *  that wrote the row's key, its owner, an end of the edge), else the one given (the
 *  batch's last op; for derived edges, now). */
function stamp(keys: readonly string[]): { ms: string; rv: string } {
  if (keys.length === 0) return { ms: ":ms", rv: ":rv" };
  const pick = (column: string) => `COALESCE(${keys.map((k) => `(SELECT ${column} FROM ko_h_stamps WHERE key = ${k})`).join(", ")}, :${column})`;
  return { ms: pick("ms"), rv: pick("rv") };
}

/** Where each statement finds its stamp (none: the one given). */
interface StampKeys {
  closedNodes: readonly string[];
  openedNodes: readonly string[];
  edges: readonly string[];
}

function flushStatements(db: Database.Database, keys: StampKeys): Database.Statement[] {
  const closed = stamp(keys.closedNodes);
  const opened = stamp(keys.openedNodes);
  const e = stamp(keys.edges);
  // The noted rows drive every statement (CROSS JOIN fixes the order: SQLite has no
  // statistics for the temporary tables and would otherwise scan the history or the graph).
  return [
    // A node version ends when its row is gone or differs; an object that stays only as a
    // placeholder (still referenced) was deleted.
    // The versions to end are selected (driven by the noted rows), then ended one by one
    // by id: an UPDATE … FROM would have SQLite scan the whole history table.
    db.prepare(`
      SELECT 'n' AS tbl, h.id AS id, max(${closed.ms}, h.from_ms) AS ms, ${closed.rv} AS rv,
        CASE WHEN n.key IS NULL OR (h.observed = 1 AND n.observed = 0) THEN 'deleted' ELSE 'changed' END AS kind
      FROM (SELECT DISTINCT key FROM ko_h_nodes) AS t CROSS JOIN history_nodes AS h ON h.key = t.key AND h.to_ms IS NULL
      LEFT JOIN main.nodes AS n ON n.key = t.key
      WHERE n.key IS NULL OR n.label <> h.label OR n.observed <> h.observed OR n.owner IS NOT h.owner
        OR n.scope IS NOT h.scope OR ko_history_props(n.props) <> h.props`),
    db.prepare(`
      INSERT INTO history_nodes (key, label, observed, owner, scope, props, from_ms, from_rv, from_kind)
      SELECT n.key, n.label, n.observed, n.owner, n.scope, ko_history_props(n.props), ${opened.ms}, ${opened.rv},
        CASE WHEN n.observed = 0 THEN 'placeholder'
             WHEN (SELECT p.to_kind = 'changed' AND p.observed = 1 FROM history_nodes AS p
                   WHERE p.key = n.key AND p.to_ms IS NOT NULL ORDER BY p.to_ms DESC LIMIT 1)
               THEN 'changed'
             ELSE 'created' END
      FROM (SELECT DISTINCT key FROM ko_h_nodes) AS t CROSS JOIN main.nodes AS n ON n.key = t.key
      WHERE NOT EXISTS (SELECT 1 FROM history_nodes AS h WHERE h.key = n.key AND h.to_ms IS NULL)`),
    db.prepare(`
      SELECT 'e' AS tbl, h.id AS id, max(${e.ms}, h.from_ms) AS ms, ${e.rv} AS rv, 'deleted' AS kind
      FROM (SELECT DISTINCT from_key, type, to_key, owner, props FROM ko_h_edges) AS t CROSS JOIN history_edges AS h ON ${SAME_EDGE("h", "t")} AND h.to_ms IS NULL
      WHERE NOT EXISTS (SELECT 1 FROM main.edges AS e WHERE ${SAME_EDGE("e", "t")})`),
    db.prepare(`
      INSERT INTO history_edges (type, from_key, to_key, owner, props, selected, from_ms, from_rv, from_kind)
      SELECT t.type, t.from_key, t.to_key, t.owner, t.props, e.selected, ${e.ms}, ${e.rv}, 'created'
      FROM (SELECT DISTINCT from_key, type, to_key, owner, props FROM ko_h_edges) AS t CROSS JOIN main.edges AS e ON ${SAME_EDGE("e", "t")}
      WHERE NOT EXISTS (SELECT 1 FROM history_edges AS h WHERE h.to_ms IS NULL AND ${SAME_EDGE("h", "t")})`),
  ];
}

/** The history could not record a batch. Never the rows' fault: the batch is retried
 *  (core/dispatch/sink-errors.ts), never split and parked for it. */
export class HistoryRecordError extends Error {
  constructor(cause: unknown) {
    super(`the history could not record the batch: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "HistoryRecordError";
  }
}

function recording<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw error instanceof HistoryRecordError ? error : new HistoryRecordError(error);
  }
}

/** A version to end, as the selecting statements return it. */
interface Ending {
  tbl: "n" | "e";
  id: number;
  ms: number;
  rv: string | null;
  kind: string;
}

/** What one flush is stamped with. */
interface Stamp {
  ms: number;
  rv: string | null;
}

export class HistoryRecorder {
  /** The comparing statements, stamped with the time given (derived edges) or per row
   *  (a batch); public for the query-plan test. */
  readonly unstamped: Database.Statement[];
  readonly perBatch: Database.Statement[];
  private readonly clear: Database.Statement[];
  private readonly q;
  /** Scopes whose list completed in this process: only their changes extend coverage
   *  (the items of a list arrive before its boundary, and replayed messages were seen by
   *  an earlier process: neither proves the scope was watched up to now). */
  private readonly live = new Set<string>();
  private batchStamp: Stamp | undefined;
  private batchOrigins: OpOrigin[] = [];
  /** The last WAL message whose changes are recorded (read at start; written with each
   *  batch, in its transaction). */
  private applied: { id: string; seq: number } | undefined;
  private batchApplied: { id: string; seq: number } | undefined;
  /** Keys the batch's ops wrote since the noted rows were last compared. */
  private readonly batchKeys = new Set<string>();

  constructor(
    private readonly db: Database.Database,
    where: string,
  ) {
    ensureHistoryTables(db, where);
    const appliedId = readMeta(db, "applied_wal");
    if (appliedId !== undefined) this.applied = { id: appliedId, seq: Number(readMeta(db, "applied_seq") ?? 0) };
    db.function("ko_history_props", { deterministic: true }, (props: unknown) => historyProps(String(props)));
    db.pragma("temp_store = MEMORY");
    db.exec(TEMP);
    this.unstamped = flushStatements(db, { closedNodes: [], openedNodes: [], edges: [] });
    // A placeholder is stamped with the op that wrote an edge to it.
    this.perBatch = flushStatements(db, {
      closedNodes: ["t.key", "h.owner"],
      openedNodes: ["t.key", "n.owner", "(SELECT e.owner FROM main.edges AS e WHERE e.to_key = t.key LIMIT 1)"],
      edges: ["t.owner", "t.to_key", "t.from_key"],
    });
    this.clear = [db.prepare("DELETE FROM ko_h_nodes"), db.prepare("DELETE FROM ko_h_edges")];
    this.q = {
      stamp: db.prepare<[string, number, string | null]>(
        "INSERT INTO ko_h_stamps (key, ms, rv) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET ms = excluded.ms, rv = excluded.rv",
      ),
      clearStamps: db.prepare("DELETE FROM ko_h_stamps"),
      latest: db.prepare<[string], { id: number; to_ms: number }>("SELECT id, to_ms FROM history_coverage WHERE scope = ? ORDER BY id DESC LIMIT 1"),
      open: db.prepare<[string, string, number, string, number, string]>(
        "INSERT INTO history_coverage (scope, reason, from_ms, from_rv, to_ms, to_rv) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      extend: db.prepare<[number, string | null, number]>("UPDATE history_coverage SET to_ms = ?, to_rv = COALESCE(?, to_rv) WHERE id = ?"),
      endNode: db.prepare<[number, string | null, string, number]>("UPDATE history_nodes SET to_ms = ?, to_rv = ?, to_kind = ? WHERE id = ?"),
      endEdge: db.prepare<[number, string | null, string, number]>("UPDATE history_edges SET to_ms = ?, to_rv = ?, to_kind = ? WHERE id = ?"),
    };
  }

  /** Inside the apply's transaction, before its first op. */
  beginBatch(): void {
    this.batchStamp = undefined;
    this.batchOrigins = [];
    this.batchApplied = undefined;
    this.batchKeys.clear();
    recording(() => {
      this.q.clearStamps.run();
      for (const statement of this.clear) statement.run();
    });
  }

  /** Whether an op comes from a WAL message already recorded: its batch committed, then
   *  the agent stopped before the ack. Applying it again only brings the graph back to
   *  where it was; it records nothing. */
  private replayed(origin: OpOrigin | undefined): boolean {
    return origin?.wal !== undefined && this.applied !== undefined && this.applied.id === origin.wal.id && origin.wal.seq <= this.applied.seq;
  }

  /** Inside the transaction, before each op. The noted rows are compared once per batch,
   *  each stamped with the op that wrote its key; but an op on a key an earlier op of the
   *  batch wrote (a pod created, then deleted) first has the earlier changes recorded, so
   *  the version in between is kept. So are they before a sweep and a replayed op. */
  beforeOp(op: GraphOp): void {
    recording(() => this.noteOpStart(op));
  }

  private noteOpStart(op: GraphOp): void {
    const key = op.op === "upsert" ? op.node.key : op.op === "delete" ? op.key : undefined;
    if (key === undefined || this.batchKeys.has(key) || this.replayed(originOf(op))) this.flushNoted();
  }

  /** Inside the transaction, after each op: what it wrote is stamped with its origin. */
  afterOp(op: GraphOp, swept: readonly string[] = []): void {
    recording(() => this.noteOpEnd(op, swept));
  }

  private noteOpEnd(op: GraphOp, swept: readonly string[]): void {
    const origin = originOf(op);
    if (this.replayed(origin)) {
      for (const statement of this.clear) statement.run();
      return;
    }
    if (origin?.wal) this.batchApplied = origin.wal;
    const s: Stamp = origin ? { ms: origin.observedAtMs, rv: origin.resourceVersion } : { ms: Date.now(), rv: null };
    this.batchStamp = s;
    if (origin) this.batchOrigins.push(origin);
    const keys = op.op === "upsert" ? [op.node.key] : op.op === "delete" ? [op.key] : swept;
    for (const key of keys) {
      this.q.stamp.run(key, s.ms, s.rv);
      this.batchKeys.add(key);
    }
    // A sweep's deletions are recorded at once (they are many, and stamped alike).
    if (op.op === "sweep") this.flushNoted();
  }

  private flushNoted(): void {
    this.flush(this.perBatch, this.batchStamp ?? { ms: Date.now(), rv: null });
    this.batchKeys.clear();
  }

  /** The statements in order: node versions ended, opened; edge versions ended, opened. */
  private flush(statements: readonly Database.Statement[], s: Stamp): void {
    const params = { ms: s.ms, rv: s.rv };
    for (const statement of statements) {
      if (!statement.reader) {
        statement.run(params);
        continue;
      }
      for (const end of statement.all(params) as Ending[]) (end.tbl === "n" ? this.q.endNode : this.q.endEdge).run(end.ms, end.rv, end.kind, end.id);
    }
    for (const statement of this.clear) statement.run();
  }

  /** Inside the transaction, after the batch's selectors and collection: each change gets
   *  the stamp of the op that wrote one of its keys (else the batch's last); then the
   *  coverage of the scopes the batch came from. */
  endBatch(): void {
    recording(() => this.finishBatch());
  }

  private finishBatch(): void {
    this.flushNoted();
    this.cover(this.batchOrigins);
    this.batchOrigins = [];
    if (this.batchApplied) {
      writeMeta(this.db, "applied_wal", this.batchApplied.id);
      writeMeta(this.db, "applied_seq", String(this.batchApplied.seq));
    }
  }

  /** After the transaction committed (what endBatch wrote holds now). */
  committed(): void {
    if (this.batchApplied) this.applied = this.batchApplied;
    this.batchApplied = undefined;
  }

  /** Derived edges written (attack edges): stamped now, with no resourceVersion. */
  afterDerived(): void {
    recording(() => this.flush(this.unstamped, { ms: Date.now(), rv: null }));
  }

  /** The scopes still watched, complete up to `completeToMs` (nothing observed before it is
   *  waiting outside the history): their coverage is extended to it. */
  heartbeat(scopes: readonly string[], completeToMs: number): void {
    this.db.transaction(() => {
      for (const scope of scopes) {
        if (!this.live.has(scope)) continue;
        const latest = this.q.latest.get(scope);
        if (latest && latest.to_ms < completeToMs) this.q.extend.run(completeToMs, null, latest.id);
      }
    })();
  }

  /** A list completed: a new interval of coverage (a relist after the first: the changes
   *  between the last interval's end and this list may have been missed, a gap). Other
   *  changes extend the scope's interval once its list completed in this process. */
  private cover(origins: readonly OpOrigin[]): void {
    for (const o of origins) {
      if (o.relist) {
        const reason = this.live.has(o.scope) ? "relist" : "start";
        this.live.add(o.scope);
        this.q.open.run(o.scope, reason, o.observedAtMs, o.resourceVersion, o.observedAtMs, o.resourceVersion);
        continue;
      }
      if (!this.live.has(o.scope)) continue;
      const latest = this.q.latest.get(o.scope);
      if (latest && latest.to_ms <= o.observedAtMs) this.q.extend.run(o.observedAtMs, o.resourceVersion, latest.id);
    }
  }
}
