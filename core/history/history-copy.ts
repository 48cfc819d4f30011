// The history's copy of the current graph, kept in a thread of its own (copy-worker.ts)
// when the history has a file of its own (Neo4j). Recording a batch is SQLite work of the
// same order as Neo4j's own apply; on the agent's thread it held up Neo4j's round trips
// for the same batch and the observers (bench/history-sinks.ts measured the two apart).
import { Worker } from "node:worker_threads";
import type { HistoryConfig } from "../config/model.js";
import { isConforming } from "../graph/contract.js";
import type { DerivedEdgeSet, GraphOp, GraphSchema } from "../graph/model.js";
import type { Logger } from "../log/logger.js";
import type { DamageRecovery, StorageUnusableError } from "../storage/damaged-file.js";
import { type CopyEvent, type CopyNotice, type CopyRequest, type CopyWorkerData, reviveError } from "./copy-protocol.js";
import { type Coverage, HEARTBEAT_MS, type KeeperMetrics } from "./keeper.js";
import { originOf } from "./origin.js";
import type { HistoryCopy } from "./tee-sink.js";

type Request = CopyRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export interface HistoryCopyOptions {
  log: Logger;
  recovery?: Omit<DamageRecovery, "log" | "now">;
  metrics?: KeeperMetrics;
}

export class HistoryCopyThread implements HistoryCopy {
  private worker: Worker;
  private readonly waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private nextId = 1;
  /** Why the thread died, until it is started again (the next request starts it). */
  private died: Error | undefined;
  private closed: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** What a thread started again must be told first: the schema, the keeper. */
  private schema: GraphSchema | undefined;
  private keeperConfig: HistoryConfig | undefined;

  private constructor(
    readonly path: string,
    private readonly options: HistoryCopyOptions,
  ) {
    this.worker = this.start();
  }

  private start(): Worker {
    const data: CopyWorkerData = { path: this.path };
    const worker = new Worker(new URL("./copy-worker.js", import.meta.url), { workerData: data });
    worker.unref();
    worker.on("message", (event: CopyEvent) => this.heard(event));
    worker.on("error", (error: unknown) => this.fail(worker, error instanceof Error ? error : new Error(String(error))));
    worker.on("exit", (code) => this.fail(worker, new Error(`it ended with exit code ${code}`)));
    return worker;
  }

  /** Starts the thread and opens the file there (its errors, e.g. a lock held by another
   *  agent or a damaged file that cannot be replaced, are thrown here). */
  static async open(path: string, options: HistoryCopyOptions): Promise<HistoryCopyThread> {
    const copy = new HistoryCopyThread(path, options);
    try {
      await copy.ask({ type: "open" });
    } catch (error) {
      await copy.close().catch(() => undefined);
      throw error;
    }
    return copy;
  }

  init(schema: GraphSchema): Promise<void> {
    this.schema = schema;
    return this.ask({ type: "init", schema });
  }

  /** Sends the batch (with each op's origin) and resolves once the thread applied it in a
   *  transaction that `commit()` or `rollback()` ends. */
  async applyPending(ops: readonly GraphOp[]): Promise<{ commit(): Promise<void>; rollback(): Promise<void> }> {
    await this.ask({ type: "apply", ops, origins: ops.map((op) => originOf(op) ?? null), conforming: ops.map(isConforming) });
    // The thread holding the batch's transaction: if it died, the batch died with it, and
    // its commit must fail, not reach a thread started since.
    const holder = this.worker;
    let open = true;
    const end = (type: "commit" | "rollback") => {
      if (!open) return Promise.resolve();
      open = false;
      if (this.worker !== holder || this.died) {
        return type === "rollback" ? Promise.resolve() : Promise.reject(this.died ?? new Error("the history's thread holding the batch is gone"));
      }
      return this.ask({ type });
    };
    return { commit: () => end("commit"), rollback: () => end("rollback") };
  }

  replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void> {
    return this.ask({ type: "derived", sets, exclusive });
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

  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.heartbeatTimer);
      try {
        if (!this.died) await this.ask({ type: "close" });
      } finally {
        this.worker.removeAllListeners("exit");
        await this.worker.terminate();
      }
    })();
    return this.closed;
  }

  private ask(request: Request): Promise<void> {
    if (this.died) this.restart();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Kept alive while an answer is awaited; idle, the thread does not hold the agent.
      if (this.waiting.size === 1) this.worker.ref();
      this.worker.postMessage({ ...request, id } as CopyRequest);
    });
  }

  private tell(notice: CopyNotice): void {
    if (!this.died) this.worker.postMessage(notice);
  }

  /** A thread that died is started again for the next request, and told the schema and
   *  the keeper first. The batch it held was rolled back with it; the dispatcher delivers
   *  it again and the history records it then. */
  private restart(): void {
    this.options.log.warn({ history: this.path, err: this.died?.message }, "history: starting its thread again");
    this.died = undefined;
    this.worker = this.start();
    if (this.schema) this.worker.postMessage({ type: "init", id: this.nextId++, schema: this.schema } satisfies CopyRequest);
    if (this.keeperConfig) this.worker.postMessage({ type: "keeper-start", config: this.keeperConfig } satisfies CopyNotice);
  }

  private heard(event: CopyEvent): void {
    switch (event.type) {
      case "reply": {
        const waiter = this.waiting.get(event.id);
        this.waiting.delete(event.id);
        if (this.waiting.size === 0) this.worker.unref();
        if (event.error) waiter?.reject(reviveError(event.error));
        else waiter?.resolve();
        return;
      }
      case "log":
        this.options.log[event.level](event.obj, event.msg);
        return;
      case "metric":
        if (event.name === "historyFailed") this.options.metrics?.historyFailed?.(event.operation);
        else this.options.metrics?.historyPruned?.(event.versions);
        return;
      case "recovery":
        if ("error" in event) this.options.recovery?.onUnusable?.(reviveError(event.error) as StorageUnusableError);
        else if (event.event === "moved-aside") this.options.recovery?.onMovedAside?.();
        else this.options.recovery?.onReplaced?.();
        return;
    }
  }

  /** The thread died (an error it did not catch, out of memory): every request waiting
   *  fails, as a batch the history could not record (retried, never parked). */
  private fail(worker: Worker, why: Error): void {
    if (worker !== this.worker || this.died || this.closed) return;
    this.died = Object.assign(new Error(`the history's thread failed: ${why.message}`, { cause: why }), { name: "HistoryRecordError" });
    this.options.log.error({ history: this.path, err: why.message }, "history: its thread failed; batches are retried and start it again");
    for (const waiter of this.waiting.values()) waiter.reject(this.died);
    this.waiting.clear();
    worker.unref();
  }
}
