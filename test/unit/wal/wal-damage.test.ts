// A damaged WAL: the agent's open moves it aside and starts a fresh one that keeps the
// WAL's identity (its writer registration in Neo4j); a damaged page met while running is
// handled the same way, without reusing a seq the dispatcher may still acknowledge;
// readers and the maintenance commands report it and leave it in place.
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { KubeMessage } from "../../../core/messages.js";
import { asideName, CorruptFileError, StorageUnusableError, type DamageRecovery } from "../../../core/storage/damaged-file.js";
import { Wal } from "../../../core/wal/wal.js";
import { damageMiddlePage, digest, writeGarbage } from "../../support/damage.js";
import { configMapMessage } from "../../support/messages.js";

const root = mkdtempSync(join(tmpdir(), "kube-observer-wal-damage-"));
let n = 0;
const walPath = (): string => join(mkdtempSync(join(root, `case-${++n}-`)), "wal.sqlite");

/** A configmap message padded to about `size` bytes (a WAL of real size). */
function msg(name: string, size = 1000): KubeMessage {
  return { ...configMapMessage(name), object: { v: name, pad: "p".repeat(size) } };
}

function recovery(): DamageRecovery & { errors: Array<Record<string, unknown>>; moved: number; replaced: number; unusable: StorageUnusableError[] } {
  const r = {
    errors: [] as Array<Record<string, unknown>>,
    moved: 0,
    replaced: 0,
    unusable: [] as StorageUnusableError[],
    log: { error: (obj: object) => void r.errors.push(obj as Record<string, unknown>) },
    onMovedAside: () => {
      r.moved += 1;
    },
    onReplaced: () => {
      r.replaced += 1;
    },
    onUnusable: (error: StorageUnusableError) => void r.unusable.push(error),
  };
  return r;
}

/** A closed WAL holding `count` messages (none acknowledged), written scopes and its id. */
function filledWal(path: string, count: number): string {
  const wal = new Wal(path);
  for (let i = 0; i < count; i += 500) wal.append(Array.from({ length: Math.min(500, count - i) }, (_, j) => msg(`m-${i + j}`)));
  wal.rememberScopes(["c/ns/ConfigMap"]);
  const id = wal.id!;
  wal.close();
  return id;
}

function metaOf(path: string): { id: string | undefined; holder: { pid: number } | undefined } {
  const db = new Database(path, { readonly: true });
  try {
    const get = (key: string) => db.prepare<[string], { value: string }>("SELECT value FROM kube_observer_meta WHERE key = ?").get(key)?.value;
    const holder = get("holder");
    return { id: get("id"), holder: holder ? (JSON.parse(holder) as { pid: number }) : undefined };
  } finally {
    db.close();
  }
}

const asides = (path: string): string[] => readdirSync(join(path, "..")).filter((f) => f.includes(".corrupt-") && !f.endsWith("-wal") && !f.endsWith("-shm"));

describe("a damaged WAL", () => {
  it("garbage over it: the agent's open moves it aside and starts an empty one with the same identity (the lock file's copy) and itself as holder", () => {
    const path = walPath();
    const id = filledWal(path, 20);
    writeGarbage(path);
    const r = recovery();
    const wal = new Wal(path, { recovery: r });
    try {
      expect(r.moved).toBe(1);
      expect(r.replaced).toBe(0); // at open: the start-up relist covers it
      expect(r.errors[0]).toMatchObject({ store: "WAL", file: path, when: "start-up" });
      expect(String(r.errors[0]!.found)).toMatch(/SQLITE_NOTADB/);
      expect(asides(path)).toHaveLength(1);
      expect(wal.status()).toMatchObject({ depth: 0, parked: 0 });
      expect(wal.id).toBe(id);
      expect(wal.writtenScopes()).toEqual([]);
      wal.append([msg("after")]);
      expect(wal.next(10).map((m) => m.message.name)).toEqual(["after"]);
    } finally {
      wal.close();
    }
    expect(metaOf(path)).toMatchObject({ id, holder: { pid: process.pid } });
  });

  it("a damaged page in the middle: quick_check at open finds it; the identity is salvaged from the damaged file itself", () => {
    const path = walPath();
    const id = filledWal(path, 3000);
    damageMiddlePage(path, "messages");
    // No lock file: the identity can only come from the damaged file.
    rmSync(`${path}.lock`);
    const r = recovery();
    const wal = new Wal(path, { recovery: r });
    try {
      expect(r.moved).toBe(1);
      expect(wal.status().depth).toBe(0);
      expect(wal.id).toBe(id);
    } finally {
      wal.close();
    }
  });

  it("a page found damaged while running: replaced, the agent told to relist; seqs continue above the old ones, scopes and identity kept", () => {
    const path = walPath();
    const id = filledWal(path, 6000);
    const r = recovery();
    const wal = new Wal(path, { recovery: r });
    try {
      const highest = wal.status().lastSeq;
      expect(wal.status().depth).toBe(6000);
      // Goes bad under the running agent (not in its page cache: the WAL is larger).
      damageMiddlePage(path, "messages");
      const read: number[] = [];
      for (let batch = wal.next(2000); batch.length > 0; batch = wal.next(2000)) read.push(...batch.map((b) => b.seq));
      expect(r.replaced).toBe(1);
      expect(r.moved).toBe(1);
      expect(r.errors[0]).toMatchObject({ store: "WAL", when: "running" });
      expect(read.length).toBeLessThan(6000);
      expect(wal.status()).toMatchObject({ depth: 0, bytes: 0 });
      expect(wal.id).toBe(id);
      expect(wal.writtenScopes()).toEqual(["c/ns/ConfigMap"]);
      // An ack of a message read from the old file cannot remove a new one.
      wal.append([msg("new-1"), msg("new-2")]);
      const fresh = wal.next(10);
      expect(fresh.map((m) => m.message.name)).toEqual(["new-1", "new-2"]);
      expect(fresh[0]!.seq).toBeGreaterThan(highest);
      wal.ack(read);
      expect(wal.status().depth).toBe(2);
      wal.ack(fresh.map((f) => f.seq));
      expect(wal.status().depth).toBe(0);
    } finally {
      wal.close();
    }
    expect(metaOf(path).id).toBe(id);
    // Written through to the fresh file: the next start still knows the scopes.
    const again = new Wal(path);
    try {
      expect(again.writtenScopes()).toEqual(["c/ns/ConfigMap"]);
    } finally {
      again.close();
    }
  });

  it("damaged again while running after three copies this hour: the agent is told to stop (exit code 3), every operation fails, status still answers", () => {
    const path = walPath();
    filledWal(path, 6000);
    const r = recovery();
    const wal = new Wal(path, { recovery: r });
    try {
      for (let i = 0; i < 3; i++) writeFileSync(asideName(path, new Date(Date.now() - i * 60_000)), "earlier copy");
      damageMiddlePage(path, "messages");
      let caught: unknown;
      try {
        for (let batch = wal.next(2000); batch.length > 0; batch = wal.next(2000));
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(StorageUnusableError);
      expect((caught as StorageUnusableError).exitCode).toBe(3);
      expect(r.unusable).toEqual([caught]);
      expect(r.moved).toBe(0);
      expect(r.replaced).toBe(0);
      expect(() => wal.append([msg("later")])).toThrow(StorageUnusableError);
      expect(wal.status()).toMatchObject({ path, depth: 6000, holder: null });
      expect(existsSync(path)).toBe(true);
    } finally {
      wal.close();
    }
  });

  it("readers (wal status) and the maintenance commands (wal replay, drop) report it and leave it in place", () => {
    const path = walPath();
    filledWal(path, 3000);
    damageMiddlePage(path, "messages");
    const before = digest(path);
    for (const open of [() => new Wal(path, { readonly: true }), () => new Wal(path)]) {
      let caught: unknown;
      try {
        open().close();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CorruptFileError);
      expect((caught as Error).message).toMatch(new RegExp(`^the WAL ${path} is damaged \\(SQLITE_CORRUPT`));
    }
    expect(digest(path)).toBe(before);
    expect(asides(path)).toEqual([]);
    expect(existsSync(path)).toBe(true);

    const garbage = walPath();
    filledWal(garbage, 5);
    writeGarbage(garbage);
    expect(() => new Wal(garbage, { readonly: true })).toThrow(/is damaged \(SQLITE_NOTADB: file is not a database\)/);
  });
});
