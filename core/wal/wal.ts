// The write-ahead log between observers and the graph sink: an SQLite table of
// KubeMessages with a monotonically increasing seq. A batch is appended in one
// transaction and is durable (journal_mode=WAL, synchronous=NORMAL survives a process
// crash) before anyone is told it was accepted. Messages are acknowledged once the sink
// has committed them, and removed; after a crash the un-acknowledged ones are replayed.
import Database from "better-sqlite3";
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ExclusiveFile, currentHolder, type Holder } from "../lock/exclusive-file.js";
import { fileIdentity, readHolder, readHolderFrom, recordHolder } from "../lock/meta-table.js";
import type { KubeMessage } from "../messages.js";

export interface WalRecord {
  seq: number;
  message: KubeMessage;
}

export interface ParkedRecord {
  seq: number;
  plugin: string;
  error: string;
  parkedAt: string;
  cluster: string;
  namespace: string | null;
  resource: string;
  name: string | null;
  action: string;
  /** The seq of a later message for the same object that was delivered (or parked after
   *  it): this one is stale, and `wal replay` skips it. */
  supersededBy: number | null;
}

/** What `wal replay` did. */
export interface ReplayResult {
  /** Parked messages appended again, with new seqs, for the dispatcher. */
  replayed: ParkedRecord[];
  /** Parked messages removed because a later message for the same object superseded them. */
  superseded: ParkedRecord[];
  /** Relist boundaries left parked: replaying an old list would sweep what came since. */
  kept: ParkedRecord[];
}

export interface WalStatus {
  path: string;
  /** Messages appended and not yet acknowledged. */
  depth: number;
  bytes: number;
  /** observedAt of the oldest un-acknowledged message. */
  oldestObservedAt: string | null;
  parked: number;
  /** Highest seq ever appended. */
  lastSeq: number;
  /** The agent that holds (or last held) the WAL, and whether it holds it now. */
  holder: (Holder & { live: boolean }) | null;
}

/** Applied/Deleted messages for the same object coalesce: only the latest matters. */
function objectId(m: KubeMessage): string | null {
  if (m.action === "Restarted" || !m.name) return null;
  return `${m.cluster}\u0000${m.resource}\u0000${m.objectNamespace ?? ""}\u0000${m.name}`;
}

interface ParkedRow {
  seq: number;
  plugin: string;
  error: string;
  parked_at: string;
  body: string;
  object: string | null;
  superseded_by: number | null;
}

function toParkedRecord(r: ParkedRow): ParkedRecord {
  const m = JSON.parse(r.body) as KubeMessage;
  return {
    seq: r.seq,
    plugin: r.plugin,
    error: r.error,
    parkedAt: r.parked_at,
    cluster: m.cluster,
    namespace: m.objectNamespace,
    resource: m.resource,
    name: m.name,
    action: m.action,
    supersededBy: r.superseded_by,
  };
}

/** The -wal file is checkpointed back into the database past this size. */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;

export class Wal {
  private readonly db: Database.Database;
  private readonly walFile: string;
  /** Rows up to here have been handed to the dispatcher: they must not be coalesced away. */
  private dispatchedUpTo = 0;
  /** Kept as messages come and go (counted once at open), so that status() — every
   *  /metrics scrape — costs the same however deep the WAL is. */
  private pendingBytes = 0;
  private pendingCount = 0;
  private parkedCount = 0;
  private readonly q;
  /** Graph scopes (cluster/namespace/Label) this agent has written, remembered across
   *  restarts: one no observer covers any more is swept at the next start. */
  private readonly scopes = new Set<string>();
  /** Objects with a live (not superseded) parked message: an ack of a later message for
   *  one of them marks it superseded. Few, so ack checks a set, not the disk. */
  private readonly parkedObjects = new Set<string>();
  /** The writer's lock on the file: one agent per WAL (core/lock/exclusive-file.ts). */
  private readonly lock: ExclusiveFile | undefined;
  /** Stable identity of this WAL (made when it was created): the agent's identity as a
   *  graph writer, so that a restart on the same WAL takes its own registration back. */
  readonly id: string | undefined;

  constructor(
    readonly path: string,
    options: { readonly?: boolean } = {},
  ) {
    if (!options.readonly) {
      mkdirSync(dirname(path), { recursive: true });
      this.lock = ExclusiveFile.acquire(path, "WAL", () => readHolder(path));
    }
    try {
      this.db = new Database(path, { readonly: options.readonly === true, fileMustExist: options.readonly === true });
    } catch (error) {
      this.lock?.release();
      throw error;
    }
    this.walFile = `${path}-wal`;
    if (!options.readonly) {
      this.db.pragma("auto_vacuum = INCREMENTAL");
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS messages (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT, body TEXT NOT NULL,
          bytes INTEGER NOT NULL, observed_at TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS messages_object ON messages(object) WHERE object IS NOT NULL;
        CREATE TABLE IF NOT EXISTS parked (
          seq INTEGER PRIMARY KEY, plugin TEXT NOT NULL, error TEXT NOT NULL,
          parked_at TEXT NOT NULL, body TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS written_scopes (scope TEXT PRIMARY KEY) WITHOUT ROWID;
      `);
      // WALs from before replay: parked rows without the object they are about.
      const parkedColumns = this.db.prepare<[], { name: string }>("PRAGMA table_info(parked)").all().map((c) => c.name);
      if (!parkedColumns.includes("object")) this.db.exec("ALTER TABLE parked ADD COLUMN object TEXT");
      if (!parkedColumns.includes("superseded_by")) this.db.exec("ALTER TABLE parked ADD COLUMN superseded_by INTEGER");
      this.db.exec("CREATE INDEX IF NOT EXISTS parked_object ON parked(object) WHERE object IS NOT NULL");
      for (const row of this.db.prepare<[], { object: string }>("SELECT DISTINCT object FROM parked WHERE object IS NOT NULL AND superseded_by IS NULL").all()) {
        this.parkedObjects.add(row.object);
      }
      for (const row of this.db.prepare<[], { scope: string }>("SELECT scope FROM written_scopes").all()) this.scopes.add(row.scope);
      recordHolder(this.db, currentHolder());
      this.id = fileIdentity(this.db);
    }
    this.q = {
      insert: this.db.prepare<[string | null, string, number, string]>("INSERT INTO messages (object, body, bytes, observed_at) VALUES (?, ?, ?, ?)"),
      coalesce: this.db.prepare<[string, number], { seq: number; bytes: number }>(
        "DELETE FROM messages WHERE object = ? AND seq > ? RETURNING seq, bytes",
      ),
      read: this.db.prepare<[number, number], { seq: number; body: string }>("SELECT seq, body FROM messages WHERE seq > ? ORDER BY seq LIMIT ?"),
      ack: this.db.prepare<[number], { bytes: number; object: string | null }>("DELETE FROM messages WHERE seq = ? RETURNING bytes, object"),
      depth: this.db.prepare<[], { n: number; bytes: number | null; oldest: string | null }>(
        "SELECT count(*) AS n, sum(bytes) AS bytes, min(observed_at) AS oldest FROM messages",
      ),
      parkedCount: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM parked"),
      // The head of the queue (seq is the rowid): how far the graph lags.
      oldest: this.db.prepare<[], { observed_at: string }>("SELECT observed_at FROM messages ORDER BY seq LIMIT 1"),
      lastSeq: this.db.prepare<[], { seq: number | null }>("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"),
    };
    const depth = this.q.depth.get()!;
    this.pendingBytes = depth.bytes ?? 0;
    this.pendingCount = depth.n;
    this.parkedCount = this.q.parkedCount.get()!.n;
  }

  /** Appends a batch in one transaction; returns when it is durable. */
  append(messages: readonly KubeMessage[]): void {
    // Counted after the commit: a failed append changes nothing.
    let bytes = 0;
    let count = 0;
    this.db.transaction(() => {
      for (const message of messages) {
        const body = JSON.stringify(message);
        const object = objectId(message);
        if (object !== null) {
          for (const removed of this.q.coalesce.all(object, this.dispatchedUpTo)) {
            bytes -= removed.bytes;
            count -= 1;
          }
        }
        this.q.insert.run(object, body, body.length, message.observedAt);
        bytes += body.length;
        count += 1;
      }
    })();
    this.pendingBytes += bytes;
    this.pendingCount += count;
  }

  /** The next un-dispatched messages in seq order (they stay until acknowledged). */
  next(limit: number): WalRecord[] {
    const rows = this.q.read.all(this.dispatchedUpTo, limit);
    const last = rows.at(-1);
    if (last) this.dispatchedUpTo = last.seq;
    return rows.map((r) => ({ seq: r.seq, message: JSON.parse(r.body) as KubeMessage }));
  }

  /** Hands already-read messages out again (after a sink failure). */
  rewind(): void {
    this.dispatchedUpTo = 0;
  }

  /** Removes messages the sink has committed. */
  ack(seqs: readonly number[]): void {
    let bytes = 0;
    let count = 0;
    this.db.transaction(() => {
      for (const seq of seqs) {
        const row = this.q.ack.get(seq);
        if (!row) continue;
        bytes += row.bytes;
        count += 1;
        if (row.object !== null && this.parkedObjects.has(row.object)) this.supersede(row.object, seq);
      }
    })();
    this.pendingBytes -= bytes;
    this.pendingCount -= count;
    this.maybeCheckpoint();
  }

  /** Remembers scopes the sink has written (only new ones touch the disk). */
  rememberScopes(scopes: Iterable<string>): void {
    const fresh = [...new Set(scopes)].filter((s) => !this.scopes.has(s));
    if (fresh.length === 0) return;
    const insert = this.db.prepare("INSERT OR IGNORE INTO written_scopes (scope) VALUES (?)");
    this.db.transaction(() => {
      for (const scope of fresh) insert.run(scope);
    })();
    for (const scope of fresh) this.scopes.add(scope);
  }

  /** Every scope remembered as written. */
  writtenScopes(): string[] {
    return [...this.scopes].sort();
  }

  forgetScopes(scopes: readonly string[]): void {
    const remove = this.db.prepare("DELETE FROM written_scopes WHERE scope = ?");
    this.db.transaction(() => {
      for (const scope of scopes) remove.run(scope);
    })();
    for (const scope of scopes) this.scopes.delete(scope);
  }

  /** Moves a message aside (its plugin could not turn it into graph changes, or the sink
   *  refused them), with the reason. A parked message of the same object before it is
   *  superseded: only the latest state of an object is worth replaying. */
  park(record: WalRecord, plugin: string, error: string): void {
    const object = objectId(record.message);
    let removed: { bytes: number } | undefined;
    this.db.transaction(() => {
      if (object !== null) this.supersede(object, record.seq);
      this.db
        .prepare("INSERT OR REPLACE INTO parked (seq, plugin, error, parked_at, body, object, superseded_by) VALUES (?, ?, ?, ?, ?, ?, NULL)")
        .run(record.seq, plugin, error, new Date().toISOString(), JSON.stringify(record.message), object);
      removed = this.q.ack.get(record.seq);
    })();
    if (removed) {
      this.pendingBytes -= removed.bytes;
      this.pendingCount -= 1;
    }
    // Parking is rare: the parked table is counted again rather than tracked.
    this.parkedCount = this.q.parkedCount.get()!.n;
    if (object !== null) this.parkedObjects.add(object);
  }

  private supersede(object: string, seq: number): void {
    this.db.prepare("UPDATE parked SET superseded_by = ? WHERE object = ? AND superseded_by IS NULL AND seq < ?").run(seq, object, seq);
    this.parkedObjects.delete(object);
  }

  /** Appends the parked messages that are still the latest word on their object again
   *  (new seqs, after everything waiting), e.g. once a plugin or sink is fixed; removes
   *  the superseded ones. Relist boundaries stay parked: a newer list replaces them, and
   *  replaying an old one would sweep away what was created since. */
  replay(): ReplayResult {
    const result: ReplayResult = { replayed: [], superseded: [], kept: [] };
    const waiting = this.db.prepare<[string], { n: number }>("SELECT EXISTS (SELECT 1 FROM messages WHERE object = ?) AS n");
    const remove = this.db.prepare<[number]>("DELETE FROM parked WHERE seq = ?");
    this.db.transaction(() => {
      for (const row of this.parkedRows("ORDER BY seq", [])) {
        const record = toParkedRecord(row);
        if (row.superseded_by !== null || (row.object !== null && waiting.get(row.object)!.n > 0)) {
          remove.run(row.seq);
          result.superseded.push(record);
        } else if (record.action === "Restarted") {
          result.kept.push(record);
        } else {
          remove.run(row.seq);
          this.append([JSON.parse(row.body) as KubeMessage]);
          result.replayed.push(record);
        }
      }
    })();
    this.parkedObjects.clear();
    this.parkedCount = this.q.parkedCount.get()!.n;
    return result;
  }

  /** Discards parked messages: those with these seqs, or all of them. Returns what went. */
  drop(seqs?: readonly number[]): ParkedRecord[] {
    const remove = this.db.prepare<[number]>("DELETE FROM parked WHERE seq = ?");
    const wanted = seqs ? new Set(seqs) : undefined;
    const dropped: ParkedRecord[] = [];
    this.db.transaction(() => {
      for (const row of this.parkedRows("ORDER BY seq", [])) {
        if (wanted && !wanted.has(row.seq)) continue;
        remove.run(row.seq);
        dropped.push(toParkedRecord(row));
        if (row.object !== null) this.parkedObjects.delete(row.object);
      }
    })();
    this.parkedCount = this.q.parkedCount.get()!.n;
    return dropped;
  }

  get bytes(): number {
    return this.pendingBytes;
  }

  /** O(1) in the WAL's depth (the counts are kept, the oldest is the queue's head). */
  status(): WalStatus {
    return {
      path: this.path,
      depth: this.pendingCount,
      bytes: this.pendingBytes,
      oldestObservedAt: this.q.oldest.get()?.observed_at ?? null,
      parked: this.parkedCount,
      lastSeq: this.q.lastSeq.get()?.seq ?? 0,
      holder: this.holder(),
    };
  }

  private holder(): WalStatus["holder"] {
    const holder = readHolderFrom(this.db);
    if (!holder) return null;
    return { ...holder, live: this.lock !== undefined || ExclusiveFile.isHeld(this.path) };
  }

  parked(limit = 50): ParkedRecord[] {
    return this.parkedRows("ORDER BY seq DESC LIMIT ?", [limit]).map(toParkedRecord);
  }

  private parkedRows(tail: string, params: number[]): ParkedRow[] {
    // A read-only look at a WAL from before replay existed: those columns are missing.
    const columns = this.db.prepare<[], { name: string }>("PRAGMA table_info(parked)").all().map((c) => c.name);
    const object = columns.includes("object") ? "object" : "NULL AS object";
    const superseded = columns.includes("superseded_by") ? "superseded_by" : "NULL AS superseded_by";
    return this.db.prepare<number[], ParkedRow>(`SELECT seq, plugin, error, parked_at, body, ${object}, ${superseded} FROM parked ${tail}`).all(...params);
  }

  private maybeCheckpoint(): void {
    let size = 0;
    try {
      size = statSync(this.walFile).size;
    } catch {
      return;
    }
    if (size < CHECKPOINT_BYTES) return;
    this.db.pragma("wal_checkpoint(TRUNCATE)");
    this.db.pragma("incremental_vacuum");
  }

  close(): void {
    if (this.db.open) this.db.close();
    this.lock?.release();
  }
}
