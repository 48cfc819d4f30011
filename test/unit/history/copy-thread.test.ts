// The history's copy in a thread of its own (core/history/history-copy.ts), as the agent
// runs it beside Neo4j: batches keep their origins through the inbox, a batch the sink
// refused leaves no trace, the keeper's heartbeat and retention run there, a thread that
// dies or an agent that stops loses nothing queued and records nothing twice, and what the
// thread throws reaches the agent as the same error class. The worker is compiled code
// (dist/, built by the test set-up): a thread cannot load the TypeScript sources.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { getPriority, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { GraphOp, GraphSink } from "../../../core/graph/model.js";
import { HistoryReader } from "../../../core/history/reader.js";
import { del, pod } from "../graph/ops.js";

const dist = resolve(import.meta.dirname, "../../../dist/core");
const { HistoryCopyThread, HISTORY_THREAD_NICE } = (await import(
  join(dist, "history/history-copy.js")
)) as typeof import("../../../core/history/history-copy.js");
const { HistoryTeeSink } = (await import(join(dist, "history/tee-sink.js"))) as typeof import("../../../core/history/tee-sink.js");
const { attachOrigin } = (await import(join(dist, "history/origin.js"))) as typeof import("../../../core/history/origin.js");
const { HistoryInbox, inboxFile, encodeEntry } = (await import(join(dist, "history/inbox.js"))) as typeof import("../../../core/history/inbox.js");
const { FileInUseError } = (await import(join(dist, "lock/exclusive-file.js"))) as typeof import("../../../core/lock/exclusive-file.js");

const silent = pino({ level: "silent" });
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** An op with the change it came from, as the dispatcher hands it over. */
function seen<T extends GraphOp>(op: T, atMs: number, rv: string, relist = false): T {
  attachOrigin(op, { resourceVersion: rv, observedAtMs: atMs, scope: "c/ns/pod", relist });
  return op;
}

/** What applyPending tells the thread while the sink applies a batch (busy) and after. */
function graph(copy: InstanceType<typeof HistoryCopyThread>, busy: boolean): void {
  (copy as unknown as { tell(n: { type: "graph"; busy: boolean }): void }).tell({ type: "graph", busy });
}

/** A sink that answers after a while, or fails, as told. */
function slowSink(outcome: () => Error | undefined): GraphSink {
  return {
    kind: "neo4j",
    async apply() {
      await new Promise((r) => setTimeout(r, 20));
      const error = outcome();
      if (error) throw error;
    },
    async init() {},
    async close() {},
  } as unknown as GraphSink;
}

async function thread(): Promise<{
  copy: InstanceType<typeof HistoryCopyThread>;
  /** The copy beside a sink that commits every batch. */
  tee: InstanceType<typeof HistoryTeeSink>;
  path: string;
  read<T>(f: (r: HistoryReader) => T): T;
}> {
  const path = join(mkdtempSync(join(tmpdir(), "ko-history-thread-")), "history.sqlite");
  const copy = await HistoryCopyThread.open(path, { log: silent });
  closers.push(() => copy.close());
  const read = <T>(f: (r: HistoryReader) => T): T => {
    const r = HistoryReader.open(path);
    try {
      return f(r);
    } finally {
      r.close();
    }
  };
  return {
    copy,
    tee: new HistoryTeeSink(
      slowSink(() => undefined),
      copy,
    ),
    path,
    read,
  };
}

describe("the history's copy in its own thread", () => {
  it("records a committed batch with each op's observation time and resourceVersion, and nothing of a refused one", async () => {
    let fail: Error | undefined = new Error("refused by Neo4j");
    const { copy, read } = await thread();
    const tee = new HistoryTeeSink(
      slowSink(() => fail),
      copy,
    );
    const t0 = Date.parse("2026-11-30T10:00:00Z");
    await expect(tee.apply([seen(pod("a", ["db"]), t0, "100")])).rejects.toThrow("refused by Neo4j");
    expect(read((r) => r.versions("c/ns/Pod/a"))).toEqual([]);
    fail = undefined;
    await tee.apply([seen(pod("a", ["db"]), t0, "100")]);
    await tee.apply([seen(pod("a", ["db"], { v: 2 }), t0 + 5_000, "105")]);
    await tee.apply([seen(del("c/ns/Pod/a"), t0 + 9_000, "109")]);
    expect(await copy.drained(10_000)).toBe(true);
    const versions = read((r) => r.versions("c/ns/Pod/a"));
    expect(versions.map((v) => [v.fromMs - t0, v.fromRv, v.fromKind, (v.toMs ?? 0) - t0, v.toRv, v.toKind])).toEqual([
      [0, "100", "created", 5_000, "105", "changed"],
      [5_000, "105", "changed", 9_000, "109", "deleted"],
    ]);
  });

  it("takes batches one at a time, in order, when they come together", async () => {
    const { copy, tee, read } = await thread();
    const t0 = Date.now() - 60_000;
    await Promise.all([1, 2, 3].map((v) => tee.apply([seen(pod("a", [], { v }), t0 + v, String(v))])));
    expect(await copy.drained(10_000)).toBe(true);
    expect(read((r) => r.versions("c/ns/Pod/a").map((x) => x.properties.v))).toEqual([1, 2, 3]);
  });

  it("runs the keeper there: the last heartbeat extends the coverage to what the agent sent", async () => {
    const { copy, tee, read } = await thread();
    const listedAt = Date.now() - 60_000;
    await tee.apply([seen({ op: "sweep", scope: "c/ns/Pod", present: [] }, listedAt, "1", true)]);
    expect(await copy.drained(10_000)).toBe(true);
    const before = read((r) => r.coverage()[0]!.toMs);
    const completeTo = listedAt + 30_000;
    const keeper = copy.keeper({ enabled: true, path: null, retentionDays: 0, maxBytes: 0 }, () => ({ watching: ["c/ns/pod"], completeTo }));
    keeper.start();
    keeper.stop();
    await copy.close();
    expect(before).toBeLessThan(completeTo);
    expect(read((r) => r.coverage().map((c) => [c.scope, c.toMs]))).toEqual([["c/ns/pod", completeTo]]);
  });

  it("keeps the coverage short of what waits in the inbox unrecorded", async () => {
    const { copy, tee, path, read } = await thread();
    const listedAt = Date.now() - 60_000;
    await tee.apply([seen({ op: "sweep", scope: "c/ns/Pod", present: [] }, listedAt, "1", true)]);
    expect(await copy.drained(10_000)).toBe(true);
    // An entry observed at listedAt + 10 s that the thread was never told of: still waiting.
    // The graph is busy meanwhile, so a drain loop that still runs (and may see the entry)
    // waits for it until the stop instead of recording it.
    graph(copy, true);
    const waitingAt = listedAt + 10_000;
    const db = new Database(inboxFile(path));
    const { serialize } = await import("node:v8");
    const op = pod("late");
    const origins = [{ resourceVersion: "2", observedAtMs: waitingAt, scope: "c/ns/pod", relist: false }];
    db.prepare("INSERT INTO inbox (seq, body, first_ms) VALUES (?, ?, ?)").run(
      2,
      serialize({ kind: "ops", ops: [op], origins, conforming: [false] }),
      waitingAt,
    );
    db.close();
    const keeper = copy.keeper({ enabled: true, path: null, retentionDays: 0, maxBytes: 0 }, () => ({ watching: ["c/ns/pod"], completeTo: listedAt + 30_000 }));
    keeper.start();
    keeper.stop();
    await copy.close();
    expect(read((r) => r.coverage().map((c) => [c.scope, c.toMs]))).toEqual([["c/ns/pod", waitingAt - 1]]);
  });

  it("waits while the graph is busy with a batch, and records a backlog that waited too long all the same", async () => {
    const { copy } = await thread();
    graph(copy, true);
    await copy.replaceDerived([{ owner: "derived:test/a", edges: [] }]);
    expect(await copy.drained(300)).toBe(false);
    // Not busy any more: recorded.
    graph(copy, false);
    expect(await copy.drained(5_000)).toBe(true);
    // Busy for longer than the copy may wait (deferMaxMs, 400 ms here): recorded all the same.
    const impatient = await HistoryCopyThread.open(join(mkdtempSync(join(tmpdir(), "ko-history-defer-")), "history.sqlite"), {
      log: silent,
      deferMaxMs: 400,
    });
    closers.push(() => impatient.close());
    graph(impatient, true);
    await impatient.replaceDerived([{ owner: "derived:test/b", edges: [] }]);
    const started = Date.now();
    expect(await impatient.drained(5_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it("records the batches that waited in one transaction, each op with its own change", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const path = join(mkdtempSync(join(tmpdir(), "ko-history-gather-")), "history.sqlite");
    const copy = await HistoryCopyThread.open(path, { log });
    closers.push(() => copy.close());
    const t0 = Date.now() - 60_000;
    // Five batches appended before the thread hears of any: they wait together.
    for (let i = 1; i <= 5; i++) {
      const op = seen(pod(`g${i}`, ["s"]), t0 + i, String(i));
      copy.inbox.add(
        encodeEntry({
          kind: "ops",
          ops: [op],
          origins: [{ resourceVersion: String(i), observedAtMs: t0 + i, scope: "c/ns/pod", relist: false }],
          conforming: [false],
        }),
      );
    }
    // Then a derived set, which is recorded on its own, after them.
    await copy.replaceDerived([{ owner: "derived:test/g", edges: [] }]);
    expect(await copy.drained(10_000)).toBe(true);
    await copy.close();
    const stops = lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("history: its thread stops"));
    expect(stops).toMatchObject({ batches: 1, ops: 5, derived: 1 });
    const reader = HistoryReader.open(path);
    try {
      for (let i = 1; i <= 5; i++) expect(reader.versions(`c/ns/Pod/g${i}`).map((v) => [v.fromRv, v.fromMs])).toEqual([[String(i), t0 + i]]);
    } finally {
      reader.close();
    }
  });

  it("stages a batch in the inbox while the sink works, and leaves no trace of one it rolled back", async () => {
    const { copy, read } = await thread();
    const t0 = Date.now() - 60_000;
    const refused = await copy.applyPending([seen(pod("r"), t0, "1")]);
    // Staged, not visible to the copy's thread: a derived set queued meanwhile waits its turn.
    const derived = copy.replaceDerived([{ owner: "derived:test/c", edges: [] }]);
    await refused.rollback();
    await derived;
    const kept = await copy.applyPending([seen(pod("k"), t0 + 1, "2")]);
    await kept.commit();
    expect(await copy.drained(5_000)).toBe(true);
    expect(read((r) => r.versions("c/ns/Pod/r"))).toEqual([]);
    expect(read((r) => r.versions("c/ns/Pod/k").map((v) => v.fromRv))).toEqual(["2"]);
    // Two entries went in (the derived set, then the kept batch): seqs 1 and 2.
    expect((copy as unknown as { recordedThrough: number }).recordedThrough).toBe(2);
  });

  it("runs the copy in a thread of the lowest CPU priority, the agent's own threads left as they were", async () => {
    /** Each thread's nice value (Linux: /proc/self/task/TID/stat, the 19th field). */
    const niceValues = () =>
      readdirSync("/proc/self/task").map((tid) => Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]));
    // The test process's own value (0 unless the suite itself was started with nice).
    const base = getPriority();
    expect(base).toBeLessThan(HISTORY_THREAD_NICE);
    expect(niceValues().every((n) => n === base)).toBe(true);
    const { copy } = await thread();
    await copy.drained(1_000);
    const after = niceValues();
    expect(HISTORY_THREAD_NICE).toBe(19);
    // One thread at that value (the copy's); every other thread as it was.
    expect(after.filter((n) => n === HISTORY_THREAD_NICE)).toHaveLength(1);
    expect(after.filter((n) => n !== HISTORY_THREAD_NICE).every((n) => n === base)).toBe(true);
  });

  it("throws the thread's errors as the agent's classes: a history held by another agent is FileInUseError", async () => {
    const { path } = await thread();
    const second = HistoryCopyThread.open(path, { log: silent });
    await expect(second).rejects.toBeInstanceOf(FileInUseError);
    await expect(second).rejects.toMatchObject({ exitCode: 2, file: `${path}` });
    await expect(second).rejects.toThrow(/in use by kube-observer agent pid \d+/);
  });

  it("loses nothing queued when its thread dies: a new thread records what waits, each change once", async () => {
    const { copy, tee, read } = await thread();
    const worker = () => (copy as unknown as { worker: import("node:worker_threads").Worker }).worker;
    const first = worker();
    const t0 = Date.now() - 60_000;
    await tee.apply([seen(pod("b", [], { v: 1 }), t0, "1")]);
    expect(await copy.drained(10_000)).toBe(true);
    await first.terminate();
    // Committed by the sink while the copy has no thread: it waits in the inbox.
    await tee.apply([seen(pod("b", [], { v: 2 }), t0 + 1_000, "2")]);
    await tee.apply([seen(pod("b", [], { v: 3 }), t0 + 2_000, "3")]);
    expect(await copy.drained(15_000)).toBe(true);
    expect(worker()).not.toBe(first);
    expect(read((r) => r.versions("c/ns/Pod/b").map((v) => [v.fromRv, v.toRv]))).toEqual([
      ["1", "2"],
      ["2", "3"],
      ["3", null],
    ]);
  });

  it("records at the next start what its inbox kept, and never an entry it recorded before", async () => {
    const { copy, tee, path, read } = await thread();
    const t0 = Date.now() - 60_000;
    await tee.apply([seen(pod("c", [], { v: 1 }), t0, "1")]);
    await tee.apply([seen(pod("c", [], { v: 2 }), t0 + 1_000, "2")]);
    await copy.close();
    // As if the agent was killed before the copy's thread got to them (and before the
    // inbox dropped what was recorded): entries 1 and 2 again, and a new one.
    const inbox = HistoryInbox.open(inboxFile(path), 0);
    const entry = (v: number, rv: string, atMs: number) => {
      const op = pod("c", [], { v });
      return { kind: "ops" as const, ops: [op], origins: [{ resourceVersion: rv, observedAtMs: atMs, scope: "c/ns/pod", relist: false }], conforming: [false] };
    };
    expect(inbox.backlog.entries).toBe(0);
    const db = (inbox as unknown as { db: import("better-sqlite3").Database }).db;
    const { serialize } = await import("node:v8");
    for (const [seq, e] of [
      [1, entry(1, "1", t0)],
      [2, entry(2, "2", t0 + 1_000)],
      [3, entry(3, "3", t0 + 2_000)],
    ] as const)
      db.prepare("INSERT INTO inbox (seq, body, first_ms) VALUES (?, ?, ?)").run(seq, serialize(e), e.origins[0].observedAtMs);
    inbox.close();
    const again = await HistoryCopyThread.open(path, { log: silent });
    closers.push(() => again.close());
    expect(await again.drained(10_000)).toBe(true);
    expect(read((r) => r.versions("c/ns/Pod/c").map((v) => [v.fromRv, v.toRv]))).toEqual([
      ["1", "2"],
      ["2", "3"],
      ["3", null],
    ]);
  });
});

describe("a damaged history file, opened by its thread", () => {
  it("is moved aside and replaced, and the agent hears of it: its log, its metrics, its relist", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ko-history-thread-damaged-"));
    const path = join(dir, "history.sqlite");
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x5a));
    const errors: string[] = [];
    let movedAside = 0;
    const log = { ...silent, error: (_obj: object, msg: string) => void errors.push(msg) } as unknown as typeof silent;
    const copy = await HistoryCopyThread.open(path, {
      log,
      recovery: {
        onMovedAside: () => {
          movedAside += 1;
        },
      },
    });
    closers.push(() => copy.close());
    expect(movedAside).toBe(1);
    expect(errors.join("\n")).toMatch(/damaged|moved aside/i);
    expect(readdirSync(dir).some((f) => f.startsWith("history.sqlite.corrupt-"))).toBe(true);
    // The fresh file records.
    const tee = new HistoryTeeSink(
      slowSink(() => undefined),
      copy,
    );
    await tee.apply([seen(pod("after"), Date.now(), "7")]);
    expect(await copy.drained(10_000)).toBe(true);
    const r = HistoryReader.open(path);
    try {
      expect(r.versions("c/ns/Pod/after").map((v) => v.fromRv)).toEqual(["7"]);
    } finally {
      r.close();
    }
  });
});
