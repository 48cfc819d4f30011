// The audit inside `run --audit`: after the sink commits a batch, the rules run again over
// the audit's copy of the graph, brought up to date by reading only what the batch's
// objects touch (GraphSink.neighbourhood; the first time, after a relist or a failed read:
// one whole read). Each finding that appears or clears is logged with the change that
// caused it; kube_observer_findings{rule,severity} holds the counts. Evaluations never
// overlap, and the next waits at least four times as long as they take (smoothed, whole
// reads aside), so the audit takes at most a fifth of the agent's time however large the graph.
// Write to finding at tier S: bench/results/audit-latency-S-*.md.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { objectKey } from "../../graph/keys.js";
import { storedKey } from "../../graph/limits.js";
import type { GraphSink } from "../../graph/model.js";
import type { Logger } from "../../log/logger.js";
import type { WalRecord } from "../../wal/wal.js";
import { runAudit } from "./audit.js";
import type { AuditOptions, AuditRule } from "./model.js";
import { step } from "./model.js";
import { FindingTracker, type FindingChange } from "./tracker.js";
import { readView, type AuditMirror } from "./view.js";

/** More changed objects than this in one evaluation: one whole read is cheaper. */
const MAX_REFRESH_KEYS = 2_000;

export interface LiveAuditSetup {
  sink: GraphSink;
  /** Per cluster, the audit's options (what the config observes there). */
  clusters: ReadonlyMap<string, AuditOptions>;
  rules: readonly AuditRule[];
  log: Logger;
  registry?: Registry;
  /** The graph label of a resource plugin's objects (messages name the plugin). */
  labelOf(resource: string): string | undefined;
  /** Each finding change (tests, `audit --watch`). */
  onChange?(change: FindingChange): void;
  minIntervalMs?: number;
}

export class LiveAudit {
  private readonly trackers = new Map<string, FindingTracker>();
  /** Per cluster, the copy of the graph the rules read, kept current change by change. */
  private readonly mirrors = new Map<string, AuditMirror>();
  private pending = new Map<string, string>();
  private dirty = false;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** What evaluations cost, smoothed (one slow one, a GC pause, must not hold back the next
   *  change), less any whole read (the first, after a relist), which is not the usual cost. */
  private costMs = 0;
  private wholeReadMs = 0;
  private failures = 0;
  private initial = true;
  private armed = false;
  private stopped = false;
  private readonly gauge?: Gauge<"rule" | "severity">;
  private readonly runs?: Counter<"result">;
  private readonly duration?: Histogram;

  private clusters: ReadonlyMap<string, AuditOptions>;

  constructor(private readonly setup: LiveAuditSetup) {
    this.clusters = setup.clusters;
    for (const cluster of setup.clusters.keys()) this.trackers.set(cluster, new FindingTracker());
    if (setup.registry) {
      this.gauge = new Gauge({
        name: "kube_observer_findings",
        help: "Audit findings in the graph now, by rule and severity (run --audit)",
        labelNames: ["rule", "severity"] as const,
        registers: [setup.registry],
      });
      this.runs = new Counter({
        name: "kube_observer_audit_runs_total",
        help: "Audit evaluations, by result (ok, failed)",
        labelNames: ["result"] as const,
        registers: [setup.registry],
      });
      this.duration = new Histogram({
        name: "kube_observer_audit_duration_seconds",
        help: "Time to read the audited part of the graph and run every rule",
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [setup.registry],
      });
    }
  }

  /** A committed batch: remember what changed, and evaluate soon. Before start() (the
   *  initial sync), nothing: the first evaluation reads everything anyway. */
  committed(records: readonly WalRecord[]): void {
    if (!this.armed) return;
    for (const { message: m } of records) {
      if (!this.clusters.has(m.cluster)) continue;
      const label = this.setup.labelOf(m.resource);
      if (m.action === "Restarted" || !label || !m.name) {
        this.pending.set(
          `${m.cluster}\u0000relist\u0000${m.resource}\u0000${m.namespace ?? ""}`,
          `relist of ${m.resource}${m.namespace ? ` in ${m.namespace}` : ""}`,
        );
        continue;
      }
      const key = storedKey(objectKey(m.cluster, m.objectNamespace, label, m.name));
      this.pending.set(key, `${m.action} ${m.kind} ${m.objectNamespace ? `${m.objectNamespace}/` : ""}${m.name} (resourceVersion ${m.resourceVersion})`);
    }
    this.dirty = true;
    this.schedule();
  }

  /** After the initial sync: the findings there are, as a summary; then each change. */
  async start(): Promise<void> {
    this.armed = true;
    await this.evaluateNow();
  }

  /** The clusters (and what the config observes in each) after a config reload. */
  reconfigure(clusters: ReadonlyMap<string, AuditOptions>): void {
    this.clusters = clusters;
    this.mirrors.clear();
    for (const cluster of clusters.keys()) if (!this.trackers.has(cluster)) this.trackers.set(cluster, new FindingTracker());
    for (const cluster of [...this.trackers.keys()]) if (!clusters.has(cluster)) this.trackers.delete(cluster);
    this.dirty = true;
    this.schedule();
  }

  async evaluateNow(): Promise<void> {
    this.dirty = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.evaluate();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped || !this.armed || this.timer || this.running) return;
    // After a failed read, back off (1 s, doubling, at most 30 s).
    const backoff = this.failures > 0 ? Math.min(30_000, 1000 * 2 ** (this.failures - 1)) : 0;
    const wait = Math.max(this.setup.minIntervalMs ?? 50, this.costMs * 4, backoff);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.evaluate();
    }, wait);
    this.timer.unref();
  }

  /** The cluster's copy, refreshed by what changed; read whole the first time, after a
   *  relist (its deletions are not named one by one) or after a failed read. */
  private async currentView(cluster: string, changes: ReadonlyMap<string, string>): Promise<AuditMirror> {
    const mirror = this.mirrors.get(cluster);
    const keys = [...changes.keys()].filter((k) => k.startsWith(`${cluster}/`));
    const relisted = [...changes.keys()].some((k) => k.startsWith(`${cluster}\u0000relist`));
    if (mirror && !relisted && keys.length <= MAX_REFRESH_KEYS) {
      if (keys.length > 0) mirror.refresh(keys, await this.setup.sink.neighbourhood(keys));
      return mirror;
    }
    this.mirrors.delete(cluster);
    const started = performance.now();
    const fresh = await readView(this.setup.sink, cluster, this.setup.rules);
    this.wholeReadMs += performance.now() - started;
    this.mirrors.set(cluster, fresh);
    return fresh;
  }

  private async evaluate(): Promise<void> {
    if (this.stopped || !this.dirty || this.running) return;
    this.dirty = false;
    const changes = this.pending;
    this.pending = new Map();
    this.running = this.evaluateClusters(changes).finally(() => {
      this.running = null;
      if (this.dirty) this.schedule();
    });
    await this.running;
  }

  private async evaluateClusters(changes: Map<string, string>): Promise<void> {
    const started = performance.now();
    this.wholeReadMs = 0;
    try {
      for (const [cluster, options] of this.clusters) {
        const view = await this.currentView(cluster, changes);
        const result = runAudit(view, this.setup.rules, options);
        for (const failed of result.failedRules) this.setup.log.error({ rule: failed.rule, err: failed.error }, "audit rule failed");
        const tracker = this.trackers.get(cluster)!;
        const found = tracker.update(result.findings, changes);
        if (this.initial) {
          // What is there at start is a summary, not a stream of "appeared" lines.
          const counts = Object.fromEntries([...tracker.counts().values()].map((c) => [c.rule, c.count]));
          this.setup.log.info({ cluster, findings: result.findings.length, byRule: counts }, "audit: findings in the graph at start");
        }
        for (const change of found) {
          const f = change.finding;
          if (!this.initial)
            this.setup.log.info(
              {
                cluster,
                rule: f.rule,
                severity: f.severity,
                object: step(f.object),
                path: f.path.join(" "),
                cause: change.cause,
                ...(change.others.length ? { changes: change.others } : {}),
              },
              `finding ${change.change}: ${f.message}`,
            );
          this.setup.onChange?.(change);
        }
      }
      this.initial = false;
      this.failures = 0;
      this.gauge?.reset();
      for (const tracker of this.trackers.values()) for (const c of tracker.counts().values()) this.gauge?.inc({ rule: c.rule, severity: c.severity }, c.count);
      this.runs?.inc({ result: "ok" });
    } catch (error) {
      // The graph could not be read (e.g. Neo4j down): what changed is kept for the next try.
      for (const [k, v] of changes) if (!this.pending.has(k)) this.pending.set(k, v);
      this.dirty = true;
      this.failures++;
      this.mirrors.clear();
      this.runs?.inc({ result: "failed" });
      this.setup.log.warn({ err: error instanceof Error ? error.message : String(error) }, "audit could not read the graph; will retry");
    } finally {
      const took = performance.now() - started;
      this.costMs = this.costMs === 0 ? took - this.wholeReadMs : 0.8 * this.costMs + 0.2 * (took - this.wholeReadMs);
      this.setup.log.debug({ ms: Math.round(took), wholeReadMs: Math.round(this.wholeReadMs), changes: changes.size }, "audit evaluated");
      this.duration?.observe(took / 1000);
    }
  }
}
