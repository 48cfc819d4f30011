// The history's inbox (with Neo4j, or a history file of its own): batches the sink has
// committed, queued durably for the history's copy of the graph. A batch is written while
// the sink works on it (stage) and committed once the sink committed it, before the WAL
// acknowledges it, so the WAL's ack never runs ahead of what the history will record; the
// copy's thread (copy-worker.ts) records the batches in order, off the dispatcher's path,
// and notes in its own transaction the last one it recorded ("inbox_applied" in
// history_meta), so each is recorded once across crashes. A SQLite file of its own beside
// the history's: writing never waits for the copy's write transaction.
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import { deserialize, serialize } from "node:v8";
import type { DerivedEdgeSet, GraphOp } from "../graph/model.js";
import { type DamageRecovery, openOrMoveAside } from "../storage/damaged-file.js";
import type { OpOrigin } from "./origin.js";
import { hasHistoryTables, readMeta, writeMeta } from "./schema.js";

/** One queued entry: a batch of ops (with their origins and contract marks, which a clone
 *  loses), or a set of derived edges with the time it was computed. */
export type InboxEntry =
  | { kind: "ops"; ops: readonly GraphOp[]; origins: ReadonlyArray<OpOrigin | null>; conforming: readonly boolean[] }
  | { kind: "derived"; sets: readonly DerivedEdgeSet[]; exclusive: string | undefined; atMs: number };

/** An entry as the inbox stores it (encoded while the sink works on the batch). */
export interface EncodedEntry {
  body: Buffer;
  /** The earliest observation among its ops (null: none). */
  firstMs: number | null;
}

export function encodeEntry(entry: InboxEntry): EncodedEntry {
  let firstMs: number | null = null;
  if (entry.kind === "ops") for (const o of entry.origins) if (o && (firstMs === null || o.observedAtMs < firstMs)) firstMs = o.observedAtMs;
  return { body: serialize(entry), firstMs };
}

/** Where the copy notes, in its own history_meta and in the same transaction as an
 *  entry's versions, the last inbox entry it recorded. */
const RECORDED_META = "inbox_applied";

/** The last inbox entry recorded in a history (0: none). */
export function readRecorded(history: Database.Database): number {
  return Number(readMeta(history, RECORDED_META) ?? 0);
}

/** Notes `seq` as recorded (inside the transaction that recorded it). */
export function writeRecorded(history: Database.Database, seq: number): void {
  writeMeta(history, RECORDED_META, String(seq));
}

/** The inbox beside a history file. */
export function inboxFile(historyPath: string): string {
  return historyPath.endsWith(".sqlite") ? `${historyPath.slice(0, -".sqlite".length)}.inbox.sqlite` : `${historyPath}.inbox`;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY,
  body BLOB NOT NULL,
  -- The earliest observation among the entry's ops (null: none): the history's coverage
  -- stops short of it until the entry is recorded.
  first_ms INTEGER
)`;

/** The agent's side: appends, and drops what the copy has recorded. */
export class HistoryInbox {
  private readonly db: Database.Database;
  private readonly append: Database.Statement<[number, Buffer, number | null]>;
  /** Bytes of each entry not yet recorded, by seq (the backlog the dispatcher may wait on). */
  private readonly waiting = new Map<number, number>();
  private waitingBytes = 0;
  private nextSeq: number;

  private constructor(
    readonly path: string,
    db: Database.Database,
    recorded: number,
  ) {
    this.db = db;
    this.append = db.prepare("INSERT INTO inbox (seq, body, first_ms) VALUES (?, ?, ?)");
    db.prepare("DELETE FROM inbox WHERE seq <= ?").run(recorded);
    // A replaced (empty) inbox goes on after what the copy recorded: never a seq it took.
    let last = recorded;
    for (const row of db.prepare<[], { seq: number; bytes: number }>("SELECT seq, length(body) AS bytes FROM inbox ORDER BY seq").all()) {
      this.waiting.set(row.seq, row.bytes);
      this.waitingBytes += row.bytes;
      last = row.seq;
    }
    this.nextSeq = last + 1;
  }

  /** Opens (or makes) the inbox; `recorded` is the last seq the copy recorded. A damaged
   *  inbox is moved aside and replaced (with `recovery`). */
  static open(path: string, recorded: number, recovery?: DamageRecovery): HistoryInbox {
    const target = { file: path, what: "embedded graph" as const, cost: "the history's queued batches: the graph is observed again (relist)" };
    const opened = openOrMoveAside(target, recovery, () => {
      const db = new Database(path);
      try {
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        db.exec(SCHEMA);
        // Reads every page of the table: a damaged file shows here, and is moved aside.
        db.prepare("SELECT count(*) FROM inbox").get();
        return db;
      } catch (error) {
        db.close();
        throw error;
      }
    });
    // Replaced at start-up: the start's relist observes again what it held.
    return new HistoryInbox(path, opened, recorded);
  }

  /** Appends an entry durably; its seq. */
  add(entry: InboxEntry | EncodedEntry): number {
    return this.stage(entry).commit();
  }

  /** Writes an entry in a transaction left open (while the sink works on the same batch):
   *  `commit()` makes it durable and returns its seq; `rollback()` leaves no trace. Nothing
   *  else may be staged until one of the two is called. */
  stage(entry: InboxEntry | EncodedEntry): { commit(): number; rollback(): void } {
    const { body, firstMs } = "body" in entry ? entry : encodeEntry(entry);
    const seq = this.nextSeq;
    this.db.exec("BEGIN IMMEDIATE");
    try {
      this.append.run(seq, body, firstMs);
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
    let open = true;
    return {
      commit: () => {
        if (!open) throw new Error("the inbox entry was already committed or rolled back");
        open = false;
        try {
          this.db.exec("COMMIT");
        } catch (error) {
          if (this.db.inTransaction) this.db.exec("ROLLBACK");
          throw error;
        }
        this.nextSeq = seq + 1;
        this.waiting.set(seq, body.length);
        this.waitingBytes += body.length;
        return seq;
      },
      rollback: () => {
        if (!open) return;
        open = false;
        if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
      },
    };
  }

  /** The copy recorded everything up to `seq`: dropped (within a staged entry's transaction
   *  if one is open: undone with it, and dropped again the next time). */
  recorded(seq: number): void {
    for (const [s, bytes] of this.waiting) {
      if (s > seq) break;
      this.waiting.delete(s);
      this.waitingBytes -= bytes;
    }
    this.db.prepare("DELETE FROM inbox WHERE seq <= ?").run(seq);
  }

  /** Entries appended and not yet recorded. */
  get backlog(): { entries: number; bytes: number; lastSeq: number } {
    return { entries: this.waiting.size, bytes: this.waitingBytes, lastSeq: this.nextSeq - 1 };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** The copy's side: reads the entries after the last one it recorded. */
export class InboxReader {
  private readonly db: Database.Database;
  private readonly nextRow: Database.Statement<[number], { seq: number; body: Buffer }>;
  private readonly oldest: Database.Statement<[number], { ms: number | null }>;

  constructor(readonly path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true, timeout: 5_000 });
    this.nextRow = this.db.prepare("SELECT seq, body FROM inbox WHERE seq > ? ORDER BY seq LIMIT 1");
    this.oldest = this.db.prepare("SELECT min(first_ms) AS ms FROM inbox WHERE seq > ?");
  }

  next(after: number): { seq: number; entry: InboxEntry } | undefined {
    const row = this.nextRow.get(after);
    return row ? { seq: row.seq, entry: deserialize(row.body) as InboxEntry } : undefined;
  }

  /** The earliest observation still waiting after `after` (null: none). */
  oldestWaiting(after: number): number | null {
    return this.oldest.get(after)?.ms ?? null;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** What waits in the inbox beside a history file, unrecorded (undefined: no inbox; the
 *  history is kept in the graph's file, or the agent never ran with Neo4j). Read-only:
 *  for the commands that run beside a live agent. */
export function waitingInInbox(historyPath: string): { entries: number; oldestObservedMs: number | null } | undefined {
  const path = inboxFile(historyPath);
  if (!existsSync(path) || !existsSync(historyPath)) return undefined;
  const history = new Database(historyPath, { readonly: true, fileMustExist: true, timeout: 5_000 });
  let recorded: number;
  try {
    recorded = hasHistoryTables(history) ? readRecorded(history) : 0;
  } finally {
    history.close();
  }
  const inbox = new Database(path, { readonly: true, fileMustExist: true, timeout: 5_000 });
  try {
    const row = inbox.prepare<[number], { n: number; ms: number | null }>("SELECT count(*) AS n, min(first_ms) AS ms FROM inbox WHERE seq > ?").get(recorded);
    return { entries: row?.n ?? 0, oldestObservedMs: row?.ms ?? null };
  } finally {
    inbox.close();
  }
}
