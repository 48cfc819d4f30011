// A damaged SQLite file (the WAL, the embedded graph) must not end in a crash-loop. SQLite
// reports damage as SQLITE_NOTADB (the header is gone: "file is not a database") or
// SQLITE_CORRUPT (a malformed page), at open, from `PRAGMA quick_check`, or later when a
// read, append or apply meets the page. The agent then moves the file (with its -wal and
// -shm) aside to `<file>.corrupt-<UTC time>`, logs it loudly and starts a fresh one: the
// graph is derived (the relist every start makes rebuilds it) and the WAL's un-acknowledged
// messages are observed again by that relist (a file replaced while running has every
// observer relist: DamageGuard). Read-only commands never move anything: they report the
// damage (CorruptFileError) and leave the file where it is.
//
// Moving aside is bounded: a fresh file that is damaged at once, or a file damaged again
// after MAX_RECENT_ASIDES copies were moved aside within RECENT_WINDOW_MS, means the disk
// or filesystem is failing, and the agent stops with StorageUnusableError (exit code 3)
// instead of filling the volume with damaged copies.
//
// The lock file (`<file>.lock`, core/lock/exclusive-file.ts) is never moved: the agent
// holds it across the replacement, so no second agent can slip in between.
import Database from "better-sqlite3";
import { existsSync, readdirSync, renameSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** How the file is named in messages (as core/lock/exclusive-file.ts names it). */
export type StoreName = "WAL" | "embedded graph";

/** Exit code of an agent whose storage cannot be used (a damaged file came back). */
export const STORAGE_UNUSABLE_EXIT_CODE = 3;

/** Files up to this size (with their -wal) get `PRAGMA quick_check` when the agent opens
 *  them; larger ones the cheap probe, the rest being found when a read meets it. Measured
 *  on this project's 2-core machine: quick_check costs ~22 ms/MB with a cold page cache
 *  (2.3 s for a tier-M graph of 104 MB) and ~4 ms/MB warm, the probe ~35 ms whatever the
 *  size; the start-up relist reads most pages anyway. KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES
 *  overrides it (0: always the probe). */
export const QUICK_CHECK_MAX_BYTES = 128 * 1024 * 1024;

const MAX_RECENT_ASIDES = 3;
const RECENT_WINDOW_MS = 60 * 60 * 1000;

const DAMAGE_CODES = ["SQLITE_CORRUPT", "SQLITE_NOTADB"];

/** What an integrity check found (quick_check rows, never row content). */
export class DamageFound extends Error {
  constructor(readonly finding: string) {
    super(finding);
    this.name = "DamageFound";
  }
}

/** Whether SQLite (or our check) says the file itself is damaged, through causes. */
export function isDamage(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    if (e instanceof DamageFound || e instanceof CorruptFileError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && DAMAGE_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return true;
  }
  return false;
}

/** The damage in a few words: SQLite's code and message, or the check's finding. */
export function describeDamage(error: unknown): string {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    if (e instanceof DamageFound) return e.finding;
    if (e instanceof CorruptFileError) return e.finding;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_")) return `${code}: ${e.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A damaged file met by a command that must not change it (read-only commands, `wal
 *  replay|drop`). */
export class CorruptFileError extends Error {
  readonly exitCode = 1;
  readonly finding: string;
  constructor(
    readonly file: string,
    readonly what: StoreName,
    cause: unknown,
  ) {
    const finding = describeDamage(cause);
    super(
      `the ${what} ${file} is damaged (${finding}). This command leaves it as it is. ` +
        `The agent (kube-observer run) moves a damaged ${what} aside to ${file}.corrupt-<time> when it meets one and starts a fresh one: ` +
        (what === "WAL" ? "messages not yet in the graph are observed again by its relist." : "the graph is rebuilt from its relist."),
      { cause },
    );
    this.name = "CorruptFileError";
    this.finding = finding;
  }
}

/** The file is damaged again right after it was replaced, or too often: exit code 3. */
export class StorageUnusableError extends Error {
  readonly exitCode = STORAGE_UNUSABLE_EXIT_CODE;
  constructor(
    readonly file: string,
    readonly what: StoreName,
    why: string,
    cause?: unknown,
  ) {
    super(
      `the ${what} ${file} cannot be used: ${why}. The disk or filesystem may be failing, so the agent stops instead of moving damaged files aside forever. ` +
        `Check the volume (kernel log, filesystem), then delete the damaged copies (${file}.corrupt-*) or point ${what === "WAL" ? "wal.path" : "sink.sqlitePath"} at another volume.`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "StorageUnusableError";
  }
}

export type IntegrityCheck = "quick_check" | "probe";

/** quick_check for files the agent can afford to read whole at open, the probe above that. */
export function integrityCheckFor(file: string, env: NodeJS.ProcessEnv = process.env): IntegrityCheck {
  const override = Number(env.KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES);
  const limit = env.KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES !== undefined && Number.isFinite(override) ? override : QUICK_CHECK_MAX_BYTES;
  return sizeOf(file) + sizeOf(`${file}-wal`) <= limit ? "quick_check" : "probe";
}

/**
 * Throws DamageFound (or SQLite's own SQLITE_CORRUPT/NOTADB error) when the file is
 * damaged. quick_check walks every b-tree page; the probe reads the header, the schema and
 * the first and last rows of every table (where reads and appends start).
 */
export function checkIntegrity(db: Database.Database, how: IntegrityCheck): void {
  if (how === "quick_check") {
    const problems = (db.pragma("quick_check(3)") as Array<{ quick_check: string }>).map((r) => r.quick_check).filter((t) => t !== "ok");
    if (problems.length > 0) throw new DamageFound(`PRAGMA quick_check: ${problems.join("; ").replace(/\s+/g, " ")}`);
    return;
  }
  const tables = db.prepare<[], { name: string; sql: string | null }>("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all();
  for (const { name, sql } of tables) {
    const table = `"${name.replaceAll('"', '""')}"`;
    if (/WITHOUT\s+ROWID/i.test(sql ?? "")) {
      db.prepare(`SELECT * FROM ${table} LIMIT 1`).all();
    } else {
      db.prepare(`SELECT * FROM ${table} ORDER BY rowid LIMIT 1`).all();
      db.prepare(`SELECT * FROM ${table} ORDER BY rowid DESC LIMIT 1`).all();
    }
  }
}

/** `doctor`: the damage quick_check finds in a file (read-only, whatever its size), or
 *  undefined when there is none. */
export function findDamage(file: string): string | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 1_000 });
    checkIntegrity(db, "quick_check");
    return undefined;
  } catch (error) {
    if (isDamage(error)) return describeDamage(error);
    throw error;
  } finally {
    db?.close();
  }
}

/** Whether the agent would refuse to move another damaged copy of `file` aside now. */
export function tooManyAsides(file: string, now = new Date()): string[] | undefined {
  const recent = recentAsides(file, now);
  return recent.length >= MAX_RECENT_ASIDES ? recent : undefined;
}

/** `<file>.corrupt-2026-12-02T20-51-00Z` (another suffix if that name is taken). */
export function asideName(file: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replaceAll(":", "-");
  let name = `${file}.corrupt-${stamp}`;
  for (let n = 2; existsSync(name); n++) name = `${file}.corrupt-${stamp}-${n}`;
  return name;
}

/** Renames the file and its -wal and -shm (so that the copy opens as it was); returns the
 *  copy's name. The caller has closed its connection and holds the file's lock. */
export function moveAside(file: string, at: Date): string {
  const aside = asideName(file, at);
  for (const suffix of ["", "-wal", "-shm"]) {
    if (existsSync(`${file}${suffix}`)) renameSync(`${file}${suffix}`, `${aside}${suffix}`);
  }
  return aside;
}

/** Copies of `file` moved aside within the window before `now`, by their names' times. */
export function recentAsides(file: string, now: Date, windowMs = RECENT_WINDOW_MS): string[] {
  const prefix = `${basename(file)}.corrupt-`;
  let names: string[];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return [];
  }
  return names
    .filter((name) => name.startsWith(prefix) && !name.endsWith("-wal") && !name.endsWith("-shm"))
    .filter((name) => {
      const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z/.exec(name.slice(prefix.length));
      const at = m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) : NaN;
      return Number.isFinite(at) && now.getTime() - at < windowMs && at <= now.getTime() + 60_000;
    })
    .sort()
    .map((name) => join(dirname(file), name));
}

/** The agent's side: what a replacement is logged as and who hears of it. */
export interface DamageRecovery {
  log: { error(obj: object, msg: string): void };
  /** A damaged file was moved aside (metrics). */
  onMovedAside?: () => void;
  /** It was replaced while running: what it held must be observed again (relist). */
  onReplaced?: () => void;
  /** It cannot be replaced (damaged again): the agent must stop. */
  onUnusable?: (error: StorageUnusableError) => void;
  /** Clock for the copy's name (tests). */
  now?: () => Date;
}

export interface DamagedFile {
  file: string;
  what: StoreName;
  /** What losing the file's content costs, for the log line. */
  cost: string;
}

/**
 * Opens the file with `open` (which closes what it opened when it throws); when it is
 * damaged, moves it aside and opens a fresh one. Without `recovery` the damage is thrown as
 * CorruptFileError and nothing is moved.
 */
export function openOrMoveAside<T>(target: DamagedFile, recovery: DamageRecovery | undefined, open: () => T): T {
  try {
    return open();
  } catch (error) {
    if (!isDamage(error) || error instanceof StorageUnusableError) throw error;
    if (!recovery) throw error instanceof CorruptFileError ? error : new CorruptFileError(target.file, target.what, error);
    return replaceDamaged(target, recovery, error, "start-up", open);
  }
}

/** Moves the damaged file aside (the caller has closed it) and opens a fresh one, or throws
 *  StorageUnusableError when that would loop. */
export function replaceDamaged<T>(target: DamagedFile, recovery: DamageRecovery, damage: unknown, when: "start-up" | "running", open: () => T): T {
  const { file, what } = target;
  const now = recovery.now?.() ?? new Date();
  const found = describeDamage(damage);
  const recent = tooManyAsides(file, now);
  if (recent) {
    throw new StorageUnusableError(
      file,
      what,
      `it is damaged (${found}) and ${recent.length} damaged copies were already moved aside within the last hour (${recent.join(", ")})`,
      damage,
    );
  }
  const aside = moveAside(file, now);
  recovery.log.error(
    { store: what, file, movedTo: aside, found, when, cost: target.cost },
    `the ${what} ${file} is damaged: moved it aside to ${aside} and started a fresh one (${target.cost})`,
  );
  recovery.onMovedAside?.();
  try {
    return open();
  } catch (error) {
    if (isDamage(error))
      throw new StorageUnusableError(file, what, `the fresh file that replaced the damaged one is damaged too (${describeDamage(error)})`, error);
    throw error;
  }
}

/** A damaged file met by a reader: CorruptFileError (other errors as they are). */
export function asReadError(error: unknown, file: string, what: StoreName): unknown {
  return isDamage(error) && !(error instanceof CorruptFileError) && !(error instanceof StorageUnusableError) ? new CorruptFileError(file, what, error) : error;
}

/**
 * Runs the operations on a file the agent has open. When one meets a damaged page: without
 * recovery (readers, tools) it throws CorruptFileError; the agent's file is closed, moved
 * aside and reopened fresh (`file.reopen`), the operation runs once more on it, and
 * `onReplaced` says what it held must be observed again. A fresh file that fails too makes
 * the file unusable: every later operation throws StorageUnusableError.
 */
export class DamageGuard {
  private unusable: StorageUnusableError | undefined;

  constructor(
    private readonly target: DamagedFile,
    private readonly recovery: DamageRecovery | undefined,
    private readonly file: { close(): void; reopen(): void },
  ) {}

  /** Set once the file could not be replaced. */
  get failure(): StorageUnusableError | undefined {
    return this.unusable;
  }

  run<T>(operation: () => T): T {
    if (this.unusable) throw this.unusable;
    try {
      return operation();
    } catch (error) {
      if (!isDamage(error) || error instanceof StorageUnusableError) throw error;
      if (!this.recovery) throw asReadError(error, this.target.file, this.target.what);
      this.replace(error, this.recovery);
    }
    try {
      return operation();
    } catch (error) {
      if (isDamage(error))
        throw this.fail(
          new StorageUnusableError(
            this.target.file,
            this.target.what,
            `the fresh file that replaced the damaged one is damaged too (${describeDamage(error)})`,
            error,
          ),
        );
      throw error;
    }
  }

  private replace(damage: unknown, recovery: DamageRecovery): void {
    try {
      this.file.close();
    } catch {
      /* closing a damaged file can fail; it is moved aside either way */
    }
    try {
      replaceDamaged(this.target, recovery, damage, "running", () => this.file.reopen());
    } catch (error) {
      const { file, what } = this.target;
      throw this.fail(
        error instanceof StorageUnusableError
          ? error
          : new StorageUnusableError(file, what, `a fresh file could not be opened (${(error as Error).message})`, error),
      );
    }
    recovery.onReplaced?.();
  }

  private fail(error: StorageUnusableError): StorageUnusableError {
    this.unusable = error;
    this.recovery?.onUnusable?.(error);
    return error;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
