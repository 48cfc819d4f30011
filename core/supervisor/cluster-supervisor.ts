// One per configured cluster: discovers namespaces (and keeps watching them), turns the
// actors into the desired set of observers, starts and stops observers as namespaces and
// config change, restarts failed observers with backoff, and logs every state change.
import { coverageScope } from "../history/origin.js";
import type { ClusterConfig, Config } from "../config/model.js";
import type { Logger } from "../log/logger.js";
import type { KubeMessage } from "../messages.js";
import { KubeHttpClient } from "../kube/client.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { describeOversized, type OversizedObject } from "../kube/oversize.js";
import { Backoff } from "../observer/backoff.js";
import { Observer, type ObserverPhase, type ObserverStatus, type StopReason } from "../observer/observer.js";
import type { ObserverHandle, ObserverPool } from "../observer/pool.js";
import type { LoadedPlugin } from "../plugin/registry.js";
import { observedScope, type ObservedScope } from "./coverage.js";
import { actorTopology, coveredByOthers, desiredObservers, needsNamespaceDiscovery, type DesiredObserver } from "./desired.js";

/** Where observed messages go; the promise resolves once they are safely accepted. */
export interface MessageSink {
  deliver(messages: KubeMessage[]): Promise<void>;
}

export interface SupervisorContext {
  pool: ObserverPool;
  sink: MessageSink;
  log: Logger;
  once: boolean;
  /** Every status an observer reports, with its previous one (metrics). */
  onObserverStatus?: (
    observer: { cluster: string; resource: string; namespace: string | null },
    previous: ObserverStatus | undefined,
    next: ObserverStatus,
  ) => void;
  /** An object over the size cap was left out (metrics). */
  onObjectSkipped?: (observer: { cluster: string; resource: string }, object: OversizedObject) => void;
}

interface Running {
  desired: DesiredObserver;
  handle: ObserverHandle | undefined;
  status: ObserverStatus | undefined;
  stopping: StopReason | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  backoff: Backoff;
  incarnation: number;
  /** once mode: the final status of its (only) run. */
  final?: ObserverStatus | Error;
  stopped: Promise<void>;
  markStopped: () => void;
}

/** `group/version/plural` ("v1/pods" for the core group). */
function apiPath(resource: LoadedPlugin["plugin"]["resource"]): string {
  return `${resource.group ? `${resource.group}/` : ""}${resource.version}/${resource.plural}`;
}

export interface OnceResult {
  delivered: number;
  failed: Array<{ key: string; reason: string }>;
}

export class ClusterSupervisor {
  private config: Config;
  private plugins: ReadonlyMap<string, LoadedPlugin>;
  private readonly running = new Map<string, Running>();
  private namespaces = new Set<string>();
  private discovery: Observer | undefined;
  private discoveryRun: Promise<ObserverStatus> | undefined;
  private discoveryClient: KubeHttpClient | undefined;
  private discoveryListed = false;
  /** Namespace discovery's last status (readiness, and logging each change once). */
  private discoveryStatus: ObserverStatus | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** start() got as far as the first reconcile (coverage() means something). */
  private started = false;
  private readonly log: Logger;
  private firstList: { promise: Promise<void>; resolve: () => void };
  private phaseTimer: NodeJS.Timeout | undefined;
  private lastPhases = "";

  constructor(
    private cluster: ClusterConfig,
    config: Config,
    plugins: ReadonlyMap<string, LoadedPlugin>,
    private readonly ctx: SupervisorContext,
  ) {
    this.config = config;
    this.plugins = plugins;
    this.log = ctx.log.child({ cluster: cluster.name });
    let resolve!: () => void;
    this.firstList = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  }

  get name(): string {
    return this.cluster.name;
  }

  /** Starts namespace discovery (when an actor needs it) and the observers. Never waits
   *  for discovery: a forbidden or failing `list namespaces` must not hold up the agent's
   *  signal handlers, config watcher or the observers of named namespaces. Observers of
   *  every namespace (topology "namespace") start once discovery has listed. */
  async start(): Promise<void> {
    this.phaseTimer = setInterval(() => this.logPhases(), 1_000);
    this.phaseTimer.unref();
    this.logTopology();
    this.ensureDiscovery();
    if (!this.discovery) this.firstList.resolve();
    this.reconcile();
    this.started = true;
  }

  /** Namespace discovery is needed and has not listed yet (the set of per-namespace
   *  observers is not known: the initial sync is not complete). */
  get discoveryPending(): boolean {
    return this.discovery !== undefined && !this.discoveryListed;
  }

  /** Why this cluster is not ready, for /readyz (empty: nothing of its own). */
  readinessProblems(): string[] {
    if (!this.discoveryPending) return [];
    const status = this.discoveryStatus;
    const where = `cluster "${this.cluster.name}"`;
    if (status?.phase === "forbidden")
      return [`${where}: namespace discovery forbidden (the agent may not list and watch namespaces): ${status.reason ?? ""}`.trim()];
    if (status?.phase === "backing-off") return [`${where}: namespace discovery failing: ${status.reason ?? ""}`.trim()];
    return [`${where}: namespace discovery has not listed yet`];
  }

  /** Applies a new config (and plugin set) without touching observers that did not change. */
  update(cluster: ClusterConfig, config: Config, plugins: ReadonlyMap<string, LoadedPlugin>): void {
    const connectionChanged = JSON.stringify(cluster) !== JSON.stringify(this.cluster);
    this.cluster = cluster;
    this.config = config;
    this.plugins = plugins;
    if (connectionChanged) {
      // New credentials or server: every observer of this cluster starts over.
      this.log.info("cluster connection settings changed: restarting its observers");
      for (const running of this.running.values()) this.stopObserver(running, "shutdown");
      this.stopDiscovery();
    }
    this.logTopology();
    this.ensureDiscovery();
    if (!needsNamespaceDiscovery(this.actors(), this.plugins)) this.stopDiscovery();
    this.scheduleReconcile(0);
  }

  /** Every observer of this cluster starts over, with a LIST (reconcile starts each again
   *  once it has stopped). Namespace discovery goes on: it writes nothing to the graph. */
  restartObservers(reason: string): void {
    if (this.closed) return;
    this.log.info({ reason }, "restarting every observer of this cluster: they relist");
    for (const running of this.running.values()) this.stopObserver(running, "shutdown");
    this.scheduleReconcile(0);
  }

  /** Which topology each actor got, and why (also in `config print`). */
  private logTopology(): void {
    for (const actor of this.actors()) {
      const plugin = this.plugins.get(actor.resource);
      if (!plugin) continue;
      const { topology, why } = actorTopology(actor, plugin);
      this.log.info(
        { resource: actor.resource, namespace: actor.namespace, exclude: actor.exclude.length ? actor.exclude : undefined, topology, why },
        "actor topology",
      );
    }
  }

  /** Stops everything; resolves when every observer has delivered and ended. */
  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconcileTimer);
    clearInterval(this.phaseTimer);
    this.stopDiscovery();
    for (const running of this.running.values()) this.stopObserver(running, "shutdown");
    await Promise.all([...this.running.values()].map((r) => r.stopped));
    this.discoveryClient?.close();
  }

  /** once mode: resolves when every observer has listed once and delivered. */
  async finished(): Promise<OnceResult> {
    await this.firstList.promise;
    // The observers of the namespaces just discovered start now, not after a timer.
    if (this.reconcileTimer) {
      clearTimeout(this.reconcileTimer);
      this.reconcileTimer = undefined;
      this.reconcile();
    }
    await Promise.all([...this.running.values()].map((r) => r.stopped));
    const failed: OnceResult["failed"] = [];
    let delivered = 0;
    for (const [key, r] of this.running) {
      if (r.final instanceof Error) failed.push({ key, reason: r.final.message });
      else if (r.final?.phase === "failed") failed.push({ key, reason: r.final.reason ?? "failed" });
      else delivered += 1;
    }
    return { delivered, failed };
  }

  /** The scopes the running observers keep current; `synced` once every one of them (and
   *  namespace discovery, when needed) has listed, so the set is complete. */
  coverage(): { synced: boolean; scopes: ObservedScope[] } {
    const running = [...this.running.values()].filter((r) => !r.stopping);
    // In once mode an ended observer's final status (from its task's result) is the
    // authority: its last status message may still be on its way over the port.
    const listed = (r: Running): boolean => (r.final !== undefined && !(r.final instanceof Error) ? r.final.synced : r.status?.synced === true);
    const synced = this.started && (!this.discovery || this.discoveryListed) && running.every(listed);
    return { synced, scopes: running.map((r) => observedScope(this.cluster.name, r.desired)) };
  }

  /** The scopes whose observers are watching now, as the history keeps its coverage
   *  (core/history/origin.ts coverageScope). */
  watchingScopes(): string[] {
    return [...this.running.values()]
      .filter((r) => !r.stopping && r.status?.phase === "watching")
      .map((r) => coverageScope({ cluster: this.cluster.name, namespace: r.desired.namespace, resource: r.desired.plugin.plugin.name }));
  }

  /** Observers per phase, for logs and (later) metrics. */
  phaseCounts(): Record<ObserverPhase, number> {
    const counts: Record<ObserverPhase, number> = {
      starting: 0,
      listing: 0,
      watching: 0,
      "backing-off": 0,
      forbidden: 0,
      "not-served": 0,
      stopped: 0,
      failed: 0,
    };
    for (const r of this.running.values()) counts[r.status?.phase ?? "starting"] += 1;
    return counts;
  }

  /** Initial-sync progress: scopes that have delivered a complete list, and objects. */
  syncProgress(): { scopes: number; synced: number; objects: number } {
    let synced = 0;
    let objects = 0;
    for (const r of this.running.values()) {
      if (r.status?.synced) synced += 1;
      objects += r.status?.objects ?? 0;
    }
    return { scopes: this.running.size, synced, objects };
  }

  /** One summary line whenever the number of observers per phase changes (at most 1/s). */
  private logPhases(): void {
    const counts = Object.fromEntries(Object.entries(this.phaseCounts()).filter(([, n]) => n > 0));
    const text = JSON.stringify(counts);
    if (text === this.lastPhases) return;
    this.lastPhases = text;
    this.log.info({ observers: this.running.size, phases: counts }, "observer phases");
  }

  get observerCount(): number {
    return this.running.size;
  }

  private actors(): Config["actors"] {
    return this.config.actors.filter((a) => a.cluster === this.cluster.name);
  }

  private ensureDiscovery(): void {
    if (this.discovery || this.closed || !needsNamespaceDiscovery(this.actors(), this.plugins)) return;
    const provider = [...this.plugins.values()].find((p) => p.plugin.providesNamespaces);
    if (!provider) {
      this.log.error("an actor observes every namespace, but no loaded plugin provides namespaces (providesNamespaces: true)");
      this.firstList.resolve();
      return;
    }
    this.discoveryClient ??= new KubeHttpClient(loadKubeConfig(this.cluster), {
      connectTimeoutMs: this.config.observer.connectTimeoutSeconds * 1000,
      listTimeoutMs: 120_000,
      userAgent: "kube-observer/supervisor",
      maxObjectBytes: this.config.observer.maxObjectBytes,
      maxListPageBytes: this.config.observer.maxListPageBytes,
    });
    const discovery = new Observer(
      { cluster: this.cluster.name, namespace: null },
      provider.plugin,
      this.discoveryClient.forResource(provider.plugin.resource, null),
      {
        send: async (messages) => this.onNamespaceMessages(messages),
        status: (status) => this.onDiscoveryStatus(status),
        skipped: (object) => this.onSkipped(object, provider.plugin.name, null),
      },
      { config: { ...this.config.observer, batchMaxDelayMs: 10 }, once: this.ctx.once },
    );
    this.discovery = discovery;
    this.discoveryRun = discovery.run();
    this.discoveryRun.then(
      (status) => {
        if (this.discovery === discovery && status.phase === "failed") {
          this.log.error({ reason: status.reason }, "namespace discovery failed: observers of every namespace cannot start");
          this.firstList.resolve();
        }
      },
      (error: unknown) => this.log.error({ err: error }, "namespace discovery crashed"),
    );
  }

  private stopDiscovery(): void {
    this.discovery?.stop();
    this.discovery = undefined;
    this.discoveryStatus = undefined;
    // A later discovery starts from a fresh list (namespaces may change meanwhile).
    this.discoveryListed = false;
  }

  private onNamespaceMessages(messages: KubeMessage[]): void {
    for (const m of messages) {
      if (m.action === "Applied" && m.name) {
        this.namespaces.add(m.name);
      } else if (m.action === "Deleted" && m.name) {
        this.namespaces.delete(m.name);
      } else if (m.action === "Restarted") {
        this.namespaces = new Set((m.present ?? []).map((p) => p.name));
        this.discoveryListed = true;
        this.firstList.resolve();
      }
    }
    if (this.discoveryListed) this.scheduleReconcile(20);
  }

  private onDiscoveryStatus(status: ObserverStatus): void {
    const previous = this.discoveryStatus?.phase;
    const previousKind = this.discoveryStatus?.errorKind;
    this.discoveryStatus = status;
    const fields = { phase: status.phase, reason: status.reason, errorKind: status.errorKind, retryInMs: status.retryInMs, failures: status.failures };
    const failing = status.phase === "forbidden" || status.phase === "backing-off";
    // Each kind of failure is reported once, when it starts; its retries at debug.
    if (failing && previous === status.phase && previousKind === status.errorKind) this.log.debug(fields, "namespace discovery still %s", status.phase);
    else if (status.phase === "forbidden") {
      this.log.error(
        { ...fields, needs: 'list and watch on "namespaces" (core API group, cluster-wide: a ClusterRole)' },
        'namespace discovery forbidden: the agent may not list namespaces (RBAC: verbs "list" and "watch" on resource "namespaces", cluster-wide; `kube-observer rbac` generates it); observers of every namespace (topology "namespace") wait for it, the others run; retrying: %s',
        status.reason,
      );
    } else if (failing) {
      this.log.warn(fields, "namespace discovery failed; retrying (observers keep running, nothing is swept): %s", status.reason);
    } else if (previous === "forbidden" || previous === "backing-off") this.log.info(fields, "namespace discovery recovered");
    else this.log.debug(fields, "namespace discovery %s", status.phase);
  }

  private scheduleReconcile(delayMs: number): void {
    if (this.closed || this.reconcileTimer) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      this.reconcile();
    }, delayMs);
  }

  private reconcile(): void {
    if (this.closed) return;
    const desired = desiredObservers(this.cluster.name, this.actors(), this.namespaces, this.plugins);
    // Per-namespace observers wait for the namespace list: until it is in, nothing is
    // stopped (a cluster-wide observer handing over to them must not leave a gap).
    const namespacesPending = this.discovery !== undefined && !this.discoveryListed;
    let started = 0;
    let stopped = 0;
    for (const [key, running] of this.running) {
      const want = desired.get(key);
      // Same plugin file at the same version, same exclusions: keep it. A reloaded,
      // changed plugin file (or another file now providing the name) or a changed
      // exclude restarts its observers, which relist.
      if (want && sameObserver(want, running.desired)) continue;
      if (running.stopping) continue;
      if (!want && namespacesPending) continue;
      // No longer wanted (its namespace deleted, its actor removed or narrowed): its
      // objects leave the graph rather than stay there as last seen, looking current,
      // unless another observer takes them over (the actor switched topology).
      // Replaced by another version of its plugin: stopped, and the new one relists.
      this.stopObserver(running, want || coveredByOthers(running.desired, desired) ? "shutdown" : "scope-deleted");
      stopped += 1;
    }
    for (const [key, want] of desired) {
      const existing = this.running.get(key);
      if (existing && !existing.stopping) continue;
      if (existing?.stopping) {
        // Replaced (e.g. a plugin file changed): start again once the old one has ended.
        void existing.stopped.then(() => this.scheduleReconcile(0));
        continue;
      }
      this.startObserver(want);
      started += 1;
    }
    if (started || stopped) this.log.info({ started, stopped, observers: this.running.size }, "observers reconciled");
  }

  private startObserver(desired: DesiredObserver): void {
    let markStopped!: () => void;
    const running: Running = {
      desired,
      handle: undefined,
      status: undefined,
      stopping: undefined,
      restartTimer: undefined,
      backoff: new Backoff(this.config.observer.backoff),
      incarnation: 0,
      stopped: new Promise<void>((r) => (markStopped = r)),
      markStopped: () => markStopped(),
    };
    this.running.set(desired.key, running);
    this.launch(running);
  }

  private launch(running: Running): void {
    const { desired } = running;
    running.incarnation += 1;
    running.status = undefined;
    const handle = this.ctx.pool.start(
      {
        id: `${desired.key}#${running.incarnation}`,
        cluster: this.cluster,
        namespace: desired.namespace,
        exclude: desired.exclude,
        sweepExcept: desired.sweepExcept,
        pluginName: desired.plugin.plugin.name,
        pluginFile: desired.plugin.file,
        pluginVersion: desired.plugin.version,
        pluginBuiltin: desired.plugin.builtin,
        ...(desired.plugin.source === undefined ? {} : { pluginSource: desired.plugin.source }),
        config: this.config.observer,
        once: this.ctx.once,
        listSlots: Math.max(1, Math.ceil(this.config.observer.maxConcurrentLists / Math.max(1, this.ctx.pool.threadCount))),
      },
      {
        onBatch: (messages) => this.ctx.sink.deliver(messages),
        onStatus: (status) => this.onObserverStatus(running, status),
        onSkipped: (object) => this.onSkipped(object, desired.plugin.plugin.name, desired.namespace),
      },
    );
    running.handle = handle;
    handle.done.then(
      (status) => this.onObserverEnded(running, handle, status),
      (error: unknown) => this.onObserverEnded(running, handle, error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** An object too large to read: one warning naming it, and a count. */
  private onSkipped(object: OversizedObject, resource: string, namespace: string | null): void {
    this.ctx.onObjectSkipped?.({ cluster: this.cluster.name, resource }, object);
    this.log.warn(
      {
        resource,
        namespace: object.namespace ?? namespace ?? undefined,
        kind: object.kind,
        name: object.name,
        uid: object.uid,
        bytes: object.bytes,
        capBytes: object.capBytes,
        source: object.source,
        eventType: object.eventType,
      },
      "object over the size cap (observer.maxObjectBytes) skipped: %s is %d bytes, over %d; it is left out of the graph until it shrinks",
      describeOversized(object),
      object.bytes,
      object.capBytes,
    );
  }

  private onObserverStatus(running: Running, status: ObserverStatus): void {
    const previousStatus = running.status;
    const previous = previousStatus?.phase;
    running.status = status;
    this.ctx.onObserverStatus?.(
      { cluster: this.cluster.name, resource: running.desired.plugin.plugin.name, namespace: running.desired.namespace },
      previousStatus,
      status,
    );
    const { namespace, plugin } = running.desired;
    const fields = {
      namespace: namespace ?? undefined,
      resource: plugin.plugin.name,
      phase: status.phase,
      reason: status.reason,
      retryInMs: status.retryInMs,
      failures: status.failures,
      objects: status.objects,
    };
    if ((status.goneAtRelist ?? 0) > 0) {
      this.log.info(
        { ...fields, gone: status.goneAtRelist, relists: status.relists },
        "relist: objects deleted while the watch was down leave the graph (the relist sweep)",
      );
    }
    if (previous === "not-served" && (status.phase === "listing" || status.phase === "watching")) {
      this.log.info({ ...fields, file: plugin.file }, "resource is served now: observing it");
    }
    switch (status.phase) {
      case "not-served":
        // Reported once per observer (with the plugin's file and the API path); the slow
        // retries that follow are at debug.
        if (previous === status.phase) this.log.debug(fields, "observer still not-served");
        else this.log.warn({ ...fields, file: plugin.file, api: apiPath(plugin.plugin.resource) }, "resource not served by the apiserver: %s", status.reason);
        break;
      case "forbidden":
      case "backing-off":
        // Warn when it starts; each further retry at debug, so a long outage does not
        // flood the log but stays visible.
        if (previous === status.phase) this.log.debug(fields, "observer still %s", status.phase);
        else this.log.warn(fields, "observer %s", status.phase);
        break;
      case "failed":
        this.log.error(fields, "observer failed");
        break;
      default:
        // Thousands of observers list and watch at start-up: one line each at debug;
        // the agent logs sync summaries at info.
        this.log.debug(fields, "observer %s", status.phase);
    }
  }

  private onObserverEnded(running: Running, handle: ObserverHandle, result: ObserverStatus | Error): void {
    if (running.handle !== handle) return;
    running.handle = undefined;
    const key = running.desired.key;
    if (running.stopping || this.closed || this.ctx.once) {
      if (this.ctx.once) running.final = result;
      if (result instanceof Error && !running.stopping) {
        this.log.error({ observer: key, err: result.message }, "observer ended with an error");
      }
      if (!this.ctx.once || running.stopping || this.closed) this.running.delete(key);
      running.markStopped();
      return;
    }
    // Not asked to stop: its thread died or it crashed. Start it again (it relists).
    const delay = running.backoff.next();
    this.log.error(
      { observer: key, err: result instanceof Error ? result.message : `ended in phase ${result.phase}`, restartInMs: delay },
      "observer ended unexpectedly; restarting it",
    );
    running.status = { phase: "backing-off", reason: "restarting", objects: 0, synced: false, relists: 0, watchRestarts: 0 };
    running.restartTimer = setTimeout(() => {
      running.restartTimer = undefined;
      if (!running.stopping && !this.closed) this.launch(running);
    }, delay);
  }

  private stopObserver(running: Running, reason: StopReason): void {
    if (running.stopping) return;
    running.stopping = reason;
    if (running.restartTimer) {
      clearTimeout(running.restartTimer);
      running.restartTimer = undefined;
    }
    if (running.handle) running.handle.stop(reason);
    else {
      this.running.delete(running.desired.key);
      running.markStopped();
    }
  }
}

function sameObserver(a: DesiredObserver, b: DesiredObserver): boolean {
  return (
    a.plugin.file === b.plugin.file &&
    a.plugin.version === b.plugin.version &&
    a.exclude.join(",") === b.exclude.join(",") &&
    a.sweepExcept.join(",") === b.sweepExcept.join(",")
  );
}
