// One logical observer: (cluster, namespace, resource). Drives the Watcher, keeps the
// scope's relist store (key → uid) to turn delete+recreate into delete-then-add and to
// mark each complete list with a boundary message (present keys: the sink sweeps the
// rest), reduces each object with its plugin, and hands KubeMessages to the outlet in
// batches, waiting for acknowledgement when too many are in flight.
import type { ObserverConfig } from "../config/model.js";
import type { KubeMessage, KubeObject, PresentObject } from "../messages.js";
import type { ListWatchClient } from "../kube/client.js";
import { ApiError } from "../kube/errors.js";
import type { OversizedObject } from "../kube/oversize.js";
import type { ResourcePlugin } from "../plugin/types.js";
import { Backoff } from "./backoff.js";
import { Batcher } from "./batcher.js";
import { AnnotationFilter } from "../plugin/annotation-rules.js";
import { reduceObject, type Reduction } from "./reducer.js";
import { RelistStore, type KnownObject } from "./relist-store.js";
import type { ListGate } from "./list-gate.js";
import { Watcher, type WatcherEvent } from "./watcher.js";

export type ObserverPhase = "starting" | "listing" | "watching" | "backing-off" | "forbidden" | "not-served" | "stopped" | "failed";

export interface ObserverStatus {
  phase: ObserverPhase;
  /** Why it is in this phase (the last error, for backing-off/forbidden/failed). */
  reason?: string;
  errorKind?: ApiError["kind"];
  /** Milliseconds until the next attempt, when backing off. */
  retryInMs?: number;
  /** Consecutive failed attempts (backing-off/forbidden); every retry reports a status. */
  failures?: number;
  objects: number;
  /** A complete list has been delivered at least once (initial sync done). */
  synced: boolean;
  relists: number;
  /** WATCHes re-opened from the last resourceVersion without a LIST. */
  watchRestarts: number;
  /** Objects the last complete relist found gone (deleted while nothing watched). */
  goneAtRelist?: number;
}

/** Where an observer's output goes: the worker's MessagePort, or a test's collector. */
export interface ObserverOutlet {
  /** Resolves when the batch is accepted downstream (durable, once the WAL exists). */
  send(batch: KubeMessage[]): Promise<void>;
  status(status: ObserverStatus): void;
  /** An object over the size cap was left out (the agent warns and counts it). */
  skipped?(object: OversizedObject): void;
}

export interface ObserverScope {
  cluster: string;
  /** null: cluster-scoped resource (or every namespace in one watch). */
  namespace: string | null;
}

export interface ObserverOptions {
  config: ObserverConfig;
  /** List once, deliver, and finish (run --once). */
  once: boolean;
  /** Batches sent but not yet acknowledged before the observer stops reading (default 2:
   *  the main thread is the bottleneck, and every batch waiting there is memory). */
  maxInFlight?: number;
  /** Shared cap on LISTs in progress. */
  listGate?: ListGate;
  /** Cluster-wide observers: namespaces whose objects are dropped (the actor's exclude). */
  exclude?: readonly string[];
  /** Cluster-wide observers: namespaces the relist boundary tells the sink not to sweep
   *  (other observers cover them). */
  sweepExcept?: readonly string[];
  /** The plugin's file, to say where in it a reduce threw. */
  pluginFile?: string;
  now?: () => number;
  random?: () => number;
}

/** "scope-deleted": the scope is no longer observed (namespace deleted, actor removed):
 *  an empty list boundary tells the sink to sweep all of it. */
export type StopReason = "shutdown" | "scope-deleted";

type Known = KnownObject;

export class Observer {
  private readonly watcher: Watcher;
  private readonly backoff: Backoff;
  /** Backoff between relists after refused batches: reset by an accepted batch, not by
   *  a completed LIST (the apiserver being fine says nothing about the agent's WAL). */
  private readonly deliveryBackoff: Backoff;
  private readonly store = new RelistStore();
  /** Batches to the outlet; a batch the agent refused (its WAL append failed) makes the
   *  run loop relist, at once: what this observer knows is then ahead of what the agent
   *  took, and only a relist (its boundary sweeps) brings them together again. */
  private readonly batcher: Batcher;
  private stopReason: StopReason | undefined;
  private wake: (() => void) | undefined;
  private lastStatus: ObserverStatus = { phase: "starting", objects: 0, synced: false, relists: 0, watchRestarts: 0 };
  /** Watches opened since the last LIST began (the first one is not a restart). */
  private watchesSinceList = 0;
  private listsCompleted = 0;
  private readonly maxInFlight: number;
  private readonly excluded: ReadonlySet<string>;
  private readonly random: () => number;
  private readonly now: () => number;
  /** The annotation values this observer withholds (config observer.withheldAnnotations,
   *  observer.maxAnnotationBytes). */
  private readonly annotations: AnnotationFilter;
  /** True when the apiserver is back after an outage (see core/kube/reachability.ts). */
  private readonly serverBack: (() => Promise<boolean>) | undefined;

  constructor(
    private readonly scope: ObserverScope,
    private readonly plugin: ResourcePlugin,
    client: ListWatchClient,
    private readonly outlet: ObserverOutlet,
    private readonly options: ObserverOptions,
  ) {
    const c = options.config;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.excluded = new Set(options.exclude ?? []);
    this.annotations = new AnnotationFilter({ withheld: c.withheldAnnotations, maxValueBytes: c.maxAnnotationBytes });
    this.batcher = new Batcher(
      (batch) => outlet.send(batch),
      c.batchMaxMessages,
      c.batchMaxDelayMs,
      (accepted) => {
        if (accepted) this.deliveryBackoff.reset();
        // Noticed now, not at the next watch event (a quiet watch may have none for minutes).
        else this.watcher.interrupt();
      },
    );
    this.backoff = new Backoff(c.backoff, this.now, this.random);
    this.serverBack = client.whenBack?.bind(client);
    this.deliveryBackoff = new Backoff(c.backoff, this.now, this.random);
    this.watcher = new Watcher(client, {
      pageSize: c.pageSize,
      watchTimeoutSeconds: () => Math.round(c.watchTimeoutMinSeconds + this.random() * (c.watchTimeoutMaxSeconds - c.watchTimeoutMinSeconds)),
      inactivityMarginSeconds: c.inactivityMarginSeconds,
      ...(options.listGate ? { listGate: options.listGate } : {}),
      now: this.now,
    });
  }

  /** Asks the observer to finish; run() then resolves after delivering what it has. */
  stop(reason: StopReason = "shutdown"): void {
    this.stopReason ??= reason;
    this.watcher.close();
    this.wake?.();
  }

  /** Runs until stopped (or, with once, until the first complete list is delivered). */
  async run(): Promise<ObserverStatus> {
    try {
      while (this.stopReason === undefined) {
        const undelivered = this.takeDeliveryFailure();
        if (undelivered) {
          if (this.options.once) {
            this.setStatus({ phase: "failed", reason: undelivered.message, errorKind: undelivered.kind });
            await this.drain();
            return this.lastStatus;
          }
          // What this observer has seen is ahead of what the agent took: read it all again.
          this.watcher.relist();
          await this.backOff(undelivered, this.deliveryBackoff);
          continue;
        }
        const events = await this.watcher.step();
        if (this.stopReason !== undefined) break;
        let failure: Extract<WatcherEvent, { type: "error" }> | undefined;
        for (const event of events) {
          if (event.type === "error") failure = event;
          else this.handle(event);
        }
        // A refused batch comes first (an interrupted watch reports an error too): relist.
        if (this.batcher.failed) continue;
        if (failure) {
          const notServed = failure.error.kind === "not-found";
          if (this.options.once && (notServed || failure.error.kind === "forbidden" || failure.error.kind === "unauthorized")) {
            this.setStatus({ phase: "failed", reason: notServed ? this.notServedReason(failure.error) : failure.error.message, errorKind: failure.error.kind });
            await this.drain();
            return this.lastStatus;
          }
          // 410 Gone: the history the watch would resume from is compacted away (or the
          // apiserver restarted). A LIST from now cannot answer 410: relist at once, as
          // client-go's reflector does, rather than wait out a backoff grown by an outage.
          if (failure.error.kind === "expired" && failure.relist) {
            this.flush();
            this.setStatus({ phase: "listing", reason: `relisting: ${failure.error.message}`, errorKind: "expired" });
            continue;
          }
          await this.backOff(failure.error);
          continue;
        }
        if (this.options.once && this.listsCompleted > 0) break;
        await this.waitForCredit();
      }
      if (this.stopReason === "scope-deleted") this.emitScopeGone();
      await this.drain();
      // A last batch the agent did not take: this scope was not delivered (once mode's
      // exit code says so; a running agent relists it at the next start).
      const late = this.takeDeliveryFailure();
      if (late) {
        this.setStatus({ phase: "failed", reason: late.message, errorKind: late.kind });
        return this.lastStatus;
      }
      this.setStatus({ phase: "stopped" });
      return this.lastStatus;
    } finally {
      this.batcher.close();
      this.watcher.close();
    }
  }

  private handle(event: Exclude<WatcherEvent, { type: "error" }>): void {
    switch (event.type) {
      case "init":
        this.store.beginList();
        this.watchesSinceList = 0;
        if (this.listsCompleted > 0) this.setStatus({ phase: "listing", relists: this.lastStatus.relists + 1 });
        else this.setStatus({ phase: "listing" });
        return;
      case "initPage":
        for (const object of event.objects) if (this.wanted(object)) this.onListed(object, object.metadata?.resourceVersion ?? "");
        return;
      case "initDone":
        this.onListComplete(event.resourceVersion);
        return;
      case "watchStarted": {
        // A watch opened again from the last resourceVersion (after the server's timeout
        // or an error) without a LIST: cheap, unlike a relist; counted for /metrics.
        const restarted = this.watchesSinceList > 0 ? 1 : 0;
        this.watchesSinceList += 1;
        if (this.lastStatus.phase !== "watching" || restarted) this.setStatus({ phase: "watching", watchRestarts: this.lastStatus.watchRestarts + restarted });
        return;
      }
      case "applied":
        if (this.wanted(event.object)) this.onApplied(event.object, event.resourceVersion);
        return;
      case "deleted":
        if (this.wanted(event.object)) this.onDeleted(event.object, event.resourceVersion);
        return;
      case "skipped":
        this.onSkipped(event.object);
        return;
    }
  }

  /** An object too large to read is not in the graph: a version of it that was (it grew
   *  past the cap) leaves it now rather than staying stale; a relist leaves it out too. */
  private onSkipped(object: OversizedObject): void {
    if (object.namespace !== undefined && this.excluded.has(object.namespace)) return;
    // LIST items carry no kind: the plugin's.
    this.outlet.skipped?.({ ...object, kind: object.kind ?? this.plugin.resource.kind });
    if (object.source !== "watch" || object.name === undefined) return;
    const known = this.store.remove({ namespace: object.namespace ?? null, name: object.name });
    if (known) this.push(this.deletedMessage(known, null, object.resourceVersion ?? ""));
  }

  /** Objects of excluded namespaces are not observed (the server usually leaves them
   *  out already; a long exclude list or an old server may not). */
  private wanted(object: KubeObject): boolean {
    return this.excluded.size === 0 || !this.excluded.has(object.metadata?.namespace ?? "");
  }

  private keyOf(object: KubeObject): Known {
    const m = object.metadata ?? {};
    return { uid: m.uid ?? "", namespace: m.namespace ?? null, name: m.name ?? "" };
  }

  private onListed(object: KubeObject, resourceVersion: string): void {
    // Same name, new uid: deleted and recreated while we were not watching (case 6).
    const replaced = this.store.observe(this.keyOf(object));
    if (replaced) this.push(this.deletedMessage(replaced, null, resourceVersion));
    this.push(this.appliedMessage(object, resourceVersion));
  }

  private onListComplete(resourceVersion: string): void {
    // Known before, absent now: deleted while we were not watching (cases 5, 14). The
    // boundary's sweep removes them from the graph (with anything written before a
    // restart); here they are only counted.
    const { present, deletions } = this.store.replace();
    this.listsCompleted += 1;
    // A complete list proves the connection and permissions healthy.
    this.backoff.reset();
    this.push(this.boundaryMessage(present, resourceVersion));
    this.flush();
    // "watching" once the watch is actually open (watchStarted).
    this.setStatus({ phase: "listing", objects: this.store.size, goneAtRelist: deletions.length });
  }

  private onApplied(object: KubeObject, resourceVersion: string): void {
    const replaced = this.store.observe(this.keyOf(object));
    if (replaced) this.push(this.deletedMessage(replaced, null, resourceVersion));
    this.push(this.appliedMessage(object, resourceVersion));
  }

  private onDeleted(object: KubeObject, resourceVersion: string): void {
    const known = this.keyOf(object);
    this.store.remove(known);
    this.push(this.deletedMessage(known, object, resourceVersion));
  }

  /** The scope (namespace) is gone: everything in it is gone, and the boundary says so. */
  private emitScopeGone(): void {
    this.store.clear();
    this.push(this.boundaryMessage([], ""));
  }

  private base(action: KubeMessage["action"], resourceVersion: string): KubeMessage {
    return {
      cluster: this.scope.cluster,
      namespace: this.scope.namespace,
      resource: this.plugin.name,
      kind: this.plugin.resource.kind,
      action,
      objectNamespace: null,
      uid: null,
      name: null,
      resourceVersion,
      observedAt: new Date(this.now()).toISOString(),
      object: null,
    };
  }

  /** `group/version/plural`, as the apiserver serves it ("v1/pods" for the core group). */
  private apiPath(): string {
    const r = this.plugin.resource;
    return `${r.group ? `${r.group}/` : ""}${r.version}/${r.plural}`;
  }

  /** What to tell the operator when LIST or WATCH says 404. */
  private notServedReason(error: ApiError): string {
    const hint = this.plugin.resource.group ? "is the CRD installed (and serving that version)?" : "check the plugin's resource.version and resource.plural";
    return `the apiserver does not serve ${this.apiPath()} (plugin "${this.plugin.name}", kind ${this.plugin.resource.kind}); ${hint} [${error.message.trim()}]`;
  }

  private appliedMessage(object: KubeObject, resourceVersion: string): KubeMessage {
    return this.objectMessage("Applied", this.keyOf(object), object, object.metadata?.resourceVersion ?? resourceVersion);
  }

  private deletedMessage(known: Known, object: KubeObject | null, resourceVersion: string): KubeMessage {
    return this.objectMessage("Deleted", known, object, resourceVersion);
  }

  /** A message about one object; its reduction when the object's content is known. */
  private objectMessage(action: "Applied" | "Deleted", known: Known, object: KubeObject | null, resourceVersion: string): KubeMessage {
    const reduced: Reduction = object ? reduceObject(this.plugin, object, this.annotations, this.options.pluginFile) : { object: null };
    const message: KubeMessage = {
      ...this.base(action, resourceVersion),
      objectNamespace: known.namespace,
      uid: known.uid,
      name: known.name,
      object: reduced.object,
    };
    if (reduced.error) message.error = reduced.error;
    return message;
  }

  private boundaryMessage(present: Known[], resourceVersion: string): KubeMessage {
    const clusterWide = this.scope.namespace === null && this.plugin.resource.namespaced;
    return {
      ...this.base("Restarted", resourceVersion),
      present: present.map((k): PresentObject => ({ namespace: k.namespace, name: k.name, uid: k.uid })),
      ...(clusterWide ? { sweepExcept: [...(this.options.sweepExcept ?? [])] } : {}),
    };
  }

  private push(message: KubeMessage): void {
    this.batcher.push(message);
  }

  private flush(): void {
    this.batcher.flush();
  }

  /** A batch the agent did not take, as the error the run loop backs off on. */
  private takeDeliveryFailure(): ApiError | undefined {
    const failure = this.batcher.takeFailure();
    if (!failure) return undefined;
    return new ApiError("delivery", `the agent did not take a batch (${failure.message}); relisting once it can`);
  }

  /** Backpressure: stop reading while too many batches wait for acknowledgement. */
  private async waitForCredit(): Promise<void> {
    await this.batcher.waitBelow(this.maxInFlight, () => this.stopReason !== undefined);
  }

  private async drain(): Promise<void> {
    await this.batcher.drain();
  }

  private async backOff(error: ApiError, backoff: Backoff = this.backoff): Promise<void> {
    // What was read so far is delivered before waiting.
    this.flush();
    const forbidden = error.kind === "forbidden" || error.kind === "unauthorized";
    const notServed = error.kind === "not-found";
    // Not served: nothing a quick retry fixes; try again slowly (the backoff's maximum),
    // so a CRD installed later is picked up without a restart.
    const delay = notServed ? backoff.nextSlow(error.retryAfterSeconds) : backoff.next(error.retryAfterSeconds);
    this.setStatus({
      phase: forbidden ? "forbidden" : notServed ? "not-served" : "backing-off",
      reason: notServed ? this.notServedReason(error) : error.message,
      errorKind: error.kind,
      retryInMs: delay,
      failures: backoff.failures,
    });
    // Unreachable or failing server: also woken when it answers again (one shared probe),
    // not a whole grown backoff later; a short random delay spreads the observers' return.
    const serverDown = error.kind === "network" || (error.kind === "server" && (error.status ?? 0) >= 500);
    let back = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
      if (serverDown && this.serverBack) {
        void this.serverBack().then((cameBack) => {
          if (!cameBack) return;
          back = true;
          clearTimeout(timer);
          setTimeout(resolve, this.random() * Math.min(delay, 1_000));
        });
      }
    });
    this.wake = undefined;
    if (back) this.backoff.reset();
  }

  private setStatus(change: Partial<ObserverStatus> & { phase: ObserverPhase }): void {
    const next: ObserverStatus = {
      objects: this.store.size,
      synced: this.listsCompleted > 0,
      relists: this.lastStatus.relists,
      watchRestarts: this.lastStatus.watchRestarts,
      ...change,
    };
    const changed =
      next.phase !== this.lastStatus.phase ||
      next.reason !== this.lastStatus.reason ||
      next.synced !== this.lastStatus.synced ||
      next.failures !== this.lastStatus.failures ||
      next.watchRestarts !== this.lastStatus.watchRestarts ||
      (change.goneAtRelist ?? 0) > 0;
    this.lastStatus = next;
    if (changed) this.outlet.status(next);
  }
}
