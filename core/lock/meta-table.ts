// A small key/value table the agent keeps in each SQLite file it owns (the WAL, the
// embedded graph): who holds the file now, and the WAL's identity. Readers can see it
// beside a live agent (WAL journal mode), unlike the lock file itself.
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import type { Holder } from "./exclusive-file.js";

export const META_TABLE = "kube_observer_meta";
const TABLE = META_TABLE;

function ensureTable(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
}

function get(db: Database.Database, key: string): string | undefined {
  return db.prepare<[string], { value: string }>(`SELECT value FROM ${TABLE} WHERE key = ?`).get(key)?.value;
}

function set(db: Database.Database, key: string, value: string): void {
  db.prepare(`INSERT INTO ${TABLE} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, value);
}

/** Records the lock holder (called right after the lock was taken). */
export function recordHolder(db: Database.Database, holder: Holder): void {
  ensureTable(db);
  set(db, "holder", JSON.stringify(holder));
}

/** The file's stable identity, made once when it is first written: `inherited` (the
 *  identity of the damaged file this one replaces) or a new one. */
export function fileIdentity(db: Database.Database, inherited?: string): string {
  ensureTable(db);
  let id = get(db, "id");
  if (id === undefined) {
    id = inherited ?? randomUUID();
    set(db, "id", id);
  }
  return id;
}

/** The recorded holder of a file, read without any lock (undefined when there is none). */
export function readHolder(file: string): Holder | undefined {
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 1_000 });
  try {
    return readHolderFrom(db);
  } finally {
    db.close();
  }
}

/** The identity recorded in a file, if it can still be read (a damaged file's often can). */
export function salvageIdentity(file: string): string | undefined {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
    try {
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(TABLE);
      return exists ? get(db, "id") : undefined;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

export function readHolderFrom(db: Database.Database): Holder | undefined {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(TABLE);
  if (!exists) return undefined;
  const text = get(db, "holder");
  return text === undefined ? undefined : (JSON.parse(text) as Holder);
}
