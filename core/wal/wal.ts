// The write-ahead log between observers and the graph sink: an SQLite table of
// KubeMessages with a monotonically increasing seq. A batch is appended in one
// transaction and is durable (journal_mode=WAL, synchronous=NORMAL survives a process
// crash) before anyone is told it was accepted. Messages are acknowledged once the sink
// has committed them, and removed; after a crash the un-acknowledged ones are replayed.
import Database from "better-sqlite3";
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ExclusiveFile, currentHolder, type Holder } from "../lock/exclusive-file.js";
import { fileIdentity, readHolder, readHolderFrom, recordHolder, salvageIdentity } from "../lock/meta-table.js";
import type { KubeMessage } from "../messages.js";
import { checkIntegrity, CorruptFileError, DamageGuard, integrityCheckFor, isDamage, openOrMoveAside, type DamageRecovery } from "../storage/damaged-file.js";

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

export interface WalOptions {
  /** A read-only look (`wal status`): no lock, nothing written; the file must exist. */
  readonly?: boolean;
  /** The agent's: a damaged WAL is moved aside and replaced by a fresh one, at open and
   *  while running (core/storage/damaged-file.ts). Without it damage is a CorruptFileError. */
  recovery?: DamageRecovery;
  /** Applied/Deleted messages of one object replace its earlier undelivered ones (the
   *  default: the graph needs only the latest). Off when the history is kept: it records
   *  every change, so each must reach the dispatcher. */
  coalesce?: boolean;
}

/** What a fresh WAL keeps of the one it replaces while running. */
interface Carried {
  id: string | undefined;
  scopes: readonly string[];
  /** New seqs start above it: acks of messages read from the old file must not hit new ones. */
  lastSeq: number;
}

const WAL_COST = "messages not yet in the graph are observed again by the relist; parked messages come back if their plugin still fails";

export class Wal {
  private db!: Database.Database;
  private readonly walFile: string;
  private readonly readonly: boolean;
  /** Every operation runs through it: a damaged page met gets a reader CorruptFileError,
   *  the agent a fresh WAL and a relist (core/storage/damaged-file.ts). */
  private readonly guard: DamageGuard;
  /** Rows up to here have been handed to the dispatcher: they must not be coalesced away. */
  private dispatchedUpTo = 0;
  /** The highest seq appended (a fresh WAL continues above it). */
  private highestSeq = 0;
  /** Kept as messages come and go (counted once at open), so that status() — every
   *  /metrics scrape — costs the same however deep the WAL is. */
  private pendingBytes = 0;
  private pendingCount = 0;
  private parkedCount = 0;
  private q!: ReturnType<Wal["prepare"]>;
  /** Graph scopes (cluster/namespace/Label) this agent has written, remembered across
   *  restarts: one no observer covers any more is swept at the next start. */
  private readonly scopes = new Set<string>();
  /** Objects with a live (not superseded) parked message: an ack of a later message for
   *  one of them marks it superseded. Few, so ack checks a set, not the disk. */
  private readonly parkedObjects = new Set<string>();
  /** The writer's lock on the file: one agent per WAL (core/lock/exclusive-file.ts). */
  private readonly lock: ExclusiveFile | undefined;
  /** Stable identity of this WAL (made when it was created): the agent's identity as a
   *  graph writer, so that a restart on the same WAL takes its own registration back. A
   *  fresh WAL that replaces a damaged one keeps it (salvaged, or the lock file's copy). */
  id: string | undefined;

  /** Whether a message replaces its object's undelivered ones (WalOptions.coalesce). */
  private readonly coalesce: boolean;

  constructor(
    readonly path: string,
    options: WalOptions = {},
  ) {
    this.readonly = options.readonly === true;
    this.coalesce = options.coalesce ?? true;
    this.walFile = `${path}-wal`;
    const target = { file: path, what: "WAL" as const, cost: WAL_COST };
    const recovery = this.readonly ? undefined : options.recovery;
    // A WAL replaced while running keeps its identity, its written scopes and its seq.
    let carried: Carried | undefined;
    this.guard = new DamageGuard(target, recovery, {
      close: () => {
        carried = { id: this.id, scopes: [...this.scopes], lastSeq: this.highestSeq };
        this.db.close();
      },
      reopen: () => {
        this.db = this.openWritable(undefined, carried);
      },
    });
    if (!this.readonly) {
      mkdirSync(dirname(path), { recursive: true });
      this.lock = ExclusiveFile.acquire(path, "WAL", () => readHolder(path));
    }
    try {
      // Read before a damaged file is moved aside: its identity often survives the damage.
      const inherited = this.readonly ? undefined : salvageIdentity(path);
      this.db = this.readonly ? this.openReadOnly() : openOrMoveAside(target, recovery, () => this.openWritable(inherited));
    } catch (error) {
      this.lock?.release();
      throw error;
    }
  }

  /** `wal status`: the cheap probe only (it must stay O(1) in the WAL's depth). */
  private openReadOnly(): Database.Database {
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    try {
      checkIntegrity(db, "probe");
      this.q = this.prepare(db);
      this.count();
      return db;
    } catch (error) {
      db.close();
      throw isDamage(error) ? new CorruptFileError(this.path, "WAL", error) : error;
    }
  }

  /** Opens (or creates) the file for writing, after checking it is not damaged. */
  private openWritable(inheritedId: string | undefined, carried?: Carried): Database.Database {
    const db = new Database(this.path);
    try {
      checkIntegrity(db, integrityCheckFor(this.path));
      db.pragma("auto_vacuum = INCREMENTAL");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec(`
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
      const parkedColumns = db
        .prepare<[], { name: string }>("PRAGMA table_info(parked)")
        .all()
        .map((c) => c.name);
      if (!parkedColumns.includes("object")) db.exec("ALTER TABLE parked ADD COLUMN object TEXT");
      if (!parkedColumns.includes("superseded_by")) db.exec("ALTER TABLE parked ADD COLUMN superseded_by INTEGER");
      db.exec("CREATE INDEX IF NOT EXISTS parked_object ON parked(object) WHERE object IS NOT NULL");
      if (carried) {
        db.transaction(() => {
          db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)").run(carried.lastSeq);
          const insert = db.prepare("INSERT OR IGNORE INTO written_scopes (scope) VALUES (?)");
          for (const scope of carried.scopes) insert.run(scope);
        })();
      }
      const parkedObjects = db.prepare<[], { object: string }>("SELECT DISTINCT object FROM parked WHERE object IS NOT NULL AND superseded_by IS NULL").all();
      const scopes = db.prepare<[], { scope: string }>("SELECT scope FROM written_scopes").all();
      recordHolder(db, currentHolder());
      this.id = fileIdentity(db, carried?.id ?? inheritedId ?? this.lock?.recall("wal-id"));
      this.lock?.remember("wal-id", this.id);
      this.q = this.prepare(db);
      this.dispatchedUpTo = 0;
      this.count();
      // Only what the file that opened holds (not a damaged one's, read before it failed).
      this.parkedObjects.clear();
      for (const row of parkedObjects) this.parkedObjects.add(row.object);
      this.scopes.clear();
      for (const row of scopes) this.scopes.add(row.scope);
      return db;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private prepare(db: Database.Database) {
    return {
      insert: db.prepare<[string | null, string, number, string]>("INSERT INTO messages (object, body, bytes, observed_at) VALUES (?, ?, ?, ?)"),
      coalesce: db.prepare<[string, number], { seq: number; bytes: number }>("DELETE FROM messages WHERE object = ? AND seq > ? RETURNING seq, bytes"),
      read: db.prepare<[number, number], { seq: number; body: string }>("SELECT seq, body FROM messages WHERE seq > ? ORDER BY seq LIMIT ?"),
      ack: db.prepare<[number], { bytes: number; object: string | null }>("DELETE FROM messages WHERE seq = ? RETURNING bytes, object"),
      depth: db.prepare<[], { n: number; bytes: number | null; oldest: string | null }>(
        "SELECT count(*) AS n, sum(bytes) AS bytes, min(observed_at) AS oldest FROM messages",
      ),
      parkedCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM parked"),
      // The head of the queue (seq is the rowid): how far the graph lags.
      oldest: db.prepare<[], { observed_at: string }>("SELECT observed_at FROM messages ORDER BY seq LIMIT 1"),
      lastSeq: db.prepare<[], { seq: number | null }>("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"),
    };
  }

  private count(): void {
    const depth = this.q.depth.get()!;
    this.pendingBytes = depth.bytes ?? 0;
    this.pendingCount = depth.n;
    this.parkedCount = this.q.parkedCount.get()!.n;
    this.highestSeq = Math.max(this.highestSeq, this.q.lastSeq.get()?.seq ?? 0);
  }

  /** Appends a batch in one transaction; returns when it is durable. */
  append(messages: readonly KubeMessage[]): void {
    this.guard.run(() => {
      // Counted after the commit: a failed append changes nothing.
      let bytes = 0;
      let count = 0;
      let last = 0;
      this.db.transaction(() => {
        for (const message of messages) {
          const body = JSON.stringify(message);
          const object = objectId(message);
          if (object !== null && this.coalesce) {
            for (const removed of this.q.coalesce.all(object, this.dispatchedUpTo)) {
              bytes -= removed.bytes;
              count -= 1;
            }
          }
          last = Number(this.q.insert.run(object, body, body.length, message.observedAt).lastInsertRowid);
          bytes += body.length;
          count += 1;
        }
      })();
      this.pendingBytes += bytes;
      this.pendingCount += count;
      this.highestSeq = Math.max(this.highestSeq, last);
    });
  }

  /** The next un-dispatched messages in seq order (they stay until acknowledged). */
  next(limit: number): WalRecord[] {
    const rows = this.guard.run(() => this.q.read.all(this.dispatchedUpTo, limit));
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
    this.guard.run(() => {
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
    });
  }

  /** Remembers scopes the sink has written (only new ones touch the disk). */
  rememberScopes(scopes: Iterable<string>): void {
    const fresh = [...new Set(scopes)].filter((s) => !this.scopes.has(s));
    if (fresh.length === 0) return;
    this.guard.run(() => {
      const insert = this.db.prepare("INSERT OR IGNORE INTO written_scopes (scope) VALUES (?)");
      this.db.transaction(() => {
        for (const scope of fresh) insert.run(scope);
      })();
    });
    for (const scope of fresh) this.scopes.add(scope);
  }

  /** Every scope remembered as written. */
  writtenScopes(): string[] {
    return [...this.scopes].sort();
  }

  forgetScopes(scopes: readonly string[]): void {
    this.guard.run(() => {
      const remove = this.db.prepare("DELETE FROM written_scopes WHERE scope = ?");
      this.db.transaction(() => {
        for (const scope of scopes) remove.run(scope);
      })();
    });
    for (const scope of scopes) this.scopes.delete(scope);
  }

  /** Moves a message aside (its plugin could not turn it into graph changes, or the sink
   *  refused them), with the reason. A parked message of the same object before it is
   *  superseded: only the latest state of an object is worth replaying. */
  park(record: WalRecord, plugin: string, error: string): void {
    const object = objectId(record.message);
    this.guard.run(() => {
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
    });
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
    return this.guard.run(() => this.replayNow());
  }

  private replayNow(): ReplayResult {
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
    return this.guard.run(() => this.dropNow(seqs));
  }

  private dropNow(seqs?: readonly number[]): ParkedRecord[] {
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
    const counts = () => ({ path: this.path, depth: this.pendingCount, bytes: this.pendingBytes, parked: this.parkedCount });
    // Stopping after the WAL became unusable: what is known, without the file.
    if (this.guard.failure) return { ...counts(), oldestObservedAt: null, lastSeq: this.highestSeq, holder: null };
    return this.guard.run(() => ({
      ...counts(),
      oldestObservedAt: this.q.oldest.get()?.observed_at ?? null,
      lastSeq: this.q.lastSeq.get()?.seq ?? 0,
      holder: this.holder(),
    }));
  }

  private holder(): WalStatus["holder"] {
    const holder = readHolderFrom(this.db);
    if (!holder) return null;
    return { ...holder, live: this.lock !== undefined || ExclusiveFile.isHeld(this.path) };
  }

  parked(limit = 50): ParkedRecord[] {
    return this.guard.run(() => this.parkedRows("ORDER BY seq DESC LIMIT ?", [limit]).map(toParkedRecord));
  }

  private parkedRows(tail: string, params: number[]): ParkedRow[] {
    // A read-only look at a WAL from before replay existed: those columns are missing.
    const columns = this.db
      .prepare<[], { name: string }>("PRAGMA table_info(parked)")
      .all()
      .map((c) => c.name);
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
