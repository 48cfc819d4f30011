// The messages between the agent and the thread that keeps the history's copy of the
// graph (history-copy.ts, copy-worker.ts). Plain data: they cross by structured clone.
import type { HistoryConfig } from "../config/model.js";
import type { GraphSchema } from "../graph/model.js";
import { GraphContractError } from "../graph/contract.js";
import { SinkLimitError } from "../graph/limits.js";
import { GraphSchemaError } from "../graph/schema-version.js";
import { FileInUseError } from "../lock/exclusive-file.js";
import { CorruptFileError, StorageUnusableError } from "../storage/damaged-file.js";
import type { Coverage, HistoryFailure } from "./keeper.js";
import { HistoryRecordError } from "./recorder.js";

/** What the thread is asked; each request gets one reply with its id ("open": the last
 *  inbox entry the copy recorded). */
export type CopyRequest = { id: number; type: "open" } | { id: number; type: "init"; schema: GraphSchema } | { id: number; type: "close" };

/** Told, not asked: the keeper's start and stop, the coverage for its heartbeat, and that
 *  the inbox (inbox.ts) has new entries. */
export type CopyNotice =
  | { type: "keeper-start"; config: HistoryConfig }
  | { type: "coverage"; coverage: Coverage | undefined; last: boolean }
  | { type: "queued" }
  /** The graph is applying a batch (busy) or not: recording waits for it (copy-worker.ts). */
  | { type: "graph"; busy: boolean };

/** What the thread sends back: replies, the inbox entries it recorded, and what the agent's
 *  logger, metrics and damage recovery must hear of. */
export type CopyEvent =
  | { type: "reply"; id: number; error?: SerializedError; value?: unknown }
  | { type: "recorded"; seq: number }
  | { type: "log"; level: "info" | "warn" | "error"; obj: object; msg: string }
  | { type: "metric"; name: "historyFailed"; operation: HistoryFailure }
  | { type: "metric"; name: "historyPruned"; versions: number }
  | { type: "recovery"; event: "moved-aside" | "replaced" }
  | { type: "recovery"; event: "unusable"; error: SerializedError };

/** The worker's start-up data. */
export interface CopyWorkerData {
  path: string;
  /** The inbox the thread records from (inbox.ts). */
  inbox: string;
  /** The thread's nice value (0: the agent's priority). */
  nice: number;
  /** How long a backlog waits for a busy graph before it is recorded all the same. */
  deferMaxMs: number;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable data (code, exitCode, file, holder, …). */
  fields: Record<string, unknown>;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(error)) {
    if (typeof v === "function" || typeof v === "symbol" || typeof v === "bigint" || v instanceof Error) continue;
    try {
      fields[k] = v === undefined ? v : JSON.parse(JSON.stringify(v));
    } catch {
      // Not plain data: left out.
    }
  }
  return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}), fields };
}

/** The agent's classes by name, so that `instanceof` and the dispatcher's classification
 *  (core/dispatch/sink-errors.ts) see the error the thread threw. */
const CLASSES: Record<string, { prototype: Error }> = {
  CorruptFileError,
  FileInUseError,
  GraphContractError,
  GraphSchemaError,
  HistoryRecordError,
  SinkLimitError,
  StorageUnusableError,
};

export function reviveError(e: SerializedError): Error {
  const error = Object.create((CLASSES[e.name] ?? Error).prototype) as Error;
  Object.assign(error, e.fields);
  Object.defineProperty(error, "message", { value: e.message, writable: true, configurable: true });
  Object.defineProperty(error, "name", { value: e.name, writable: true, configurable: true });
  if (e.stack) Object.defineProperty(error, "stack", { value: e.stack, writable: true, configurable: true });
  return error;
}
