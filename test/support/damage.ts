// Damages SQLite files the way a failing disk or a torn copy does, for the damaged-file
// tests: garbage over the whole file, or one page in the middle of a table replaced by
// garbage (the header and schema stay valid, so only a read of that page finds it).
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { prng } from "./prng.js";

function garbage(length: number, seed: number): Buffer {
  const next = prng(seed);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/** Folds the file's -wal into it: otherwise the pages in the -wal shadow what is written
 *  over the file (a damaged page 1 goes unnoticed while the -wal holds a copy). */
function checkpoint(file: string): void {
  const db = new Database(file);
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** Random bytes over the whole file (same length), after a checkpoint: "file is not a
 *  database". The file must not be open elsewhere for writing. */
export function writeGarbage(file: string, seed = 1): void {
  checkpoint(file);
  const size = statSync(file).size;
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, garbage(size, seed), 0, size, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the middle leaf page of `table` with garbage and returns its number. The file
 * is checkpointed first (its -wal folded in) and must not be open elsewhere for writing.
 */
export function damageMiddlePage(file: string, table: string, seed = 2): { page: number; leafPages: number } {
  checkpoint(file);
  const db = new Database(file, { readonly: true });
  let pages: number[];
  let pageSize: number;
  try {
    pages = db
      .prepare<[string], { pageno: number }>("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno")
      .all(table)
      .map((r) => r.pageno);
    pageSize = db.pragma("page_size", { simple: true }) as number;
  } finally {
    db.close();
  }
  if (pages.length < 3) throw new Error(`${file}: table ${table} has ${pages.length} leaf pages; a middle one needs at least 3`);
  // Neither the first nor the last: the cheap probe reads those.
  const page = pages[Math.floor(pages.length / 2)]!;
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, garbage(pageSize, seed), 0, pageSize, (page - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
  return { page, leafPages: pages.length };
}

/** A digest of a file's bytes (to show a command left it untouched). */
export function digest(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}
