// WalSink when the WAL does not take writes: a running agent holds the batch (and every
// later one, in order) and appends it again with backoff, so observers pause rather than
// relist and nothing is lost; once runs, errors about the batch itself and a shutdown
// refuse instead. Every failed attempt is counted; the state is readable for /readyz.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Dispatcher } from "../../../core/dispatch/dispatcher.js";
import type { KubeMessage } from "../../../core/messages.js";
import { Wal } from "../../../core/wal/wal.js";
import { appendRetriable, WalSink } from "../../../core/wal/wal-sink.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-wal-sink-"));
let n = 0;
const backoff = { initialMs: 5, maxMs: 20, factor: 2, jitter: 0, resetAfterMs: 60_000 };
const opened: Wal[] = [];

afterEach(() => {
  for (const wal of opened.splice(0)) wal.close();
});

interface Rig {
  wal: Wal;
  sink: WalSink;
  logs: Array<{ level: number; msg: string } & Record<string, unknown>>;
  appendFailedHook: { count: number };
  notified: { count: number };
  /** The next appends throw these, in order. */
  faults: unknown[];
}

function rig(options: { retry?: boolean; maxBytes?: number } = {}): Rig {
  const wal = new Wal(join(dir, `wal-${++n}.sqlite`));
  opened.push(wal);
  const faults: unknown[] = [];
  const append = wal.append.bind(wal);
  wal.append = (messages) => {
    if (faults.length > 0) throw faults.shift();
    append(messages);
  };
  const logs: Rig["logs"] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as Rig["logs"][number]) });
  const notified = { count: 0 };
  const dispatcher = {
    notify: () => {
      notified.count += 1;
    },
    onProgress: () => undefined,
  } as unknown as Dispatcher;
  const appendFailedHook = { count: 0 };
  const sink = new WalSink(wal, dispatcher, options.maxBytes ?? 1 << 30, log, {
    retry: options.retry ?? true,
    backoff,
    onAppendFailed: () => {
      appendFailedHook.count += 1;
    },
  });
  return { wal, sink, logs, appendFailedHook, notified, faults };
}

/** What better-sqlite3 throws when a write fails (here: past RLIMIT_FSIZE, EFBIG). */
const ioError = (): Error => new Database.SqliteError("disk I/O error", "SQLITE_IOERR_WRITE");
const full = (): Error => new Database.SqliteError("database or disk is full", "SQLITE_FULL");

function names(wal: Wal): string[] {
  return wal.next(100).map((r) => r.message.name ?? "");
}

const batch = (...names: string[]): KubeMessage[] => names.map((name) => configMapMessage(name));

describe("WalSink: appends that fail", () => {
  it("holds a batch the WAL does not take, keeps later batches behind it, and appends all in order once writes succeed", async () => {
    const r = rig();
    r.faults.push(ioError(), full(), ioError());
    const settled: string[] = [];
    const first = r.sink.deliver(batch("a", "b")).then(() => settled.push("first"));
    const second = r.sink.deliver(batch("c")).then(() => settled.push("second"));
    // Held, not refused: nothing acknowledged, nothing in the WAL yet.
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(settled).toEqual([]);
    expect(r.sink.appendFailing).toMatchObject({ error: "disk I/O error", held: 2 });
    await Promise.all([first, second]);
    expect(settled).toEqual(["first", "second"]);
    expect(names(r.wal)).toEqual(["a", "b", "c"]);
    // Every failed attempt counted (the first, then two retries), the hook told each time.
    expect(r.sink.appendFailures).toBe(3);
    expect(r.appendFailedHook.count).toBe(3);
    expect(r.sink.appendFailing).toBeNull();
    expect(r.sink.delivered).toBe(3);
    // One error when appends start failing (with SQLite's code), one info when they succeed again.
    const errors = r.logs.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: "SQLITE_IOERR_WRITE",
      messages: 2,
      resource: "configmap",
      msg: expect.stringMatching(/^WAL append failed: the batch is held/),
    });
    expect(r.logs.filter((l) => l.msg === "WAL appends succeed again: observers resume")).toHaveLength(1);
  });

  it("appends at once again after recovering (no batch waits for a timer)", async () => {
    const r = rig();
    r.faults.push(ioError());
    await r.sink.deliver(batch("a"));
    await r.sink.deliver(batch("b"));
    expect(names(r.wal)).toEqual(["a", "b"]);
    expect(r.sink.appendFailures).toBe(1);
  });

  it("refuses at once what retrying cannot fix: the batch itself was refused, or a non-SQLite error", async () => {
    const r = rig();
    r.faults.push(new Database.SqliteError("string or blob too big", "SQLITE_TOOBIG"), new TypeError("Do not know how to serialize a BigInt"));
    await expect(r.sink.deliver(batch("a"))).rejects.toThrow("string or blob too big");
    await expect(r.sink.deliver(batch("b"))).rejects.toThrow("BigInt");
    expect(r.sink.appendFailures).toBe(2);
    expect(r.sink.appendFailing).toBeNull();
    expect(r.logs.filter((l) => l.msg.startsWith("WAL append failed: the batch is not acknowledged and its observer relists"))).toHaveLength(2);
    await r.sink.deliver(batch("c"));
    expect(names(r.wal)).toEqual(["c"]);
  });

  it("in a once run refuses instead of holding (the scope is reported not delivered)", async () => {
    const r = rig({ retry: false });
    r.faults.push(ioError());
    await expect(r.sink.deliver(batch("a"))).rejects.toThrow("disk I/O error");
    expect(r.sink.appendFailures).toBe(1);
  });

  it("at shutdown gives held batches one last try, refuses those the WAL still does not take, and releases waits for a full WAL", async () => {
    const r = rig();
    r.faults.push(ioError(), ioError(), ioError(), ioError(), ioError(), ioError(), ioError(), ioError());
    const held = [r.sink.deliver(batch("a")), r.sink.deliver(batch("b"))].map((p) =>
      p.then(
        () => "appended",
        (e: Error) => `refused: ${e.message}`,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(r.sink.stopRetrying()).toBe(2);
    expect(await Promise.all(held)).toEqual(["refused: disk I/O error", "refused: disk I/O error"]);
    expect(r.sink.refusedBatches).toBe(2);
    // Later failures are refused too: nothing is held after shutdown began.
    r.faults.splice(0);
    r.faults.push(ioError());
    await expect(r.sink.deliver(batch("c"))).rejects.toThrow("disk I/O error");

    // A WAL over its bound: the acknowledgement waits for the sink, but not past a shutdown.
    const small = rig({ maxBytes: 10 });
    const waiting = small.sink.deliver(batch("x"));
    let acknowledged = false;
    void waiting.then(() => (acknowledged = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(acknowledged).toBe(false);
    small.sink.stopRetrying();
    await waiting;
    expect(names(small.wal)).toEqual(["x"]);
  });

  it("retries disk and file errors, not errors about the batch", () => {
    expect(appendRetriable(ioError())).toBe(true);
    expect(appendRetriable(full())).toBe(true);
    expect(appendRetriable(new Database.SqliteError("database is locked", "SQLITE_BUSY"))).toBe(true);
    expect(appendRetriable(new Database.SqliteError("UNIQUE constraint failed: messages.seq", "SQLITE_CONSTRAINT_PRIMARYKEY"))).toBe(false);
    expect(appendRetriable(new Database.SqliteError("string or blob too big", "SQLITE_TOOBIG"))).toBe(false);
    expect(appendRetriable(new TypeError("x"))).toBe(false);
    expect(appendRetriable("text")).toBe(false);
  });
});
