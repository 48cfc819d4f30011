// Messages between the bench (parent) and the agent host (child process, IPC channel).

export interface RowCounts {
  /** Object nodes upserted (one per upsert op). */
  nodes: number;
  /** Nodes owned by an object (a pod's Volume nodes). */
  owned: number;
  /** Referenced nodes written if missing (placeholders). */
  placeholders: number;
  edges: number;
  deletes: number;
  sweeps: number;
  total: number;
}

export interface HostStats {
  at: number;
  /** process.cpuUsage() of the whole process (main thread and observer workers), seconds. */
  cpuSeconds: number;
  messagesCommitted: number;
  batches: number;
  parked: number;
  sinkErrors: number;
  /** Time spent inside sink.apply (the sink's transactions), ms. */
  sinkApplyMs: number;
  rows: RowCounts;
  /** Bytes of message bodies appended to the WAL, and how many messages. */
  walBytesWritten: number | null;
  walMessagesWritten: number;
  /** Highest un-acknowledged message count and bytes (checked after every append). */
  peakWalDepth: number;
  peakWalBytes: number;
  walDepth: number;
  /** Main-thread heap (the workers have their own). */
  heapUsedBytes: number;
  observers: number;
  observersSynced: number;
  objects: number;
}

export type HostEvent =
  | { type: "ready"; at: number; stats: HostStats }
  | { type: "started"; at: number }
  /** Every observer has delivered its first complete list to the WAL. observersAt: the
   *  supervisor had created its observers (namespace discovery done); firstActiveAt: the
   *  first observer had left "starting" (its worker thread was up and running it). */
  | { type: "synced"; at: number; scopes: number; objects: number; observersAt: number; firstActiveAt: number }
  | { type: "complete"; at: number; lastCommitAt: number; stats: HostStats }
  /** Committed messages while tracking: "resource|namespace|name|A or D|resourceVersion". */
  | { type: "commits"; at: number; items: string[] }
  | { type: "stats"; stats: HostStats }
  | { type: "stopped"; stats: HostStats }
  | { type: "error"; message: string };

export type HostCommand = { type: "track"; on: boolean } | { type: "stats" } | { type: "stop" };

export function commitKey(resource: string, namespace: string | null, name: string | null): string {
  return `${resource}|${namespace ?? ""}|${name ?? ""}`;
}
