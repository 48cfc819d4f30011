// The history's copy of the current graph, kept in a thread of its own (copy-worker.ts)
// when the history has a file of its own (Neo4j). Each batch is written to the history's
// inbox (inbox.ts) on this thread while the sink works on it, and committed there once the
// sink has, before the WAL acknowledges it; the copy's thread records it from there, off the
// dispatcher's path, at a lower CPU priority, and waits while the sink holds a batch.
// Recording a batch is SQLite work of the order of Neo4j's own apply: in the dispatcher's
// path it added a third to half to the sync with Neo4j (docs/history.md, Cost).
import { Worker } from "node:worker_threads";
import type { HistoryConfig } from "../config/model.js";
import { isConforming } from "../graph/contract.js";
import type { DerivedEdgeSet, GraphOp, GraphSchema } from "../graph/model.js";
import type { Logger } from "../log/logger.js";
import type { DamageRecovery, StorageUnusableError } from "../storage/damaged-file.js";
import { type CopyEvent, type CopyNotice, type CopyRequest, type CopyWorkerData, reviveError } from "./copy-protocol.js";
import { encodeEntry, HistoryInbox, inboxFile } from "./inbox.js";
import { type Coverage, HEARTBEAT_MS, type KeeperMetrics } from "./keeper.js";
import { originOf } from "./origin.js";
import type { HistoryCopy } from "./tee-sink.js";

type Request = CopyRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** The copy's thread runs at this nice value (Linux): the agent's own threads come first.
 *  Other processes are scheduled by session or container first (autogroup, cgroups): there
 *  the agent's share on the copy's core follows the copy's weight against the agent's busy
 *  threads, so the lowest value leaves the most to Neo4j and the apiserver beside it (for
 *  them the copy also waits while the sink holds a batch, HISTORY_DEFER_MAX_MS). */
export const HISTORY_THREAD_NICE = 19;
/** How long the copy's backlog waits while the graph is busy (a sync) before it is recorded
 *  all the same: how far the history may fall behind the graph under load. */
export const HISTORY_DEFER_MAX_MS = 60_000;
/** Queued and not yet recorded, beyond which a commit waits for the copy (the inbox's
 *  disk use, and how far the history may fall behind). */
export const INBOX_BACKLOG_MAX_BYTES = 256 * 1024 * 1024;
/** How long a stop waits for the copy to record what is queued (the rest is recorded at
 *  the next start). */
const CLOSE_DRAIN_MS = 10_000;
const RESTART_DELAY_MS = 1_000;

export interface HistoryCopyOptions {
  log: Logger;
  recovery?: Omit<DamageRecovery, "log" | "now">;
  metrics?: KeeperMetrics;
  /** Nice value of the copy's thread (default HISTORY_THREAD_NICE; 0: the agent's). */
  nice?: number;
  /** Default HISTORY_DEFER_MAX_MS. */
  deferMaxMs?: number;
}

/** What the copy's thread did: ops it refused that the graph took (missing from the
 *  history), and inbox entries left for the next start when it stopped. */
export interface HistoryCopyStats {
  refused: number;
  leftInInbox: number;
}

export class HistoryCopyThread implements HistoryCopy {
  private worker: Worker;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 1;
  /** Why the thread died, until it is started again. */
  private died: Error | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** What a thread started again must be told first: the schema, the keeper. */
  private schema: GraphSchema | undefined;
  private keeperConfig: HistoryConfig | undefined;
  private inbox: HistoryInbox | undefined;
  /** Resolved as the copy records entries (a commit over the backlog, drained()). */
  private recordedWaiters: Array<() => void> = [];
  /** Settled when no inbox entry is staged (stageTurn). */
  private staging: Promise<void> = Promise.resolve();
  /** The last inbox entry the copy said it recorded. */
  private recordedThrough = 0;
  readonly stats: HistoryCopyStats = { refused: 0, leftInInbox: 0 };

  private constructor(
    readonly path: string,
    private readonly options: HistoryCopyOptions,
  ) {
    this.worker = this.start();
  }

  private start(): Worker {
    const data: CopyWorkerData = {
      path: this.path,
      inbox: inboxFile(this.path),
      nice: this.options.nice ?? HISTORY_THREAD_NICE,
      deferMaxMs: this.options.deferMaxMs ?? HISTORY_DEFER_MAX_MS,
    };
    const worker = new Worker(new URL("./copy-worker.js", import.meta.url), { workerData: data });
    worker.unref();
    worker.on("message", (event: CopyEvent) => this.heard(event));
    worker.on("error", (error: unknown) => this.fail(worker, error instanceof Error ? error : new Error(String(error))));
    worker.on("exit", (code) => this.fail(worker, new Error(`it ended with exit code ${code}`)));
    return worker;
  }

  /** Starts the thread and opens the file there (its errors, e.g. a lock held by another
   *  agent or a damaged file that cannot be replaced, are thrown here), then the inbox. */
  static async open(path: string, options: HistoryCopyOptions): Promise<HistoryCopyThread> {
    const copy = new HistoryCopyThread(path, options);
    try {
      const { recorded } = (await copy.ask({ type: "open" })) as { recorded: number };
      copy.inbox = HistoryInbox.open(inboxFile(path), recorded, options.recovery && { ...options.recovery, log: options.log });
      const waiting = copy.inbox.backlog;
      if (waiting.entries > 0)
        options.log.info({ history: path, entries: waiting.entries, bytes: waiting.bytes }, "history: recording what its inbox kept from the last run");
      copy.tell({ type: "queued" });
    } catch (error) {
      await copy.close().catch(() => undefined);
      throw error;
    }
    return copy;
  }

  init(schema: GraphSchema): Promise<void> {
    this.schema = schema;
    return this.ask({ type: "init", schema }).then(() => undefined);
  }

  /** Stages the batch (with each op's origin) in the inbox while the sink works on it;
   *  `commit()` (the sink committed) makes it durable there and wakes the copy, `rollback()`
   *  leaves no trace. Over the backlog limit a commit waits for the copy to catch up. */
  async applyPending(ops: readonly GraphOp[]): Promise<{ commit(): Promise<void>; rollback(): Promise<void> }> {
    const release = await this.stageTurn();
    // The copy waits while the graph applies the batch (its thread records in between).
    this.tell({ type: "graph", busy: true });
    // Neo4j's first request for the batch goes out before this work.
    await new Promise((resolve) => setImmediate(resolve));
    let staged: ReturnType<HistoryInbox["stage"]>;
    try {
      // Encoded and written while Neo4j works on the batch; committed once Neo4j has.
      staged = this.opened().stage(encodeEntry({ kind: "ops", ops, origins: ops.map((op) => originOf(op) ?? null), conforming: ops.map(isConforming) }));
    } catch (error) {
      this.tell({ type: "graph", busy: false });
      release();
      throw error;
    }
    let open = true;
    return {
      commit: async () => {
        if (!open) return;
        open = false;
        try {
          staged.commit();
        } finally {
          this.tell({ type: "graph", busy: false });
          release();
        }
        await this.queued();
      },
      rollback: async () => {
        if (!open) return;
        open = false;
        staged.rollback();
        this.tell({ type: "graph", busy: false });
        release();
      },
    };
  }

  /** One entry staged at a time (the inbox's transaction stays open until the sink has
   *  committed): resolves with the function that lets the next one in. */
  private async stageTurn(): Promise<() => void> {
    const previous = this.staging;
    let release!: () => void;
    this.staging = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    return release;
  }

  async replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void> {
    const entry = encodeEntry({ kind: "derived", sets, exclusive, atMs: Date.now() });
    const release = await this.stageTurn();
    try {
      this.opened().add(entry);
    } finally {
      release();
    }
    await this.queued();
  }

  /** Wakes the copy for what was appended; over the backlog limit, waits for it. */
  private async queued(): Promise<void> {
    const inbox = this.opened();
    this.tell({ type: "queued" });
    if (inbox.backlog.bytes <= INBOX_BACKLOG_MAX_BYTES) return;
    // The copy must not wait for the graph that waits for it.
    this.tell({ type: "graph", busy: false });
    this.options.log.warn(
      { history: this.path, entries: inbox.backlog.entries, bytes: inbox.backlog.bytes, limit: INBOX_BACKLOG_MAX_BYTES },
      "history: its inbox is full; the graph's batches wait for the history to record (the WAL holds what comes meanwhile)",
    );
    while (inbox.backlog.bytes > INBOX_BACKLOG_MAX_BYTES && !this.closed) await this.nextRecorded();
  }

  /** Resolves once the copy has recorded everything queued so far (tests, benches, stop). */
  async drained(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const inbox = this.opened();
    const target = inbox.backlog.lastSeq;
    const deadline = Date.now() + timeoutMs;
    // The thread is kept alive while it is waited for (idle, it does not hold the agent).
    const worker = this.worker;
    worker.ref();
    try {
      while (inbox.backlog.entries > 0 && this.recordedThrough < target) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        // A timer of at most a second: the deadline, and a thread started again meanwhile.
        await Promise.race([this.nextRecorded(), new Promise((r) => setTimeout(r, Math.min(left, 1_000)))]);
      }
      return true;
    } finally {
      if (this.waiting.size === 0) worker.unref();
    }
  }

  private nextRecorded(): Promise<void> {
    return new Promise((resolve) => this.recordedWaiters.push(resolve));
  }

  private opened(): HistoryInbox {
    if (!this.inbox) throw new Error("the history's inbox is not open");
    return this.inbox;
  }

  /** The keeper, run in the thread (retention; heartbeats on the coverage sent from here
   *  every HEARTBEAT_MS, computed at the moment it is sent). `start` once; `stop` sends a
   *  last heartbeat, so a clean stop leaves the coverage up to date. */
  keeper(config: HistoryConfig, coverage: () => Coverage | undefined): { start(): void; stop(): void } {
    return {
      start: () => {
        if (this.keeperConfig) return;
        this.keeperConfig = config;
        this.tell({ type: "keeper-start", config });
        this.heartbeatTimer = setInterval(() => this.tell({ type: "coverage", coverage: coverage(), last: false }), HEARTBEAT_MS).unref();
      },
      stop: () => {
        if (!this.keeperConfig) return;
        clearInterval(this.heartbeatTimer);
        this.tell({ type: "coverage", coverage: coverage(), last: true });
      },
    };
  }

  /** Waits (up to CLOSE_DRAIN_MS) for the copy to record what is queued, then stops the
   *  thread; what is left stays in the inbox for the next start (counted in stats). */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.heartbeatTimer);
      clearTimeout(this.restartTimer);
      try {
        if (this.inbox && this.inbox.backlog.entries > 0) {
          if (this.died) this.restart();
          const waiting = this.inbox.backlog;
          this.options.log.info(
            { history: this.path, entries: waiting.entries, bytes: waiting.bytes },
            "history: recording its inbox's last entries before stopping",
          );
          if (!(await this.drained(CLOSE_DRAIN_MS))) {
            this.stats.leftInInbox = this.inbox.backlog.entries;
            this.options.log.warn(
              { history: this.path, entries: this.stats.leftInInbox, waitedMs: CLOSE_DRAIN_MS },
              "history: stopping with entries left in its inbox (recorded at the next start; until then the history ends before them)",
            );
          }
        }
        if (!this.died) await this.ask({ type: "close" });
      } finally {
        this.worker.removeAllListeners("exit");
        await this.worker.terminate();
        this.inbox?.close();
      }
    })();
    return this.closed;
  }

  private ask(request: Request): Promise<unknown> {
    if (this.died) this.restart();
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Kept alive while an answer is awaited; idle, the thread does not hold the agent.
      if (this.waiting.size === 1) this.worker.ref();
      this.worker.postMessage({ ...request, id } as CopyRequest);
    });
  }

  private tell(notice: CopyNotice): void {
    if (!this.died) this.worker.postMessage(notice);
  }

  /** A thread that died is started again, told the schema and the keeper first; it goes
   *  on from the last inbox entry it recorded (nothing queued is lost with it). */
  private restart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (!this.died) return;
    this.options.log.warn({ history: this.path, err: this.died.message }, "history: starting its thread again");
    this.died = undefined;
    this.worker = this.start();
    if (this.schema) this.worker.postMessage({ type: "init", id: this.nextId++, schema: this.schema } satisfies CopyRequest);
    if (this.keeperConfig) this.worker.postMessage({ type: "keeper-start", config: this.keeperConfig } satisfies CopyNotice);
    if (this.inbox) this.worker.postMessage({ type: "queued" } satisfies CopyNotice);
  }

  private heard(event: CopyEvent): void {
    switch (event.type) {
      case "reply": {
        const waiter = this.waiting.get(event.id);
        this.waiting.delete(event.id);
        if (this.waiting.size === 0) this.worker.unref();
        if (event.error) waiter?.reject(reviveError(event.error));
        else waiter?.resolve(event.value);
        return;
      }
      case "recorded":
        this.recordedThrough = event.seq;
        try {
          this.inbox?.recorded(event.seq);
        } catch (error) {
          // Dropped the next time: the copy knows what it recorded.
          this.options.log.warn({ history: this.path, err: (error as Error).message }, "history: could not drop recorded entries from its inbox");
        }
        for (const resolve of this.recordedWaiters.splice(0)) resolve();
        return;
      case "log":
        this.options.log[event.level](event.obj, event.msg);
        return;
      case "metric":
        if (event.name === "historyFailed") {
          if (event.operation === "refused") this.stats.refused += 1;
          this.options.metrics?.historyFailed?.(event.operation);
        } else this.options.metrics?.historyPruned?.(event.versions);
        return;
      case "recovery":
        if ("error" in event) this.options.recovery?.onUnusable?.(reviveError(event.error) as StorageUnusableError);
        else if (event.event === "moved-aside") this.options.recovery?.onMovedAside?.();
        else this.options.recovery?.onReplaced?.();
        return;
    }
  }

  /** The thread died (an error it did not catch, out of memory): every request waiting
   *  fails; it is started again shortly (queued entries wait in the inbox meanwhile). */
  private fail(worker: Worker, why: Error): void {
    if (worker !== this.worker || this.died || this.closed) return;
    this.died = Object.assign(new Error(`the history's thread failed: ${why.message}`, { cause: why }), { name: "HistoryRecordError" });
    this.options.log.error({ history: this.path, err: why.message }, "history: its thread failed; starting it again (what is queued waits in its inbox)");
    this.options.metrics?.historyFailed?.("record");
    for (const waiter of this.waiting.values()) waiter.reject(this.died);
    this.waiting.clear();
    worker.unref();
    for (const resolve of this.recordedWaiters.splice(0)) resolve();
    this.restartTimer = setTimeout(() => this.restart(), RESTART_DELAY_MS);
    this.restartTimer.unref();
  }
}
