// Records the history inside the embedded graph's transactions. The open version of a node
// or edge is its graph row itself: each row carries when its current version began (the
// stamp columns, graph storage version 2). Temporary triggers write a version into the
// history tables only when it ends: a node row that changes (beyond observedAt) or goes,
// an edge row that goes and does not come back within the same op. So a change is in the
// graph and in the history or in neither (one SQLite transaction), a relist or a replayed
// batch that finds an object unchanged adds nothing, and what the sink itself decides (a
// deleted object kept as a placeholder, a placeholder collected, the edges a selector
// makes) is recorded as it happened. An object that is created costs three columns, not a
// row: the cost the history adds to a sync is near nothing.
import type Database from "better-sqlite3";
import type { GraphOp } from "../graph/model.js";
import { originOf, type OpOrigin } from "./origin.js";
import { ensureHistoryTables, readMeta, registerHistoryProps, writeMeta } from "./schema.js";

const SAME_EDGE = (a: string, b: string) =>
  `${a}.from_key = ${b}.from_key AND ${a}.type = ${b}.type AND ${a}.to_key = ${b}.to_key AND ${a}.owner = ${b}.owner AND ${a}.props = ${b}.props`;

/** How a written edge finds itself among the deleted ones (an index search; the plan test
 *  reads it with `new.` bound). */
export const GONE_MATCH = `SELECT 1 FROM ko_h_gone AS g WHERE ${SAME_EDGE("g", "new")}`;

/** Inside a node trigger: the old row's version ends now, as `toKind` (an SQL expression). */
const endNodeVersion = (toKind: string) => `
    INSERT INTO main.history_nodes (key, label, observed, owner, scope, props, from_ms, from_rv, from_kind, to_ms, to_rv, to_kind)
      VALUES (old.key, old.label, old.observed, old.owner, old.scope, ko_history_props(old.props),
        COALESCE(old.h_ms, ko_h_ms(old.key)), old.h_rv, COALESCE(old.h_kind, 'created'),
        max(ko_h_ms(old.key), COALESCE(old.h_ms, 0)), ko_h_rv(old.key), ${toKind})`;

// Edges are deleted and written again whenever their owner changes, a selector is redone
// or a scope's attack edges are derived again; most come back unchanged. A deleted edge
// waits in ko_h_gone until the op ends: if it comes back it keeps its stamp, else its
// version ends (for a replayed op: it is forgotten, the edges it wrote again keep their
// stamps). The triggers' stamps come from ko_h_ms/ko_h_rv (the op being applied).
const TEMP = `
  CREATE TEMP TABLE IF NOT EXISTS ko_h_gone (
    type TEXT NOT NULL, from_key TEXT NOT NULL, to_key TEXT NOT NULL, owner TEXT NOT NULL, props TEXT NOT NULL,
    selected INTEGER NOT NULL, h_ms INTEGER, h_rv TEXT, end_ms INTEGER NOT NULL, end_rv TEXT);
  CREATE INDEX IF NOT EXISTS temp.ko_h_gone_identity ON ko_h_gone(from_key, type, to_key, owner, props);
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_node_changed AFTER UPDATE OF label, observed, owner, scope, props ON main.nodes
    WHEN (old.label IS NOT new.label OR old.observed IS NOT new.observed OR old.owner IS NOT new.owner
      OR old.scope IS NOT new.scope OR (old.props IS NOT new.props AND ko_history_props(old.props) IS NOT ko_history_props(new.props)))
      AND ko_h_on()
  BEGIN
    ${endNodeVersion("CASE WHEN old.observed = 1 AND new.observed = 0 THEN 'deleted' ELSE 'changed' END")};
    UPDATE main.nodes SET h_ms = max(ko_h_ms(new.key), COALESCE(old.h_ms, 0)), h_rv = ko_h_rv(new.key),
      h_kind = CASE WHEN new.observed = 0 THEN 'placeholder' WHEN old.observed = 0 THEN 'created' ELSE 'changed' END
      WHERE rowid = new.rowid;
  END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_node_deleted AFTER DELETE ON main.nodes WHEN ko_h_on()
  BEGIN
    ${endNodeVersion("'deleted'")};
  END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_edge_deleted AFTER DELETE ON main.edges
  BEGIN
    INSERT INTO ko_h_gone VALUES (old.type, old.from_key, old.to_key, old.owner, old.props, old.selected, old.h_ms, old.h_rv,
      ko_h_ms(old.to_key, old.from_key, old.owner), ko_h_rv(old.to_key, old.from_key, old.owner));
  END;
  CREATE TEMP TRIGGER IF NOT EXISTS ko_h_edge_back AFTER INSERT ON main.edges
    WHEN EXISTS (${GONE_MATCH})
  BEGIN
    UPDATE main.edges SET (h_ms, h_rv) = (SELECT g.h_ms, g.h_rv FROM ko_h_gone AS g WHERE ${SAME_EDGE("g", "new")} LIMIT 1) WHERE rowid = new.rowid;
    DELETE FROM ko_h_gone WHERE ${SAME_EDGE("ko_h_gone", "new")};
  END;
`;

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

/** When a version began or ended: observation time (ms) and resourceVersion. */
export interface Stamp {
  ms: number;
  rv: string | null;
}

/** Writes, for every graph row, the version it holds as ended now with `kind` (history
 *  turned off: what happens to the rows next is not recorded). */
const END_ALL = (kind: string) => [
  `INSERT INTO history_nodes (key, label, observed, owner, scope, props, from_ms, from_rv, from_kind, to_ms, to_rv, to_kind)
   SELECT key, label, observed, owner, scope, ko_history_props(props), COALESCE(h_ms, :now), h_rv, COALESCE(h_kind, 'created'),
     max(:now, COALESCE(h_ms, :now)), NULL, '${kind}' FROM nodes`,
  `INSERT INTO history_edges (type, from_key, to_key, owner, props, selected, from_ms, from_rv, from_kind, to_ms, to_rv, to_kind)
   SELECT type, from_key, to_key, owner, props, selected, COALESCE(h_ms, :now), h_rv, 'created', max(:now, COALESCE(h_ms, :now)), NULL, '${kind}' FROM edges`,
];

/**
 * A graph file with history whose agent now runs without it: every version is ended
 * ("paused") once, so that the history never claims what it did not see; the history
 * restamps the rows when it is next on ("resumed"). Called by the embedded graph sink.
 */
export function pauseHistory(db: Database.Database, where: string): void {
  if (readMeta(db, "paused_at_ms") !== undefined) return;
  registerHistoryProps(db);
  db.transaction(() => {
    ensureHistoryTables(db, where);
    const now = Date.now();
    for (const sql of END_ALL("paused")) db.prepare(sql).run({ now });
    writeMeta(db, "paused_at_ms", String(now));
  })();
}

export class HistoryRecorder {
  private readonly q;
  /** Scopes whose list completed in this process: only their changes extend coverage
   *  (the items of a list arrive before its boundary, and replayed messages were seen by
   *  an earlier process: neither proves the scope was watched up to now). */
  private readonly live = new Set<string>();
  private batchOrigins: OpOrigin[] = [];
  /** The last WAL message whose changes are recorded (read at start; written with each
   *  batch, in its transaction). */
  private applied: { id: string; seq: number } | undefined;
  private batchApplied: { id: string; seq: number } | undefined;
  /** The op being applied: what the rows it writes are stamped with. */
  private current: Stamp = { ms: Date.now(), rv: null };
  /** Between the ops and the end of the batch (selectors, collection): a row is stamped
   *  with the op that wrote one of its keys, else the batch's last. */
  private readonly byKey = new Map<string, Stamp>();
  private afterOps = false;
  /** An op from a WAL message already recorded: it writes the graph, not the history. */
  private replaying = false;
  /** A trigger ran since the deleted edges were last settled. */
  private noted = false;

  constructor(
    private readonly db: Database.Database,
    where: string,
  ) {
    registerHistoryProps(db);
    const stampOf = (keys: unknown[]): Stamp => {
      this.noted = true;
      return this.stampFor(...keys.map(String));
    };
    db.function("ko_h_on", { deterministic: false }, () => (this.replaying ? 0 : 1));
    db.function("ko_h_ms", { deterministic: false, varargs: true }, (...keys: unknown[]) => stampOf(keys).ms);
    db.function("ko_h_rv", { deterministic: false, varargs: true }, (...keys: unknown[]) => stampOf(keys).rv);
    db.transaction(() => {
      const created = ensureHistoryTables(db, where);
      this.stampRows(created ? "created" : readMeta(db, "paused_at_ms") !== undefined ? "resumed" : undefined);
    })();
    const appliedId = readMeta(db, "applied_wal");
    if (appliedId !== undefined) this.applied = { id: appliedId, seq: Number(readMeta(db, "applied_seq") ?? 0) };
    db.pragma("temp_store = MEMORY");
    db.exec(TEMP);
    this.q = {
      settle: db.prepare(`
        INSERT INTO main.history_edges (type, from_key, to_key, owner, props, selected, from_ms, from_rv, from_kind, to_ms, to_rv, to_kind)
        SELECT type, from_key, to_key, owner, props, selected, COALESCE(h_ms, end_ms), h_rv, 'created', max(end_ms, COALESCE(h_ms, end_ms)), end_rv, 'deleted'
        FROM ko_h_gone`),
      clearGone: db.prepare("DELETE FROM ko_h_gone"),
      latest: db.prepare<[string], { id: number; to_ms: number }>("SELECT id, to_ms FROM history_coverage WHERE scope = ? ORDER BY id DESC LIMIT 1"),
      open: db.prepare<[string, string, number, string, number, string]>(
        "INSERT INTO history_coverage (scope, reason, from_ms, from_rv, to_ms, to_rv) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      extend: db.prepare<[number, string | null, number]>("UPDATE history_coverage SET to_ms = ?, to_rv = COALESCE(?, to_rv) WHERE id = ?"),
    };
  }

  /** Rows with no stamp (written before graph storage version 2, or by an agent without
   *  history), or every row when the history starts or resumes (`kind`): their version
   *  begins now. */
  private stampRows(kind: "created" | "resumed" | undefined): void {
    const now = Date.now();
    const only = kind === undefined ? " WHERE h_ms IS NULL" : "";
    const nodeKind = kind ?? "created";
    this.db
      .prepare(`UPDATE nodes SET h_ms = :now, h_rv = NULL, h_kind = CASE WHEN observed = 1 THEN :kind ELSE 'placeholder' END${only}`)
      .run({ now, kind: nodeKind });
    this.db.prepare(`UPDATE edges SET h_ms = :now, h_rv = NULL${only}`).run({ now });
    if (kind === "resumed") this.db.prepare("DELETE FROM history_meta WHERE name = 'paused_at_ms'").run();
  }

  /** What a row the sink inserts now is stamped with. */
  get stamp(): Stamp {
    return this.current;
  }

  /** What a row between `keys` is stamped with (the first key the batch wrote). */
  stampFor(...keys: string[]): Stamp {
    if (this.afterOps)
      for (const key of keys) {
        const found = this.byKey.get(key);
        if (found) return found;
      }
    return this.current;
  }

  /** Inside the apply's transaction, before its first op. */
  beginBatch(): void {
    this.batchOrigins = [];
    this.batchApplied = undefined;
    this.byKey.clear();
    this.afterOps = false;
    this.replaying = false;
    this.current = { ms: Date.now(), rv: null };
    recording(() => this.q.clearGone.run());
  }

  /** Whether an op comes from a WAL message already recorded: its batch committed, then
   *  the agent stopped before the ack. Applying it again only brings the graph back to
   *  where it was; it records nothing. */
  private replayed(origin: OpOrigin | undefined): boolean {
    return origin?.wal !== undefined && this.applied !== undefined && this.applied.id === origin.wal.id && origin.wal.seq <= this.applied.seq;
  }

  /** Inside the transaction, before each op: the rows it writes get its stamp. */
  beforeOp(op: GraphOp): void {
    const origin = originOf(op);
    this.replaying = this.replayed(origin);
    this.current = origin ? { ms: origin.observedAtMs, rv: origin.resourceVersion } : { ms: Date.now(), rv: null };
  }

  /** Inside the transaction, after each op: the edges it deleted and did not write again
   *  end their versions. */
  afterOp(op: GraphOp, swept: readonly string[] = []): void {
    recording(() => {
      if (this.replaying) {
        this.q.clearGone.run();
        this.noted = false;
        this.replaying = false;
        return;
      }
      this.settle();
      const origin = originOf(op);
      if (origin?.wal) this.batchApplied = origin.wal;
      if (origin) this.batchOrigins.push(origin);
      const keys = op.op === "upsert" ? [op.node.key] : op.op === "delete" ? [op.key] : swept;
      for (const key of keys) this.byKey.set(key, this.current);
    });
  }

  /** After the ops, before the batch's selectors and collection. */
  endOps(): void {
    this.afterOps = true;
    this.replaying = false;
  }

  private settle(): void {
    if (!this.noted) return;
    this.q.settle.run();
    this.q.clearGone.run();
    this.noted = false;
  }

  /** Inside the transaction, after the batch's selectors and collection; then the coverage
   *  of the scopes the batch came from. */
  endBatch(): void {
    recording(() => {
      this.settle();
      this.cover(this.batchOrigins);
      this.batchOrigins = [];
      if (this.batchApplied) {
        writeMeta(this.db, "applied_wal", this.batchApplied.id);
        writeMeta(this.db, "applied_seq", String(this.batchApplied.seq));
      }
      this.afterOps = false;
    });
  }

  /** After the transaction committed (what endBatch wrote holds now). */
  committed(): void {
    if (this.batchApplied) this.applied = this.batchApplied;
    this.batchApplied = undefined;
  }

  /** Derived edges (attack edges) are written with the stamp of when they were computed
   *  (default now), no resourceVersion. */
  beforeDerived(atMs = Date.now()): void {
    this.afterOps = false;
    this.replaying = false;
    this.current = { ms: atMs, rv: null };
  }

  afterDerived(): void {
    recording(() => this.settle());
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
    // Per scope, only the latest change before its next list extends the interval.
    const latestChange = new Map<string, OpOrigin>();
    const extend = (scope: string) => {
      const o = latestChange.get(scope);
      if (!o) return;
      latestChange.delete(scope);
      const latest = this.q.latest.get(scope);
      if (latest && latest.to_ms <= o.observedAtMs) this.q.extend.run(o.observedAtMs, o.resourceVersion, latest.id);
    };
    for (const o of origins) {
      if (o.relist) {
        extend(o.scope);
        const reason = this.live.has(o.scope) ? "relist" : "start";
        this.live.add(o.scope);
        this.q.open.run(o.scope, reason, o.observedAtMs, o.resourceVersion, o.observedAtMs, o.resourceVersion);
        continue;
      }
      if (!this.live.has(o.scope)) continue;
      const seen = latestChange.get(o.scope);
      if (!seen || seen.observedAtMs <= o.observedAtMs) latestChange.set(o.scope, o);
    }
    for (const scope of [...latestChange.keys()]) extend(scope);
  }
}
