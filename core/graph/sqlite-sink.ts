// The embedded graph: nodes and edges tables in one SQLite file (better-sqlite3, WAL
// journal). The default sink when no Neo4j is configured. Semantics: docs/graph-semantics.md.
import Database from "better-sqlite3";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { canonicalJson } from "./canonical.js";
import { scopeCovers, sweepScopePrefix } from "./keys.js";
import { GraphContract } from "./contract.js";
import { compareCodePoints, compareEdges as compareEdgeKeys, sortedKeys } from "./order.js";
import { DERIVED_OWNER_PREFIX } from "./model.js";
import type {
  DerivedEdgeSet,
  ExportLine,
  GraphEdge,
  GraphNode,
  GraphOp,
  GraphSchema,
  GraphSelector,
  GraphSink,
  GraphStats,
  IncomingEdge,
  Placeholder,
  Properties,
} from "./model.js";
import { currentHolder, ExclusiveFile } from "../lock/exclusive-file.js";
import { readHolder, recordHolder } from "../lock/meta-table.js";
import { selectorSpec, selectorText } from "./selector.js";
import { resolveSelections, type StoredSelector } from "./selector-resolution.js";
import { logSchemaAction, type SchemaLog, type StorageSchemaStatus } from "./schema-version.js";
import { applySqliteWrite, checkSqliteReadable, planSqliteWrite } from "./sqlite-schema.js";
import { HistoryRecorder, pauseHistory } from "../history/recorder.js";
import { hasHistoryTables } from "../history/schema.js";
import { asReadError, checkIntegrity, DamageGuard, integrityCheckFor, openOrMoveAside, type DamageRecovery } from "../storage/damaged-file.js";

interface NodeRow {
  key: string;
  label: string;
  owner: string | null;
  observed: number;
  scope: string | null;
  props: string;
}

interface EdgeRow {
  type: string;
  from_key: string;
  to_key: string;
  owner: string;
  props: string;
}

interface SelectorRow {
  owner: string;
  from_key: string;
  type: string;
  scope: string;
  spec: string;
  /** The edge properties, `selector` included. */
  props: string;
}

/** Properties as exported: the stored ones plus the managed ones that are present. */
function exportedProperties(row: NodeRow): Record<string, unknown> {
  const props = JSON.parse(row.props) as Record<string, unknown>;
  props.observed = row.observed === 1;
  if (row.owner !== null) props.owner = row.owner;
  if (row.scope !== null) props.scope = row.scope;
  return sortKeys(props);
}

/** Edge properties as exported: the stored ones (a selected edge's include `selector`) and owner. */
function edgeProperties(row: EdgeRow): Record<string, unknown> {
  return sortKeys({ ...(JSON.parse(row.props) as Record<string, unknown>), owner: row.owner });
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return sortedKeys(value);
}

function storedSelector(row: SelectorRow): StoredSelector {
  return { owner: row.owner, from: row.from_key, type: row.type, scope: row.scope, spec: row.spec, props: row.props };
}

/** A node's `labels` property, from its stored properties. */
function labelsOf(props: string): unknown {
  return (JSON.parse(props) as Properties).labels;
}

/** null values are not stored (Neo4j cannot store them either). */
function stored(properties: Properties): string {
  return canonicalJson(Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== null && v !== undefined)));
}

/** An edge of one owner as the identity index sees it. */
function edgeIdentity(type: string, from: string, to: string, props: string): string {
  return `${type}\u0000${from}\u0000${to}\u0000${props}`;
}

const PLACEHOLDER_KEEP = ["cluster", "namespace", "name"];
/** Ops between two turns of the event loop when an apply runs beside Neo4j's (applyPending). */
const APPLY_SLICE = 25;
const PAGE_CACHE_MIN_KIB = 8 * 1024;
const PAGE_CACHE_MAX_KIB = 64 * 1024;

export interface SqliteSinkOptions {
  /** "write" (the agent): takes the file's lock, so a second agent on the same graph is
   *  refused (core/lock/exclusive-file.ts). "read" (graph commands, verify): a read-only
   *  connection that works beside a live agent; the file must exist. */
  access?: "write" | "read";
  /** Where a migration or rebuild of an older file is logged. */
  log?: SchemaLog;
  /** The agent's: a damaged file is moved aside and replaced by a fresh, empty graph, at
   *  open and while running (core/storage/damaged-file.ts). Without it (readers, tools)
   *  damage is a CorruptFileError and the file is left alone. */
  recovery?: DamageRecovery;
  /** Keep the history (core/history/) in this file, in the same transactions as the graph. */
  history?: boolean;
}

const GRAPH_COST = "the graph is derived: it is rebuilt from the relist of every scope, nothing is lost";

export class SqliteGraphSink implements GraphSink {
  readonly kind = "sqlite" as const;
  private db!: Database.Database;
  private q!: ReturnType<SqliteGraphSink["prepare"]>;
  private readonly lock: ExclusiveFile | undefined;
  private schema!: StorageSchemaStatus;
  private readonly log: SchemaLog | undefined;
  /** Applies run through it: a damaged page met gets the agent a fresh graph and a relist
   *  (core/storage/damaged-file.ts); others a CorruptFileError. */
  private readonly guard: DamageGuard;
  /** Within one apply: keys known to exist (a placeholder for one is a no-op) and links
   *  already written (the same link again is one too). Statements that change nothing are
   *  skipped; the sets are dropped whenever edges or nodes are deleted. */
  private known = new Set<string>();
  /** The declared schema (init), and the contract unmarked ops are checked against. */
  private readonly contract = new GraphContract();
  private pageCacheKib = 0;
  private applies = 0;
  private linked = new Set<string>();
  private readonly keepHistory: boolean;
  /** Set with `history`: records each apply's changes in the same transaction. */
  history: HistoryRecorder | undefined;

  constructor(
    readonly path: string,
    options: SqliteSinkOptions = {},
  ) {
    const where = `the embedded graph ${path}`;
    const target = { file: path, what: "embedded graph" as const, cost: GRAPH_COST };
    this.log = options.log;
    this.keepHistory = options.history === true;
    const reading = options.access === "read";
    const recovery = reading || path === ":memory:" ? undefined : options.recovery;
    this.guard = new DamageGuard(target, recovery, { close: () => this.db.close(), reopen: () => void this.openWritable() });
    if (reading) {
      if (path !== ":memory:" && !existsSync(path)) throw new Error(`no embedded graph at ${path} (has the agent run with this config?)`);
      this.db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        // The cheap probe: readers run beside the agent and must not read the file twice.
        checkIntegrity(this.db, "probe");
        this.schema = checkSqliteReadable(this.db, where);
        this.q = this.prepare();
        this.sizePageCache();
      } catch (error) {
        this.db.close();
        throw asReadError(error, path, "embedded graph");
      }
      return;
    }
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true });
      this.lock = ExclusiveFile.acquire(path, "embedded graph", () => readHolder(path));
    }
    try {
      this.db = path === ":memory:" ? this.openWritable() : openOrMoveAside(target, recovery, () => this.openWritable());
    } catch (error) {
      this.lock?.release();
      throw error;
    }
  }

  /** Opens (or creates) the file for writing, after checking it is not damaged, at this
   *  agent's storage version. */
  private openWritable(): Database.Database {
    const where = `the embedded graph ${this.path}`;
    const db = new Database(this.path);
    try {
      if (this.path !== ":memory:") checkIntegrity(db, integrityCheckFor(this.path));
      // Decided before anything is written: a newer file is refused untouched.
      const schema = planSqliteWrite(db, where);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      if (this.lock) recordHolder(db, currentHolder());
      applySqliteWrite(db, schema);
      logSchemaAction(this.log, where, schema);
      this.history = this.keepHistory ? new HistoryRecorder(db, where) : undefined;
      // Written without its history from now on: the history ends what it holds, once.
      if (!this.keepHistory && hasHistoryTables(db)) pauseHistory(db, where);
      this.db = db;
      this.schema = schema;
      this.q = this.prepare();
      this.pageCacheKib = 0;
      this.sizePageCache();
      return db;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** The open connection (the history's keeper prunes through it, between applies). */
  get database(): Database.Database {
    return this.db;
  }

  /** Reads: damage is reported as CorruptFileError (a read never replaces the file). */
  private reading<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw asReadError(error, this.path, "embedded graph");
    }
  }

  /** The file's storage schema version and what opening it did (doctor). */
  async storageSchema(): Promise<StorageSchemaStatus> {
    return this.schema;
  }

  /** The page cache follows the graph (SQLite's default of 2 MB is outgrown at tier M, and
   *  every lookup then reads pages again): half the database, between 8 and 64 MiB. */
  private sizePageCache(): void {
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    const pageSize = this.db.pragma("page_size", { simple: true }) as number;
    const kib = Math.min(PAGE_CACHE_MAX_KIB, Math.max(PAGE_CACHE_MIN_KIB, Math.ceil((pages * pageSize) / 2 / 1024)));
    if (kib === this.pageCacheKib) return;
    this.db.pragma(`cache_size = -${kib}`);
    this.pageCacheKib = kib;
  }

  private prepare() {
    return {
      node: this.db.prepare<[string], NodeRow>("SELECT * FROM nodes WHERE key = ?"),
      exists: this.db.prepare<[string], { observed: number }>("SELECT observed FROM nodes WHERE key = ?"),
      anySelector: this.db.prepare<[], { n: number }>("SELECT EXISTS (SELECT 1 FROM selectors) AS n"),
      ownedKeys: this.db.prepare<[string, string], { key: string }>("SELECT key FROM nodes WHERE owner = ? AND key <> ?"),
      edgeTargetsOfOwner: this.db.prepare<[string], { to_key: string }>("SELECT DISTINCT to_key FROM edges WHERE owner = ?"),
      edgesOfOwner: this.db.prepare<[string], EdgeRow & { id: number; selected: number }>(
        "SELECT rowid AS id, type, from_key, to_key, owner, props, selected FROM edges WHERE owner = ?",
      ),
      deleteEdge: this.db.prepare<[number]>("DELETE FROM edges WHERE rowid = ?"),
      deleteEdgesOfOwner: this.db.prepare<[string]>("DELETE FROM edges WHERE owner = ?"),
      edgeEndsOf: this.db.prepare<[string, string], { k: string }>(
        "SELECT to_key AS k FROM edges WHERE from_key = ? UNION SELECT from_key AS k FROM edges WHERE to_key = ?",
      ),
      deleteEdgesTouching: this.db.prepare<[string, string]>("DELETE FROM edges WHERE from_key = ? OR to_key = ?"),
      deleteNode: this.db.prepare<[string]>("DELETE FROM nodes WHERE key = ?"),
      // The stamp columns (h_ms, h_rv, h_kind: when the row's version began) are written
      // with a new row only; a changed row is restamped by the history's trigger
      // (core/history/recorder.ts), and without history they stay empty.
      upsertNode: this.db.prepare<[string, string, string | null, number, string | null, string, number | null, string | null, string | null]>(
        `INSERT INTO nodes (key, label, owner, observed, scope, props, h_ms, h_rv, h_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET label = excluded.label, owner = excluded.owner,
           observed = excluded.observed, scope = excluded.scope, props = excluded.props`,
      ),
      insertPlaceholder: this.db.prepare<[string, string, string, number | null, string | null, string | null]>(
        "INSERT INTO nodes (key, label, owner, observed, scope, props, h_ms, h_rv, h_kind) VALUES (?, ?, NULL, 0, NULL, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
      ),
      insertEdge: this.db.prepare<[string, string, string, string, string, number | null, string | null]>(
        "INSERT INTO edges (type, from_key, to_key, owner, props, h_ms, h_rv) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      ),
      insertLink: this.db.prepare<[string, string, string, string, string, number | null, string | null, string]>(
        `INSERT INTO edges (type, from_key, to_key, owner, props, h_ms, h_rv)
         SELECT ?, ?, ?, ?, ?, ?, ? FROM nodes WHERE key = ? AND observed = 0 ON CONFLICT DO NOTHING`,
      ),
      insertSelected: this.db.prepare<[string, string, string, string, string, number | null, string | null]>(
        "INSERT INTO edges (type, from_key, to_key, owner, props, selected, h_ms, h_rv) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING",
      ),
      // EXISTS, not count(*): a shared image or node has thousands of incoming edges.
      hasReference: this.db.prepare<[string], { n: number }>("SELECT EXISTS (SELECT 1 FROM edges WHERE to_key = ? AND selected = 0) AS n"),
      // Derived edges are stored with selected = 2: neither references (selected = 0) nor a
      // selector's (selected = 1), which are redone after every apply.
      deleteDerivedOf: this.db.prepare<[string, string]>("DELETE FROM edges WHERE selected = 2 AND (from_key = ? OR to_key = ?)"),
      deleteDerivedOwned: this.db.prepare<[string]>("DELETE FROM edges WHERE owner = ? AND selected = 2"),
      // A range on owner (its index), not LIKE: scope names may hold % and _.
      deleteDerivedUnder: this.db.prepare<[string, string]>("DELETE FROM edges WHERE owner >= ? AND owner < ? AND selected = 2"),
      insertDerived: this.db.prepare<[string, string, string, string, string, number | null, string | null, string, string]>(
        `INSERT INTO edges (type, from_key, to_key, owner, props, selected, h_ms, h_rv)
         SELECT ?, ?, ?, ?, ?, 2, ?, ? WHERE EXISTS (SELECT 1 FROM nodes WHERE key = ? AND observed = 1) AND EXISTS (SELECT 1 FROM nodes WHERE key = ? AND observed = 1)
         ON CONFLICT DO NOTHING`,
      ),
      hasIncoming: this.db.prepare<[string], { n: number }>("SELECT EXISTS (SELECT 1 FROM edges WHERE to_key = ?) AS n"),
      linkTargetsOf: this.db.prepare<[string], { to_key: string }>("SELECT to_key FROM edges WHERE from_key = ?"),
      scopeKeys: this.db.prepare<[string], { key: string }>("SELECT key FROM nodes WHERE scope = ? AND observed = 1"),
      // "/" + 1 is "0": every scope starting with "cluster/".
      scopeRange: this.db.prepare<[string, string], { key: string; scope: string }>(
        "SELECT key, scope FROM nodes WHERE scope >= ? AND scope < ? AND observed = 1",
      ),
      scopeLabels: this.db.prepare<[string], { key: string; props: string }>("SELECT key, props FROM nodes WHERE scope = ? AND observed = 1"),
      deleteSelectorsOf: this.db.prepare<[string]>("DELETE FROM selectors WHERE owner = ?"),
      insertSelector: this.db.prepare<[string, string, string, string, string, string]>(
        "INSERT INTO selectors (owner, from_key, type, scope, spec, props) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      selectorsOf: this.db.prepare<[string], SelectorRow>("SELECT * FROM selectors WHERE owner = ?"),
      selectorsFor: this.db.prepare<[string], SelectorRow>("SELECT * FROM selectors WHERE scope = ?"),
      deleteSelectedInto: this.db.prepare<[string]>("DELETE FROM edges WHERE to_key = ? AND selected = 1"),
    };
  }

  async init(schema: GraphSchema): Promise<void> {
    // Tables and indexes are generic; the declared labels only bound what apply() takes.
    this.contract.declare(schema);
  }

  async apply(ops: readonly GraphOp[]): Promise<void> {
    this.contract.check(ops);
    this.guard.run(() => this.applyNow(ops));
  }

  /**
   * Applies the ops in a transaction left open: `commit()` makes them durable, `rollback()`
   * undoes them. The history's own file (Neo4j: core/history/tee-sink.ts) is written while
   * Neo4j works on the same batch, and committed only once Neo4j has committed it. Nothing
   * else may write through this sink until one of the two is called.
   */
  async applyPending(ops: readonly GraphOp[], between?: () => Promise<void>): Promise<{ commit(): void; rollback(): void }> {
    this.contract.check(ops);
    // `between`: what runs between slices instead of a turn of the event loop (the
    // history's thread waits there while the graph is busy).
    const turn = between ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
    // Neo4j's first request for the batch goes out before any of this work.
    await turn();
    this.guard.run(() => this.db.exec("BEGIN IMMEDIATE"));
    try {
      // A slice at a time, letting the event loop turn between slices: Neo4j's round trips
      // for the same batch go on meanwhile.
      const steps = this.applySteps(ops);
      while (!this.guard.run(() => steps.next()).done) await turn();
    } catch (error) {
      if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
    let open = true;
    return {
      commit: () => {
        if (!open) return;
        open = false;
        this.guard.run(() => this.db.exec("COMMIT"));
        this.history?.committed();
      },
      rollback: () => {
        if (!open) return;
        open = false;
        if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
      },
    };
  }

  private applyNow(ops: readonly GraphOp[]): void {
    this.db.transaction(() => {
      for (const _ of this.applySteps(ops));
    })();
    this.history?.committed();
  }

  /** The ops, inside the caller's transaction; yields every SLICE ops (applyNow runs it
   *  through at once). */
  private *applySteps(ops: readonly GraphOp[]): Generator<void, void> {
    if (++this.applies % 64 === 0) this.sizePageCache();
    this.known = new Set();
    this.linked = new Set();
    const history = this.history;
    {
      const garbage = new Set<string>();
      // Every key an op wrote or removed: the selected edges into and out of them are redone.
      const touched = new Set<string>();
      history?.beginBatch();
      let count = 0;
      for (const op of ops) {
        if (++count % APPLY_SLICE === 0) yield;
        history?.beforeOp(op);
        const [ms, rv] = this.stampNow();
        if (op.op === "upsert") {
          this.upsert(op.node, op.owned, op.placeholders, op.edges, op.links ?? [], op.selectors ?? [], garbage, ms, rv);
          touched.add(op.node.key);
          history?.afterOp(op);
        } else if (op.op === "delete") {
          this.remove(op.key, garbage);
          touched.add(op.key);
          history?.afterOp(op);
        } else {
          const swept = this.sweep(op.scope, op.present, op.except ?? [], garbage);
          for (const key of swept) touched.add(key);
          history?.afterOp(op, swept);
        }
      }
      history?.endOps();
      this.resolveSelectors(touched);
      this.collect(garbage);
      history?.endBatch();
    }
  }

  /** What a row written now is stamped with (nothing without history). */
  private stampNow(): [number | null, string | null] {
    const stamp = this.history?.stamp;
    return stamp ? [stamp.ms, stamp.rv] : [null, null];
  }

  private upsert(
    node: GraphNode,
    owned: GraphNode[],
    placeholders: Placeholder[],
    edges: GraphEdge[],
    links: GraphEdge[],
    selectors: GraphSelector[],
    garbage: Set<string>,
    ms: number | null,
    rv: string | null,
  ): void {
    const k = node.key;
    // A key that is not in the graph owns nothing yet (every delete takes its owned edges,
    // nodes and selectors with it): nothing to replace.
    const existing = this.q.exists.get(k);
    const declared = edges.map((e) => {
      const props = stored(e.properties);
      return { e, props, identity: edgeIdentity(e.type, e.from, e.to, props) };
    });
    // Declared edges already in the graph, and the nodes they join (which therefore exist):
    // neither is written again (most changes of an object leave its edges alone).
    const stayed = new Set<string>();
    const present = new Set<string>();
    if (existing) {
      // Its declared edges that stay are left as they are (rewriting them would cost the
      // graph and the history); the others, and its selected ones (redone after the ops), go.
      const wanted = new Set(declared.map((d) => d.identity));
      const kept: Array<{ row: EdgeRow; identity: string }> = [];
      for (const row of this.q.edgesOfOwner.all(k)) {
        const identity = edgeIdentity(row.type, row.from_key, row.to_key, row.props);
        if (row.selected === 0 && wanted.delete(identity)) {
          kept.push({ row, identity });
          continue;
        }
        garbage.add(row.to_key);
        this.q.deleteEdge.run(row.id);
      }
      this.linked.clear();
      const keep = new Set(owned.map((o) => o.key));
      const dropped = new Set<string>();
      for (const { key } of this.q.ownedKeys.all(k, k))
        if (!keep.has(key)) {
          this.detachDelete(key, garbage);
          dropped.add(key);
        }
      // An owned node dropped just now took its edges with it: those are written again.
      for (const { row, identity } of kept) {
        if (dropped.has(row.from_key) || dropped.has(row.to_key)) continue;
        stayed.add(identity);
        present.add(row.from_key);
        present.add(row.to_key);
      }
      this.q.deleteSelectorsOf.run(k);
    }
    this.q.upsertNode.run(k, node.label, k, 1, node.scope ?? null, stored(node.properties), ms, rv, ms === null ? null : "created");
    this.known.add(k);
    for (const o of owned) {
      this.q.upsertNode.run(o.key, o.label, k, 1, null, stored(o.properties), ms, rv, ms === null ? null : "created");
      this.known.add(o.key);
    }
    for (const p of placeholders) {
      if (this.known.has(p.key) || present.has(p.key)) continue;
      this.q.insertPlaceholder.run(p.key, p.label, stored(p.properties), ms, rv, ms === null ? null : "placeholder");
      this.known.add(p.key);
    }
    // An edge that stayed is a conflict, and nothing is written for it.
    for (const { e, props, identity } of declared) if (!stayed.has(identity)) this.q.insertEdge.run(e.type, e.from, e.to, k, props, ms, rv);
    // Only while the start is a placeholder: an observed node declares its own edges.
    for (const l of links) {
      const props = stored(l.properties);
      const id = `${l.type}\u0000${l.from}\u0000${l.to}\u0000${props}`;
      if (this.linked.has(id)) continue;
      this.q.insertLink.run(l.type, l.from, l.to, l.from, props, ms, rv, l.from);
      this.linked.add(id);
    }
    for (const s of selectors) {
      this.q.insertSelector.run(k, s.from, s.type, s.scope, selectorSpec(s), stored({ ...s.properties, selector: selectorText(s) }));
    }
  }

  /** The swept nodes go as one set: references among them do not keep any of them. */
  private sweep(scope: string, present: readonly string[], except: readonly string[], garbage: Set<string>): string[] {
    const keep = new Set(present);
    const prefix = sweepScopePrefix(scope);
    // Every namespace's scope of a label: a range scan of the scope index, then the match.
    const candidates = prefix
      ? this.q.scopeRange.all(prefix, `${prefix.slice(0, -1)}0`).filter((r) => scopeCovers(scope, except, r.scope))
      : this.q.scopeKeys.all(scope);
    const gone = candidates.map((r) => r.key).filter((key) => !keep.has(key));
    for (const key of gone) this.dropOwned(key, garbage);
    for (const key of gone) this.remove(key, garbage);
    return gone;
  }

  /** Deletes what k owns: its edges, its owned nodes and its selectors. */
  private dropOwned(k: string, garbage: Set<string>): void {
    for (const { to_key } of this.q.edgeTargetsOfOwner.all(k)) garbage.add(to_key);
    this.q.deleteEdgesOfOwner.run(k);
    this.linked.clear();
    for (const { key } of this.q.ownedKeys.all(k, k)) this.detachDelete(key, garbage);
    this.q.deleteSelectorsOf.run(k);
  }

  /** Selected edges into or out of the touched keys become exactly what the stored
   *  selectors select now: the shared algorithm (selector-resolution.ts) over these
   *  statements, in this transaction. */
  private resolveSelectors(touched: ReadonlySet<string>): void {
    const q = this.q;
    resolveSelections(touched, {
      anySelector: () => q.anySelector.get()!.n !== 0,
      deleteSelectedInto: (keys) => {
        for (const key of keys) q.deleteSelectedInto.run(key);
      },
      selectorsOf: (owners) => owners.flatMap((owner) => q.selectorsOf.all(owner).map(storedSelector)),
      selectorsIn: (scopes) => scopes.flatMap((scope) => q.selectorsFor.all(scope).map(storedSelector)),
      observedIn: (scopes) => scopes.flatMap((scope) => q.scopeLabels.all(scope).map((n) => ({ key: n.key, scope, labels: labelsOf(n.props) }))),
      observedNodes: (keys) =>
        keys.flatMap((key) => {
          const row = q.node.get(key);
          return row && row.observed === 1 && row.scope !== null ? [{ key, scope: row.scope, labels: labelsOf(row.props) }] : [];
        }),
      createSelected: (edges) => {
        for (const { selector: s, to } of edges) {
          const stamp = this.history?.stampFor(to, s.from, s.owner);
          q.insertSelected.run(s.type, s.from, to, s.owner, s.props, stamp?.ms ?? null, stamp?.rv ?? null);
        }
      },
    });
  }

  private remove(k: string, garbage: Set<string>): void {
    const row = this.q.node.get(k);
    if (!row) return;
    this.dropOwned(k, garbage);
    // Derived edges are not references either, and never touch a placeholder: they go.
    this.q.deleteDerivedOf.run(k, k);
    // Selected edges are not references: they never keep a deleted object as a placeholder.
    if (this.q.hasReference.get(k)!.n > 0) {
      const props = JSON.parse(row.props) as Properties;
      const kept: Properties = {};
      for (const name of PLACEHOLDER_KEEP) if (props[name] !== undefined) kept[name] = props[name]!;
      this.q.upsertNode.run(k, row.label, null, 0, null, stored(kept), ...this.stampNow(), null);
    } else {
      this.detachDelete(k, garbage);
    }
  }

  private detachDelete(key: string, garbage: Set<string>): void {
    for (const { k } of this.q.edgeEndsOf.all(key, key)) garbage.add(k);
    this.q.deleteEdgesTouching.run(key, key);
    this.q.deleteNode.run(key);
    this.known.delete(key);
    this.linked.clear();
    garbage.delete(key);
  }

  /** Unobserved nodes nothing points at any more are removed, with their links; what
   *  those pointed at is checked in turn (an unused image, then its registry). */
  private collect(candidates: Set<string>): void {
    const pending = [...candidates];
    while (pending.length > 0) {
      const key = pending.pop()!;
      const row = this.q.node.get(key);
      if (!row || row.observed !== 0 || this.q.hasIncoming.get(key)!.n > 0) continue;
      for (const { to_key } of this.q.linkTargetsOf.all(key)) pending.push(to_key);
      this.q.deleteEdgesTouching.run(key, key);
      this.q.deleteNode.run(key);
    }
  }

  async stats(): Promise<GraphStats> {
    const nodes = this.reading(() =>
      this.db.prepare<[], { label: string; n: number }>("SELECT label, count(*) AS n FROM nodes GROUP BY label ORDER BY label").all(),
    );
    const edges = this.reading(() =>
      this.db.prepare<[], { type: string; n: number }>("SELECT type, count(*) AS n FROM edges GROUP BY type ORDER BY type").all(),
    );
    return {
      nodes: Object.fromEntries(nodes.map((r) => [r.label, r.n])),
      edges: Object.fromEntries(edges.map((r) => [r.type, r.n])),
    };
  }

  async *export(): AsyncIterable<ExportLine> {
    // Stepped by hand so that a damaged page met mid-way is reported as such.
    const rows = this.db.prepare<[], NodeRow>("SELECT * FROM nodes ORDER BY key").iterate();
    try {
      for (;;) {
        const next = this.reading(() => rows.next());
        if (next.done) break;
        const row = next.value;
        yield { type: "node", labels: [row.label], key: row.key, properties: exportedProperties(row) };
      }
    } finally {
      rows.return?.();
    }
    const edges = this.reading(() => this.db.prepare<[], EdgeRow>("SELECT * FROM edges").all()).map((row) => ({ row, properties: edgeProperties(row) }));
    edges.sort((a, b) => compareEdges(a.row, a.properties, b.row, b.properties));
    for (const { row, properties } of edges) yield { type: "edge", rel: row.type, from: row.from_key, to: row.to_key, properties };
  }

  async incoming(key: string): Promise<IncomingEdge[]> {
    const rows = this.reading(() =>
      this.db
        .prepare<[string], EdgeRow & { n_key: string; n_label: string; n_owner: string | null; n_observed: number; n_scope: string | null; n_props: string }>(
          `SELECT e.*, n.key AS n_key, n.label AS n_label, n.owner AS n_owner, n.observed AS n_observed, n.scope AS n_scope, n.props AS n_props
           FROM edges e JOIN nodes n ON n.key = e.from_key WHERE e.to_key = ?`,
        )
        .all(key),
    );
    const result = rows.map((r) => ({
      row: r,
      properties: edgeProperties(r),
      from: {
        labels: [r.n_label],
        key: r.n_key,
        properties: exportedProperties({ key: r.n_key, label: r.n_label, owner: r.n_owner, observed: r.n_observed, scope: r.n_scope, props: r.n_props }),
      },
    }));
    result.sort((a, b) => compareEdges(a.row, a.properties, b.row, b.properties));
    return result.map((r) => ({ rel: r.row.type, properties: r.properties, from: r.from }));
  }

  async subgraph(labels: readonly string[], rels: readonly string[]): Promise<ExportLine[]> {
    // json_each: one statement whatever the number of labels (no label index: a scan of
    // the nodes table, milliseconds at tier M).
    const nodes = this.reading(() =>
      this.db.prepare<[string], NodeRow>("SELECT * FROM nodes WHERE label IN (SELECT value FROM json_each(?)) ORDER BY key").all(JSON.stringify(labels)),
    );
    const edges = this.reading(() =>
      this.db.prepare<[string], EdgeRow>("SELECT * FROM edges WHERE type IN (SELECT value FROM json_each(?))").all(JSON.stringify(rels)),
    ).map((row) => ({ row, properties: edgeProperties(row) }));
    edges.sort((a, b) => compareEdges(a.row, a.properties, b.row, b.properties));
    return [
      ...nodes.map((row): ExportLine => ({ type: "node", labels: [row.label], key: row.key, properties: exportedProperties(row) })),
      ...edges.map(({ row, properties }): ExportLine => ({ type: "edge", rel: row.type, from: row.from_key, to: row.to_key, properties })),
    ];
  }

  async neighbourhood(keys: readonly string[]): Promise<ExportLine[]> {
    const wanted = JSON.stringify(keys);
    const rows = this.reading(() => {
      const nodes = this.db
        .prepare<[string, string], NodeRow>(
          `SELECT * FROM nodes WHERE key IN (SELECT value FROM json_each(?))
           UNION SELECT * FROM nodes WHERE owner IN (SELECT value FROM json_each(?))`,
        )
        .all(wanted, wanted);
      const edges = this.db
        .prepare<[string, string, string], EdgeRow>(
          `SELECT * FROM edges WHERE owner IN (SELECT value FROM json_each(?))
           UNION ALL SELECT * FROM edges WHERE to_key IN (SELECT value FROM json_each(?)) AND owner NOT IN (SELECT value FROM json_each(?))`,
        )
        .all(wanted, wanted, wanted);
      const byKey = (list: readonly string[]): NodeRow[] =>
        list.length === 0
          ? []
          : this.db.prepare<[string], NodeRow>("SELECT * FROM nodes WHERE key IN (SELECT value FROM json_each(?))").all(JSON.stringify(list));
      const have = new Set(nodes.map((n) => n.key));
      const ends = byKey([...new Set(edges.flatMap((e) => [e.from_key, e.to_key]))].filter((k) => !have.has(k)));
      for (const n of ends) have.add(n.key);
      // The links of the placeholders at those ends (an image's registry), and their ends.
      const placeholders = ends.filter((n) => n.observed === 0 && !keys.includes(n.owner ?? "")).map((n) => n.key);
      const links =
        placeholders.length === 0
          ? []
          : this.db.prepare<[string], EdgeRow>("SELECT * FROM edges WHERE owner IN (SELECT value FROM json_each(?))").all(JSON.stringify(placeholders));
      const linked = byKey([...new Set(links.map((e) => e.to_key))].filter((k) => !have.has(k)));
      return { nodes: [...nodes, ...ends, ...linked], edges: [...edges, ...links] };
    });
    rows.nodes.sort((a, b) => compareCodePoints(a.key, b.key));
    const edges = rows.edges.map((row) => ({ row, properties: edgeProperties(row) }));
    edges.sort((a, b) => compareEdges(a.row, a.properties, b.row, b.properties));
    return [
      ...rows.nodes.map((row): ExportLine => ({ type: "node", labels: [row.label], key: row.key, properties: exportedProperties(row) })),
      ...edges.map(({ row, properties }): ExportLine => ({ type: "edge", rel: row.type, from: row.from_key, to: row.to_key, properties })),
    ];
  }

  /** `atMs`: when the sets were computed (the history's stamp; default now). */
  async replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string, atMs?: number): Promise<void> {
    if (exclusive !== undefined && !exclusive.startsWith(DERIVED_OWNER_PREFIX)) throw new Error(`not a derivation scope prefix: ${JSON.stringify(exclusive)}`);
    this.guard.run(() =>
      this.db.transaction(() => {
        this.history?.beforeDerived(atMs);
        const [ms, rv] = this.stampNow();
        if (exclusive !== undefined) this.q.deleteDerivedUnder.run(exclusive, `${exclusive}\u{10FFFF}`);
        for (const set of sets) {
          if (!set.owner.startsWith(DERIVED_OWNER_PREFIX)) throw new Error(`not a derivation scope: ${JSON.stringify(set.owner)}`);
          this.q.deleteDerivedOwned.run(set.owner);
          for (const e of set.edges)
            this.q.insertDerived.run(e.type, e.from, e.to, set.owner, stored({ ...e.properties, derived: true }), ms, rv, e.from, e.to);
        }
        this.history?.afterDerived();
      })(),
    );
  }

  async ping(): Promise<boolean> {
    try {
      this.db.prepare("SELECT 1").get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    this.lock?.release();
  }
}

function compareEdges(a: EdgeRow, ap: Record<string, unknown>, b: EdgeRow, bp: Record<string, unknown>): number {
  return compareEdgeKeys(
    { rel: a.type, from: a.from_key, to: a.to_key, json: canonicalJson(ap) },
    { rel: b.type, from: b.from_key, to: b.to_key, json: canonicalJson(bp) },
  );
}
