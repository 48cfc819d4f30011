// One writer per file. An agent holds an OS lock on `<file>.lock` for its whole life, so a
// second agent pointed at the same WAL or embedded graph is refused instead of silently
// taking the first one's messages. The lock is SQLite's own (a POSIX fcntl lock, taken by
// putting a small database beside the file in EXCLUSIVE locking mode): the kernel drops it
// when the process dies, SIGKILL and OOM kill included, so a restart never waits for a
// stale lock to time out. Readers of the protected file (graph commands, `wal status`) do
// not touch the lock and keep working beside a live agent.
import Database from "better-sqlite3";
import { hostname } from "node:os";
import { existsSync } from "node:fs";

/** Who holds a file, as recorded in the protected database when the lock was taken. */
export interface Holder {
  pid: number;
  host: string;
  /** ISO time the holder took the lock. */
  since: string;
  /** The holder's command line (argv without node and the script). */
  command: string;
}

/** The lock is held by a live process; exit code 2 (usage error, not a crash). */
export class FileInUseError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly what: string,
    readonly holder: Holder | undefined,
  ) {
    const who = holder
      ? `kube-observer agent pid ${holder.pid} on host ${holder.host} (since ${holder.since}, "${holder.command}")`
      : "another kube-observer agent (its pid and host were not recorded)";
    super(
      `the ${what} ${file} is in use by ${who}. Two agents on one ${what} take each other's messages and lose graph updates, so this one will not start. ` +
        `Stop that agent first, or give this one its own ${what === "WAL" ? "wal.path" : "sink.sqlitePath"} in the config. ` +
        `Read-only commands (graph, who-uses, wal status, verify) work beside it.`,
    );
    this.name = "FileInUseError";
  }
}

/** How long to wait for the lock before refusing: covers another process probing it
 *  (isHeld) for an instant, never a live holder. */
const ACQUIRE_TIMEOUT_MS = 1_000;

export function lockFileOf(file: string): string {
  return `${file}.lock`;
}

export function currentHolder(): Holder {
  return { pid: process.pid, host: hostname(), since: new Date().toISOString(), command: process.argv.slice(2).join(" ") };
}

export class ExclusiveFile {
  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
  ) {}

  /**
   * Takes the lock on `file`, or throws FileInUseError naming the holder, which
   * `readHolder` reads from the protected file (the lock file itself cannot be read
   * while it is held).
   */
  static acquire(file: string, what: string, readHolder: () => Holder | undefined): ExclusiveFile {
    const db = new Database(lockFileOf(file), { timeout: ACQUIRE_TIMEOUT_MS });
    try {
      // EXCLUSIVE locking mode keeps the write lock after the first write transaction
      // commits, until the connection closes (or the process ends).
      db.pragma("locking_mode = EXCLUSIVE");
      db.exec(
        "BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS lock (note TEXT); CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, value TEXT NOT NULL); COMMIT;",
      );
    } catch (error) {
      db.close();
      const code = (error as { code?: string }).code ?? "";
      if (code === "SQLITE_BUSY") throw new FileInUseError(file, what, safeRead(readHolder));
      // Never replaced automatically: two agents replacing it at once would each hold a lock.
      const damaged =
        code.startsWith("SQLITE_NOTADB") || code.startsWith("SQLITE_CORRUPT")
          ? `; the lock file is damaged: remove it while no agent runs on this ${what}`
          : "";
      throw new Error(`cannot lock the ${what} ${file} (${lockFileOf(file)}): ${(error as Error).message}${damaged}`, { cause: error });
    }
    return new ExclusiveFile(file, db);
  }

  /** Whether a live process holds the lock on `file` (for status commands). */
  static isHeld(file: string): boolean {
    const lock = lockFileOf(file);
    if (!existsSync(lock)) return false;
    const db = new Database(lock, { readonly: true, timeout: 0 });
    try {
      db.prepare("SELECT count(*) FROM sqlite_master").get();
      return false;
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_BUSY") return true;
      throw error;
    } finally {
      db.close();
    }
  }

  /** A note kept in the lock file, which only the holder can read: a copy of what must
   *  outlive the protected file when a damaged one is replaced (the WAL's identity). Best
   *  effort: the protected file stays the source. */
  recall(key: string): string | undefined {
    try {
      return this.db.prepare<[string], { value: string }>("SELECT value FROM notes WHERE key = ?").get(key)?.value;
    } catch {
      return undefined;
    }
  }

  remember(key: string, value: string): void {
    try {
      this.db.prepare("INSERT INTO notes (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
    } catch {
      /* the copy is a convenience: the WAL holds the identity */
    }
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}

function safeRead(read: () => Holder | undefined): Holder | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
