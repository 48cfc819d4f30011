// The thread that keeps the history's copy of the current graph (history-copy.ts): it
// records the batches the sink committed from the history's inbox (inbox.ts), in order and
// off the dispatcher's path, at a lower CPU priority than the agent's own threads and
// waiting while the sink holds a batch, so that while the machine is busy (an initial sync)
// the graph's work comes first and the history catches up after. Its SQLite file, the
// recorder's triggers and the keeper run here.
import { readFileSync, readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { markConforming } from "../graph/contract.js";
import type { GraphOp } from "../graph/model.js";
import { SqliteGraphSink } from "../graph/sqlite-sink.js";
import { classifySinkError } from "../dispatch/sink-errors.js";
import { failpoint } from "../faults.js";
import type { CopyEvent, CopyNotice, CopyRequest, CopyWorkerData } from "./copy-protocol.js";
import { serializeError } from "./copy-protocol.js";
import { type InboxEntry, InboxReader, readRecorded, writeRecorded } from "./inbox.js";
import { type Coverage, HistoryKeeper } from "./keeper.js";
import { attachOrigin, type OpOrigin } from "./origin.js";

const port = parentPort;
if (!port) throw new Error("copy-worker.ts runs as a worker thread (history-copy.ts starts it)");
const { path, inbox: inboxPath, nice, deferMaxMs } = workerData as CopyWorkerData;
const send = (event: CopyEvent) => port.postMessage(event);
/** A log line for the agent's logger; fields that cannot cross (a function, a handle) go as
 *  their JSON form instead of failing the thread. */
function logLine(level: "info" | "warn" | "error", obj: object, msg: string): void {
  try {
    send({ type: "log", level, obj, msg });
  } catch {
    send({ type: "log", level, obj: JSON.parse(JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v))) as object, msg });
  }
}
const log = {
  info: (obj: object, msg: string) => logLine("info", obj, msg),
  warn: (obj: object, msg: string) => logLine("warn", obj, msg),
  error: (obj: object, msg: string) => logLine("error", obj, msg),
};

let sink: SqliteGraphSink | undefined;
let opened: Error | undefined;
try {
  sink = new SqliteGraphSink(path, {
    history: true,
    log,
    recovery: {
      log,
      onMovedAside: () => send({ type: "recovery", event: "moved-aside" }),
      onReplaced: () => send({ type: "recovery", event: "replaced" }),
      onUnusable: (error) => send({ type: "recovery", event: "unusable", error: serializeError(error) }),
    },
  });
} catch (error) {
  opened = error as Error;
}

/** This thread's own CPU time (Linux: /proc/thread-self; busy time beyond it is time the
 *  thread waited for a core). */
function threadCpuSeconds(): number | undefined {
  try {
    const fields = readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Lowers this thread's CPU priority (Linux: a thread's own nice value, by its id). */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0 && nice > 0) setPriority(tid, nice);
  } catch (error) {
    log.warn({ history: path, err: (error as Error).message }, "history: could not lower its thread's priority (it records at the agent's)");
  }
}
lowerPriority();

/** What this thread did, for its closing log line. */
const done = { batches: 0, ops: 0, derived: 0 };
let coverage: Coverage | undefined;
let keeper: HistoryKeeper | undefined;
/** The last inbox entry recorded (in the copy's history_meta, with the entry's changes):
 *  a thread started again goes on after it, never records an entry twice. */
let recorded = sink?.history ? readRecorded(sink.database) : 0;
let reader: InboxReader | undefined;
let draining: Promise<void> | undefined;
let stopping = false;
/** While the graph is busy with a batch (the agent says so), recording waits, so that on a
 *  machine the history shares with Neo4j and the apiserver the graph's work goes first; a
 *  backlog that waited deferMaxMs is recorded all the same, busy or not. */
let graphBusy = false;
/** Since when recording has waited for the graph (undefined: it is not waiting). */
let deferredSince: number | undefined;
/** The most ops recorded in one transaction when batches waited (one batch may be more). */
const GATHER_MAX_OPS = 2_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** Ends a retry's wait early (a close). */
let wake: (() => void) | undefined;
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });

/** Resolves when the history may record: the graph is not busy, or the backlog has waited
 *  deferMaxMs (then it is recorded until the inbox is empty), or the thread stops. */
async function turn(): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setImmediate(resolve));
    if (!graphBusy || stopping) return;
    deferredSince ??= Date.now();
    if (Date.now() - deferredSince >= deferMaxMs) return;
    await sleep(50);
  }
}

async function answer(request: CopyRequest): Promise<unknown> {
  if (!sink) throw opened;
  switch (request.type) {
    case "open":
      return { recorded };
    case "init":
      // The ops were checked against it where they were built; declared here all the same.
      return sink.init(request.schema);
    case "close":
      stopping = true;
      wake?.();
      await draining;
      log.info(
        { history: path, ...done, busySeconds: Math.round(performance.eventLoopUtilization().active) / 1000, cpuSeconds: threadCpuSeconds() },
        "history: its thread stops (batches recorded, the time it was busy and its CPU time)",
      );
      keeper?.stop();
      keeper = undefined;
      reader?.close();
      return sink.close();
  }
}

/** Records the inbox's entries after `recorded`, one at a time, until none is left (the
 *  agent opens the inbox once this thread opened the copy, then says "queued"). */
function startDraining(): void {
  if (draining || stopping || !sink) return;
  try {
    reader ??= new InboxReader(inboxPath);
  } catch (error) {
    log.error({ history: path, inbox: inboxPath, err: (error as Error).message }, "history: cannot read its inbox (tried again at the next batch)");
    return;
  }
  const records = reader;
  // Cleared in a later microtask, after the assignment (a run that finds nothing to record
  // ends synchronously).
  draining = (async () => {
    try {
      let ahead: Waiting | undefined;
      for (let next = records.next(recorded); next && !stopping; next = ahead ?? records.next(recorded)) {
        // Messages (the keeper's heartbeat, a close) between entries; the graph first.
        await turn();
        // A stop ends the wait: the agent gave up waiting for the inbox, so the entry stays
        // for the next start rather than holding the stop.
        if (stopping) return;
        const run = gather(records, next);
        ahead = run.ahead;
        if (!(await record(run.seq, run.entry))) return;
        recorded = run.seq;
        send({ type: "recorded", seq: recorded });
      }
      // Caught up: the next backlog may wait for the graph again.
      deferredSince = undefined;
    } catch (error) {
      log.error({ history: path, err: (error as Error).message }, "history: reading its inbox failed; trying again with the next batch");
    }
  })().finally(() => {
    draining = undefined;
  });
}

type Waiting = { seq: number; entry: InboxEntry };

/** The batches that waited behind `first`, up to GATHER_MAX_OPS ops, as one entry recorded
 *  in one transaction (under churn the graph's batches are small, and a commit each would
 *  cost the copy more than their ops). `ahead`: the entry read past the run, next in line. */
function gather(records: InboxReader, first: Waiting): Waiting & { ahead: Waiting | undefined } {
  if (first.entry.kind !== "ops") return { ...first, ahead: undefined };
  const ops: GraphOp[] = [];
  const origins: Array<OpOrigin | null> = [];
  const conforming: boolean[] = [];
  let seq = first.seq;
  let ahead: Waiting | undefined = first;
  while (ahead && ahead.entry.kind === "ops" && (ops.length === 0 || ops.length + ahead.entry.ops.length <= GATHER_MAX_OPS)) {
    const entry = ahead.entry;
    for (let i = 0; i < entry.ops.length; i++) {
      ops.push(entry.ops[i]!);
      origins.push(entry.origins[i] ?? null);
      conforming.push(entry.conforming[i] ?? false);
    }
    seq = ahead.seq;
    ahead = records.next(seq);
  }
  return seq === first.seq ? { ...first, ahead } : { seq, entry: { kind: "ops", ops, origins, conforming }, ahead };
}

/** Records one entry, retrying what fails for the database's sake (with backoff) until it
 *  is recorded or the thread stops (false: it stays in the inbox for the next start). */
async function record(seq: number, entry: InboxEntry): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      failpoint("history.before-record");
      await recordOnce(seq, entry);
      if (attempt > 0) log.info({ history: path, seq, attempts: attempt + 1 }, "history: recorded the batch after failures");
      return true;
    } catch (error) {
      if (classifySinkError(error) === "deterministic" && entry.kind === "ops" && entry.ops.length > 1) {
        await recordEachOp(seq, entry);
        return true;
      }
      send({ type: "metric", name: "historyFailed", operation: "record" });
      const retryInMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
      if (attempt === 0 || (attempt & (attempt - 1)) === 0)
        log.error(
          { history: path, seq, attempts: attempt + 1, err: (error as Error).message, retryInMs },
          "history: recording a batch failed; retrying (it stays in the inbox)",
        );
      await sleep(retryInMs);
      if (stopping) return false;
    }
  }
}

async function recordOnce(seq: number, entry: InboxEntry): Promise<void> {
  const db = sink!;
  if (entry.kind === "derived") {
    db.database.exec("BEGIN IMMEDIATE");
    try {
      await db.replaceDerived(entry.sets, entry.exclusive, entry.atMs);
      writeRecorded(db.database, seq);
      db.database.exec("COMMIT");
    } catch (error) {
      if (db.database.open && db.database.inTransaction) db.database.exec("ROLLBACK");
      throw error;
    }
    done.derived += 1;
    return;
  }
  const ops = withOrigins(entry);
  const batch = await db.applyPending(ops, turn);
  try {
    writeRecorded(db.database, seq);
  } catch (error) {
    batch.rollback();
    throw error;
  }
  batch.commit();
  done.batches += 1;
  done.ops += ops.length;
}

function withOrigins(entry: Extract<InboxEntry, { kind: "ops" }>): readonly GraphOp[] {
  for (const [i, op] of entry.ops.entries()) {
    const origin = entry.origins[i];
    if (origin) attachOrigin(op, origin);
    // Checked where it was built: not again here (the sink beside this one checked too).
    if (entry.conforming[i]) markConforming(op);
  }
  return entry.ops;
}

/** A batch the sink took and the copy refuses for its rows (a limit of SQLite's that
 *  Neo4j does not have): each op alone; those refused are logged and counted, the rest
 *  recorded. */
async function recordEachOp(seq: number, entry: Extract<InboxEntry, { kind: "ops" }>): Promise<void> {
  const db = sink!;
  const ops = withOrigins(entry);
  for (const op of ops) {
    try {
      const batch = await db.applyPending([op]);
      batch.commit();
    } catch (error) {
      if (classifySinkError(error) !== "deterministic") throw error;
      send({ type: "metric", name: "historyFailed", operation: "refused" });
      log.error(
        { history: path, seq, key: op.op === "upsert" ? op.node.key : op.op === "delete" ? op.key : op.scope, err: (error as Error).message },
        "history: its copy refuses a change the graph took; the change is missing from the history",
      );
    }
  }
  writeRecorded(db.database, seq);
  done.batches += 1;
  done.ops += ops.length;
}

function notice(message: CopyNotice): void {
  if (message.type === "queued") {
    startDraining();
    return;
  }
  if (message.type === "graph") {
    graphBusy = message.busy;
    return;
  }
  if (message.type === "keeper-start") {
    if (!sink || keeper) return;
    const db = sink;
    keeper = new HistoryKeeper(
      message.config,
      {
        target: () => (db.history ? { db: db.database, recorder: db.history } : undefined),
        coverage: () => waitingClamped(coverage),
      },
      log,
      {
        historyFailed: (operation) => send({ type: "metric", name: "historyFailed", operation }),
        historyPruned: (versions) => send({ type: "metric", name: "historyPruned", versions }),
      },
    );
    keeper.start(false);
    return;
  }
  coverage = message.coverage;
  // The last one (the agent stops): its heartbeat now, and again at "close", once the
  // inbox's last entries are recorded.
  keeper?.heartbeat();
}

/** The agent's coverage, short of the earliest observation still waiting in the inbox:
 *  the history is complete only up to what it recorded. */
function waitingClamped(sent: Coverage | undefined): Coverage | undefined {
  if (!sent || !reader) return undefined;
  const waiting = reader.oldestWaiting(recorded);
  return waiting === null ? sent : { ...sent, completeTo: Math.min(sent.completeTo, waiting - 1) };
}

// One request at a time, in the order sent; notices (and the inbox's entries) between them.
let queue = Promise.resolve();
port.on("message", (message: CopyRequest | CopyNotice) => {
  if (!("id" in message)) return notice(message);
  queue = queue.then(async () => {
    try {
      const value = await answer(message);
      send({ type: "reply", id: message.id, ...(value === undefined ? {} : { value }) });
    } catch (error) {
      send({ type: "reply", id: message.id, error: serializeError(error) });
    }
  });
});
