// Detecting a damaged SQLite file and moving it aside (core/storage/damaged-file.ts), on
// real files: garbage over a whole file, a page in the middle of a table, and the bounds
// that keep a failing disk from turning the agent into a machine for moving files aside.
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  asideName,
  checkIntegrity,
  CorruptFileError,
  describeDamage,
  findDamage,
  integrityCheckFor,
  isDamage,
  moveAside,
  openOrMoveAside,
  QUICK_CHECK_MAX_BYTES,
  recentAsides,
  STORAGE_UNUSABLE_EXIT_CODE,
  StorageUnusableError,
  type DamageRecovery,
} from "../../../core/storage/damaged-file.js";
import { damageMiddlePage, digest, writeGarbage } from "../../support/damage.js";

const root = mkdtempSync(join(tmpdir(), "kube-observer-damage-"));
let n = 0;
const dir = (): string => mkdtempSync(join(root, `case-${++n}-`));

/** A database with one table of `rows` rows of ~1 KB (many leaf pages). */
function makeDb(file: string, rows = 400): void {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`row ${i} ${"x".repeat(1000)}`);
  })();
  db.close();
}

/** What the agent's open does: the integrity check, then a read. */
function openChecked(file: string, how: "quick_check" | "probe" = "quick_check"): Database.Database {
  const db = new Database(file);
  try {
    checkIntegrity(db, how);
    db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function recorder(now = new Date("2026-12-02T20:51:00.123Z")): DamageRecovery & { lines: Array<{ obj: Record<string, unknown>; msg: string }>; moved: number } {
  const r = {
    lines: [] as Array<{ obj: Record<string, unknown>; msg: string }>,
    moved: 0,
    log: { error: (obj: object, msg: string) => void r.lines.push({ obj: obj as Record<string, unknown>, msg }) },
    onMovedAside: () => {
      r.moved += 1;
    },
    now: () => now,
  };
  return r;
}

const target = (file: string) => ({ file, what: "WAL" as const, cost: "a relist" });

describe("detecting damage", () => {
  it("garbage over a file is SQLITE_NOTADB, found by the cheap probe and by quick_check", () => {
    const file = join(dir(), "g.sqlite");
    makeDb(file);
    writeGarbage(file);
    for (const how of ["probe", "quick_check"] as const) {
      let caught: unknown;
      try {
        openChecked(file, how).close();
      } catch (error) {
        caught = error;
      }
      expect(isDamage(caught)).toBe(true);
      expect(describeDamage(caught)).toMatch(/^SQLITE_NOTADB: file is not a database/);
    }
  });

  it("a garbage page in the middle of a table: quick_check finds it, the probe does not, a read does", () => {
    const file = join(dir(), "m.sqlite");
    makeDb(file);
    const { leafPages } = damageMiddlePage(file, "t");
    expect(leafPages).toBeGreaterThan(50);
    let caught: unknown;
    try {
      openChecked(file, "quick_check").close();
    } catch (error) {
      caught = error;
    }
    expect(isDamage(caught)).toBe(true);
    expect(findDamage(file)).toMatch(/^SQLITE_CORRUPT: database disk image is malformed/);
    // The probe reads the header, the schema and the ends of each table only...
    const db = openChecked(file, "probe");
    try {
      // ...the damage is met by the first read of that page, as SQLITE_CORRUPT.
      caught = undefined;
      try {
        db.prepare("SELECT count(*), sum(length(body)) FROM t").get();
      } catch (error) {
        caught = error;
      }
      expect(isDamage(caught)).toBe(true);
      expect(describeDamage(caught)).toMatch(/^SQLITE_CORRUPT/);
    } finally {
      db.close();
    }
  });

  it("a sound file passes both checks; other errors are not damage", () => {
    const file = join(dir(), "ok.sqlite");
    makeDb(file);
    expect(findDamage(file)).toBeUndefined();
    openChecked(file, "probe").close();
    const db = new Database(file);
    let caught: unknown;
    try {
      db.prepare("SELECT * FROM missing").all();
    } catch (error) {
      caught = error;
    } finally {
      db.close();
    }
    expect(isDamage(caught)).toBe(false);
    expect(isDamage(new Error("disk full"))).toBe(false);
  });

  it("quick_check up to the size bound (with the -wal), the probe above it; the bound can be overridden", () => {
    const file = join(dir(), "s.sqlite");
    writeFileSync(file, Buffer.alloc(1024));
    expect(integrityCheckFor(file, {})).toBe("quick_check");
    expect(integrityCheckFor(join(dir(), "absent.sqlite"), {})).toBe("quick_check");
    expect(integrityCheckFor(file, { KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES: "0" })).toBe("probe");
    expect(integrityCheckFor(file, { KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES: "1024" })).toBe("quick_check");
    writeFileSync(`${file}-wal`, Buffer.alloc(1));
    expect(integrityCheckFor(file, { KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES: "1024" })).toBe("probe");
    expect(QUICK_CHECK_MAX_BYTES).toBe(128 * 1024 * 1024);
  });
});

describe("moving a damaged file aside", () => {
  it("renames the file with its -wal and -shm, never the lock file", () => {
    const d = dir();
    const file = join(d, "graph.sqlite");
    for (const suffix of ["", "-wal", "-shm", ".lock"]) writeFileSync(`${file}${suffix}`, suffix || "db");
    const aside = moveAside(file, new Date("2026-12-02T20:51:00.999Z"));
    expect(basename(aside)).toBe("graph.sqlite.corrupt-2026-12-02T20-51-00Z");
    expect(readdirSync(d).sort()).toEqual([
      "graph.sqlite.corrupt-2026-12-02T20-51-00Z",
      "graph.sqlite.corrupt-2026-12-02T20-51-00Z-shm",
      "graph.sqlite.corrupt-2026-12-02T20-51-00Z-wal",
      "graph.sqlite.lock",
    ]);
  });

  it("at open: moves the damaged file aside, logs and counts it, and opens a fresh one", () => {
    const d = dir();
    const file = join(d, "wal.sqlite");
    makeDb(file);
    writeGarbage(file);
    writeFileSync(`${file}.lock`, "lock");
    const before = digest(file);
    const r = recorder();
    const db = openOrMoveAside(target(file), r, () => openChecked(file));
    db.close();
    const aside = join(d, "wal.sqlite.corrupt-2026-12-02T20-51-00Z");
    expect(existsSync(aside)).toBe(true);
    expect(digest(aside)).toBe(before);
    expect(existsSync(`${file}.lock`)).toBe(true);
    expect(readdirSync(d).filter((f) => f.includes(".lock"))).toEqual(["wal.sqlite.lock"]);
    expect(findDamage(file)).toBeUndefined();
    expect(r.moved).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]!.obj).toMatchObject({ store: "WAL", file, movedTo: aside, when: "start-up", cost: "a relist" });
    expect(r.lines[0]!.obj.found).toMatch(/SQLITE_NOTADB/);
    expect(r.lines[0]!.msg).toContain(`moved it aside to ${aside}`);
  });

  it("a second copy in the same second gets its own name", () => {
    const d = dir();
    const file = join(d, "g.sqlite");
    const at = new Date("2026-12-02T20:51:00Z");
    writeFileSync(asideName(file, at), "first");
    expect(basename(asideName(file, at))).toBe("g.sqlite.corrupt-2026-12-02T20-51-00Z-2");
  });

  it("without recovery (read-only commands, tools) nothing is moved: CorruptFileError names the file and what the agent does", () => {
    const d = dir();
    const file = join(d, "wal.sqlite");
    makeDb(file);
    writeGarbage(file);
    const before = digest(file);
    let caught: unknown;
    try {
      openOrMoveAside(target(file), undefined, () => openChecked(file));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CorruptFileError);
    expect((caught as Error).message).toContain(`the WAL ${file} is damaged (SQLITE_NOTADB: file is not a database)`);
    expect((caught as Error).message).toContain("This command leaves it as it is");
    expect(digest(file)).toBe(before);
    expect(readdirSync(d)).toEqual(["wal.sqlite"]);
  });

  it("a fresh file that is damaged too stops with exit code 3 after one move, not a loop", () => {
    const d = dir();
    const file = join(d, "wal.sqlite");
    makeDb(file);
    writeGarbage(file);
    const r = recorder();
    let opens = 0;
    let caught: unknown;
    try {
      openOrMoveAside(target(file), r, () => {
        opens += 1;
        // The disk hands back garbage for whatever is written.
        if (existsSync(file)) writeGarbage(file, opens);
        else writeFileSync(file, Buffer.alloc(8192, 0x5a));
        return openChecked(file);
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StorageUnusableError);
    expect((caught as StorageUnusableError).exitCode).toBe(STORAGE_UNUSABLE_EXIT_CODE);
    expect((caught as Error).message).toContain("the fresh file that replaced the damaged one is damaged too");
    expect(opens).toBe(2);
    expect(r.moved).toBe(1);
    expect(readdirSync(d).filter((f) => f.includes(".corrupt-"))).toHaveLength(1);
  });

  it("refuses to move a fourth copy aside within an hour (exit code 3); older copies do not count", () => {
    const d = dir();
    const file = join(d, "graph.sqlite");
    const now = new Date("2026-12-02T20:51:00Z");
    for (const at of ["2026-12-02T18-00-00Z", "2026-12-02T20-00-00Z", "2026-12-02T20-30-00Z"]) writeFileSync(`${file}.corrupt-${at}`, "x");
    writeFileSync(`${file}.corrupt-2026-12-02T20-30-00Z-wal`, "x");
    expect(recentAsides(file, now).map((f) => basename(f))).toEqual(["graph.sqlite.corrupt-2026-12-02T20-00-00Z", "graph.sqlite.corrupt-2026-12-02T20-30-00Z"]);
    makeDb(file);
    writeGarbage(file);
    // Two recent copies: a third may still be made.
    openOrMoveAside({ ...target(file), what: "embedded graph" }, recorder(now), () => openChecked(file)).close();
    writeGarbage(file);
    const r = recorder(now);
    let caught: unknown;
    try {
      openOrMoveAside({ ...target(file), what: "embedded graph" }, r, () => openChecked(file));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StorageUnusableError);
    expect((caught as Error).message).toMatch(/3 damaged copies were already moved aside within the last hour/);
    expect((caught as Error).message).toContain("sink.sqlitePath");
    expect(r.moved).toBe(0);
    expect(existsSync(file)).toBe(true);
  });
});
