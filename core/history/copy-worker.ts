// The thread that keeps the history's copy of the current graph (history-copy.ts): its
// SQLite file, the recorder's triggers and the keeper run here, so that the agent's own
// thread goes on with Neo4j's round trips and the observers while a batch is recorded.
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { markConforming } from "../graph/contract.js";
import { SqliteGraphSink } from "../graph/sqlite-sink.js";
import type { CopyEvent, CopyNotice, CopyRequest, CopyWorkerData } from "./copy-protocol.js";
import { serializeError } from "./copy-protocol.js";
import { type Coverage, HistoryKeeper } from "./keeper.js";
import { attachOrigin } from "./origin.js";

const port = parentPort;
if (!port) throw new Error("copy-worker.ts runs as a worker thread (history-copy.ts starts it)");
const { path } = workerData as CopyWorkerData;
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

let pending: { commit(): void; rollback(): void } | undefined;
/** What this thread did, for its closing log line. */
const done = { batches: 0, ops: 0 };
let coverage: Coverage | undefined;
let keeper: HistoryKeeper | undefined;

async function answer(request: CopyRequest): Promise<void> {
  if (!sink) throw opened;
  switch (request.type) {
    case "open":
      return;
    case "init":
      return sink.init(request.schema);
    case "apply": {
      if (pending) throw new Error("the history's copy got a batch before the previous one was committed or rolled back");
      for (const [i, op] of request.ops.entries()) {
        const origin = request.origins[i];
        if (origin) attachOrigin(op, origin);
        // Checked where it was built: not again here (the sink beside this one checks too).
        if (request.conforming[i]) markConforming(op);
      }
      pending = await sink.applyPending(request.ops);
      done.batches += 1;
      done.ops += request.ops.length;
      return;
    }
    case "commit":
    case "rollback": {
      const batch = pending;
      pending = undefined;
      if (request.type === "commit") batch?.commit();
      else batch?.rollback();
      return;
    }
    case "derived":
      return sink.replaceDerived(request.sets, request.exclusive);
    case "close":
      log.info(
        { history: path, ...done, busySeconds: Math.round(performance.eventLoopUtilization().active) / 1000, cpuSeconds: threadCpuSeconds() },
        "history: its thread stops (batches recorded, the time it was busy and its CPU time)",
      );
      keeper?.stop();
      keeper = undefined;
      pending?.rollback();
      pending = undefined;
      return sink.close();
  }
}

function notice(message: CopyNotice): void {
  if (message.type === "keeper-start") {
    if (!sink || keeper) return;
    const db = sink;
    keeper = new HistoryKeeper(
      message.config,
      {
        target: () => (db.history ? { db: db.database, recorder: db.history } : undefined),
        coverage: () => coverage,
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
  if (message.last) {
    keeper?.stop();
    keeper = undefined;
  } else keeper?.heartbeat();
}

// One request at a time, in the order sent: a batch's transaction stays open between its
// "apply" and its "commit"; notices run between them.
let queue = Promise.resolve();
port.on("message", (message: CopyRequest | CopyNotice) => {
  if (!("id" in message)) return notice(message);
  queue = queue.then(async () => {
    try {
      await answer(message);
      send({ type: "reply", id: message.id });
    } catch (error) {
      send({ type: "reply", id: message.id, error: serializeError(error) });
    }
  });
});
