// The worker threads observers run in. One Piscina pool; each observer is one long-lived
// task with its own MessagePort. Threads are fixed (min = max, never idle-reaped) and
// each takes any number of observers, so 1,000 namespaces fit on a handful of threads.
import { availableParallelism } from "node:os";
import { MessageChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import type { ClusterConfig } from "../config/model.js";
import { kubeConfigAuth, type RequestAuth } from "../kube/auth.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import type { OversizedObject } from "../kube/oversize.js";
import type { KubeMessage } from "../messages.js";
import { WORKER_YOUNG_GENERATION_MB } from "../memory-tuning.js";
import type { ObserverStatus, StopReason } from "./observer.js";
import type { FromWorker, ObserverTaskSpec, ToWorker } from "./protocol.js";

export interface ObserverCallbacks {
  /** A batch from the observer; the returned promise resolving acknowledges it. */
  onBatch(messages: KubeMessage[]): Promise<void>;
  onStatus(status: ObserverStatus): void;
  /** An object over the size cap was left out. */
  onSkipped?(object: OversizedObject): void;
}

export interface ObserverHandle {
  spec: ObserverTaskSpec;
  stop(reason?: StopReason): void;
  /** Resolves with the final status when the task ends; rejects if its thread died. */
  done: Promise<ObserverStatus>;
}

export function defaultThreadCount(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export class ObserverPool {
  private readonly pool: Piscina;
  /** Per cluster (by its config): what answers the observers' "auth" requests. */
  private readonly auths = new Map<string, RequestAuth>();

  constructor(threads: number) {
    const count = threads > 0 ? threads : defaultThreadCount();
    this.pool = new Piscina({
      filename: new URL("./worker-entry.cjs", import.meta.url).href,
      minThreads: count,
      maxThreads: count,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Long-lived I/O-bound tasks: no per-thread cap, no Atomics-based waiting (it would
      // block a thread between tasks), and an unbounded queue.
      concurrentTasksPerWorker: 1_000_000,
      atomics: "disabled",
      maxQueue: Number.POSITIVE_INFINITY,
      // Observers keep little per object; a small young generation keeps each thread's
      // RSS near what it holds (core/memory-tuning.ts).
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
  }

  get threadCount(): number {
    return this.pool.threads.length;
  }

  /** The pool's threads, for tests that need to kill one. */
  get threads(): readonly import("node:worker_threads").Worker[] {
    return this.pool.threads;
  }

  start(spec: ObserverTaskSpec, callbacks: ObserverCallbacks): ObserverHandle {
    const { port1, port2 } = new MessageChannel();
    const send = (message: ToWorker): void => port1.postMessage(message);
    // Looked up once per observer, not on every request it makes.
    const auth = this.authFor(spec.cluster);
    port1.on("message", (message: FromWorker) => {
      if (message.type === "status") callbacks.onStatus(message.status);
      else if (message.type === "skipped") callbacks.onSkipped?.(message.object);
      else if (message.type === "end") port1.close();
      else if (message.type === "auth") {
        auth.options().then(
          (options) => send({ type: "auth", id: message.id, options }),
          (error: unknown) => send({ type: "auth", id: message.id, error: error instanceof Error ? error.message : String(error) }),
        );
      } else if (message.type === "batch") {
        // A batch that was not taken is never swallowed: the observer hears of it and
        // relists (the sink side has logged and counted the failure).
        callbacks.onBatch(message.messages).then(
          () => send({ type: "ack", batch: message.batch }),
          (error: unknown) => send({ type: "nack", batch: message.batch, error: error instanceof Error ? error.message : String(error) }),
        );
      }
    });
    // piscina infers its transferList type from MessagePort.postMessage, whose last
    // overload in @types/node 26 takes an options object; at run time it is the array.
    const transferList = [port2] as unknown as NonNullable<NonNullable<Parameters<Piscina["run"]>[1]>["transferList"]>;
    const done = this.pool.run({ port: port2, spec }, { transferList }) as Promise<ObserverStatus>;
    // A thread that died posts no "end".
    done.catch(() => port1.close());
    return {
      spec,
      stop: (reason = "shutdown") => send({ type: "stop", reason }),
      done,
    };
  }

  private authFor(cluster: ClusterConfig): RequestAuth {
    const key = JSON.stringify(cluster);
    let auth = this.auths.get(key);
    if (!auth) {
      try {
        auth = kubeConfigAuth(loadKubeConfig(cluster));
      } catch (error) {
        // A kubeconfig that cannot be loaded: every request says why (not cached).
        return { options: () => Promise.reject(error) };
      }
      this.auths.set(key, auth);
    }
    return auth;
  }

  async close(): Promise<void> {
    await this.pool.close({ force: true });
  }
}
