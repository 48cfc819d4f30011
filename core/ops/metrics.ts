// The agent's Prometheus metrics (prom-client), served on /metrics by `run --listen`.
// Counters are fed where things happen (delivered batches, observer status changes, sink
// commits); gauges that are cheap to read (WAL depth, observers per phase) are read at
// scrape time, so an idle agent does no metrics work between scrapes.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { HistoryFailure } from "../history/keeper.js";
import type { KubeMessage } from "../messages.js";
import type { ObserverPhase, ObserverStatus } from "../observer/observer.js";

export interface ObserverIdentity {
  cluster: string;
  resource: string;
}

/** What /metrics reads at scrape time. */
export interface MetricsSources {
  /** Observers per phase over every cluster. */
  phases?: () => Partial<Record<ObserverPhase, number>>;
  /** WAL depth and the age of its oldest un-acknowledged message. */
  wal?: () => { depth: number; bytes: number; oldestObservedAt: string | null; parked: number };
  /** 1 once the initial sync has completed. */
  synced?: () => boolean;
  /** Whether WAL appends fail now (batches held, observers paused). */
  walAppendFailing?: () => boolean;
  /** Whether the graph sink is open (false while a sink down at start-up is waited for). */
  sinkOpen?: () => boolean;
}

const PHASES: ObserverPhase[] = ["starting", "listing", "watching", "backing-off", "forbidden", "not-served", "stopped", "failed"];

export class AgentMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources = {};

  private readonly messages = new Counter({
    name: "kube_observer_messages_total",
    help: "Messages delivered by observers, by cluster, resource and action (Applied, Deleted, Restarted = a complete list)",
    labelNames: ["cluster", "resource", "action"] as const,
    registers: [this.registry],
  });
  private readonly relists = new Counter({
    name: "kube_observer_relists_total",
    help: "LISTs an observer had to make again after its first (expired resourceVersion, restarts)",
    labelNames: ["cluster", "resource"] as const,
    registers: [this.registry],
  });
  private readonly watchRestarts = new Counter({
    name: "kube_observer_watch_restarts_total",
    help: "WATCH requests re-opened from the last resourceVersion without a LIST",
    labelNames: ["cluster", "resource"] as const,
    registers: [this.registry],
  });
  private readonly skipped = new Counter({
    name: "kube_observer_objects_skipped_total",
    help: "Objects left out of the graph because they could not be read within the agent's bounds (reason too-large: over observer.maxObjectBytes)",
    labelNames: ["cluster", "resource", "reason"] as const,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: "kube_observer_errors_total",
    help: "Errors by where they happened (observer, sink, plugin, wal) and kind (e.g. forbidden, network, not-found, expired)",
    labelNames: ["where", "kind"] as const,
    registers: [this.registry],
  });
  private readonly sinkBatch = new Histogram({
    name: "kube_observer_sink_batch_seconds",
    help: "Time to commit one batch to the graph sink (one transaction), successful or not",
    labelNames: ["sink", "outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly overruns = new Counter({
    name: "kube_observer_plugin_budget_exceeded_total",
    help: 'Objects whose plugin\'s toGraph ran past pluginBudgetMs and was interrupted (each message parked; also in errors_total{where="plugin"})',
    labelNames: ["plugin"] as const,
    registers: [this.registry],
  });
  private readonly sinkMessages = new Counter({
    name: "kube_observer_sink_messages_total",
    help: "Messages committed to the graph sink (or parked when their plugin could not translate them or the sink refused them)",
    labelNames: ["sink", "outcome"] as const,
    registers: [this.registry],
  });

  private readonly historyPrunedVersions = new Counter({
    name: "kube_observer_history_pruned_versions_total",
    help: "Ended versions of nodes and edges (and coverage intervals) the history's retention pruned (history.retentionDays, history.maxBytes)",
    registers: [this.registry],
  });
  private readonly corruptFiles = new Counter({
    name: "kube_observer_corrupt_files_total",
    help: "Damaged SQLite files (store wal or graph) moved aside to <file>.corrupt-<time> and replaced by a fresh one, at start-up or while running (the error log names the copy)",
    labelNames: ["store"] as const,
    registers: [this.registry],
  });

  constructor() {
    // Present at 0 from the start, so that an alert on its increase sees the first one.
    for (const store of ["wal", "graph"]) this.corruptFiles.inc({ store }, 0);
    collectDefaultMetrics({ register: this.registry, prefix: "kube_observer_" });
    const self = this;
    new Gauge({
      name: "kube_observer_observers",
      help: "Observers (one per resource and namespace) by phase",
      labelNames: ["phase"] as const,
      registers: [this.registry],
      collect() {
        const counts = self.sources.phases?.() ?? {};
        for (const phase of PHASES) this.set({ phase }, counts[phase] ?? 0);
      },
    });
    const wal = () => this.sources.wal?.();
    this.gauge("kube_observer_wal_depth", "Messages in the WAL not yet committed to the sink", () => wal()?.depth ?? 0);
    this.gauge("kube_observer_wal_bytes", "Bytes of the messages in the WAL not yet committed to the sink", () => wal()?.bytes ?? 0);
    this.gauge(
      "kube_observer_wal_oldest_unacked_seconds",
      "Age of the oldest message in the WAL not yet committed (0 when empty): how far the graph lags",
      () => {
        const oldest = wal()?.oldestObservedAt;
        const age = oldest ? (Date.now() - Date.parse(oldest)) / 1000 : 0;
        return Number.isFinite(age) ? Math.max(0, age) : 0;
      },
    );
    this.gauge(
      "kube_observer_wal_parked",
      "Messages parked because their plugin could not translate them or the sink refused them (see `kube-observer wal status`; `wal replay` re-delivers them, `wal drop` discards them)",
      () => wal()?.parked ?? 0,
    );
    this.gauge(
      "kube_observer_wal_append_failing",
      "1 while appends to the WAL fail (disk full, I/O error, file size limit): batches are held and retried, observers pause",
      () => (this.sources.walAppendFailing?.() ? 1 : 0),
    );
    this.gauge(
      "kube_observer_sink_open",
      "1 once the graph sink is open (0 while a sink that did not answer at start-up is waited for; the WAL buffers)",
      () => (this.sources.sinkOpen === undefined || this.sources.sinkOpen() ? 1 : 0),
    );
    this.gauge("kube_observer_initial_sync_complete", "1 once every observer has delivered its first complete list", () => (this.sources.synced?.() ? 1 : 0));
  }

  /** A gauge without labels, read at scrape time. */
  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  setSources(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  delivered(messages: readonly KubeMessage[]): void {
    for (const m of messages) this.messages.inc({ cluster: m.cluster, resource: m.resource, action: m.action });
  }

  /** An observer reported a status: counts what changed since its previous one. */
  observerStatus(observer: ObserverIdentity, previous: ObserverStatus | undefined, next: ObserverStatus): void {
    const labels = { cluster: observer.cluster, resource: observer.resource };
    const relists = next.relists - (previous?.relists ?? 0);
    const restarts = next.watchRestarts - (previous?.watchRestarts ?? 0);
    if (relists > 0) this.relists.inc(labels, relists);
    if (restarts > 0) this.watchRestarts.inc(labels, restarts);
    const failed = next.phase === "backing-off" || next.phase === "forbidden" || next.phase === "not-served" || next.phase === "failed";
    // Every retry reports a status with a new failure count: one error per attempt.
    if (failed && (next.phase !== previous?.phase || (next.failures ?? 0) !== (previous?.failures ?? 0))) {
      this.errors.inc({ where: "observer", kind: next.errorKind ?? next.phase });
    }
  }

  /** Part of the history failed (logged where it happened; retried, or, "refused", a
   *  change missing from the history). */
  historyFailed(operation: HistoryFailure): void {
    this.errors.inc({ where: "history", kind: operation });
  }

  historyPruned(versions: number): void {
    this.historyPrunedVersions.inc(versions);
  }

  corruptFileMovedAside(store: "wal" | "graph"): void {
    this.corruptFiles.inc({ store });
  }

  objectSkipped(observer: ObserverIdentity, reason: "too-large"): void {
    this.skipped.inc({ cluster: observer.cluster, resource: observer.resource, reason });
  }

  sinkCommitted(sink: string, seconds: number, messages: number): void {
    this.sinkBatch.observe({ sink, outcome: "committed" }, seconds);
    this.sinkMessages.inc({ sink, outcome: "committed" }, messages);
  }

  sinkFailed(sink: string, seconds: number): void {
    this.sinkBatch.observe({ sink, outcome: "failed" }, seconds);
    this.errors.inc({ where: "sink", kind: sink });
  }

  /** A WAL operation failed (append by the observers' side; read, park, ack by the
   *  dispatcher's). Each is logged where it happens. */
  walFailed(operation: "append" | "read" | "park" | "ack"): void {
    this.errors.inc({ where: "wal", kind: operation });
  }

  /** An error no part of the agent handled (errors_total{where="process"}); or one its
   *  dispatcher caught at the top of its loop (where="dispatcher"). */
  processError(kind: "unhandled-rejection"): void {
    this.errors.inc({ where: "process", kind });
  }

  dispatcherFailed(): void {
    this.errors.inc({ where: "dispatcher", kind: "unexpected" });
  }

  /** The sink refused a batch for its rows; the dispatcher splits it to find them. */
  sinkRefused(sink: string, seconds: number): void {
    this.sinkBatch.observe({ sink, outcome: "refused" }, seconds);
  }

  /** A message parked: its plugin could not translate it (errors_total{where="plugin"}),
   *  or the sink refused it (errors_total{where="sink-refused"}, kind = the plugin). */
  parked(sink: string, plugin: string, cause: "plugin" | "sink" = "plugin"): void {
    this.sinkMessages.inc({ sink, outcome: "parked" });
    this.errors.inc({ where: cause === "sink" ? "sink-refused" : "plugin", kind: plugin });
  }

  /** A plugin's toGraph ran past its time budget on one object (parked() counts the park). */
  pluginOverrun(plugin: string): void {
    this.overruns.inc({ plugin });
  }

  async text(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
