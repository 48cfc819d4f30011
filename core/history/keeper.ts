// Keeps the history's evidence and size while the agent runs: a heartbeat that extends the
// coverage of the scopes being watched up to when nothing observed is waiting outside the
// history, and retention, which prunes ended versions in small transactions between the
// dispatcher's batches (a chunk is milliseconds; the dispatcher never waits long on it).
import type Database from "better-sqlite3";
import type { HistoryConfig } from "../config/model.js";
import type { HistoryRecorder } from "./recorder.js";
import { historyBytes } from "./reader.js";
import { readMeta, writeMeta } from "./schema.js";

export const HEARTBEAT_MS = 10_000;
/** How soon a heartbeat that met an open batch transaction tries again. */
const HEARTBEAT_RETRY_MS = 200;
const PRUNE_EVERY_MS = 60_000;
/** Rows per pruning transaction. */
const PRUNE_CHUNK = 2_000;
/** How often the bytes the history takes are measured (dbstat reads every page). */
const MEASURE_EVERY_MS = 10 * 60_000;

export interface HistoryTarget {
  db: Database.Database;
  recorder: HistoryRecorder;
}

/** What the keeper reports (core/ops/metrics.ts). */
/** What of the history failed: its heartbeat, pruning, recording a batch from its inbox
 *  (retried), or an op its copy refused that the graph took (missing from the history). */
export type HistoryFailure = "heartbeat" | "prune" | "record" | "refused";

export interface KeeperMetrics {
  historyFailed?(operation: HistoryFailure): void;
  historyPruned?(versions: number): void;
}

/** What a heartbeat extends: the scopes being watched, up to when everything observed is
 *  in the history. */
export interface Coverage {
  watching: string[];
  completeTo: number;
}

export interface KeeperSources {
  /** The history's database and recorder now (a damaged file replaced: new ones). */
  target(): HistoryTarget | undefined;
  /** The coverage at `nowMs` (undefined: nothing to extend). In the history's own thread
   *  (history-copy.ts), the one the agent sent last, computed when it was sent. */
  coverage(nowMs: number): Coverage | undefined;
}

/** Up to now, or to just before the oldest message still on its way (`oldestPending`, its
 *  observedAt, null when none): what was observed before it is in the history. */
export function coverageAt(watching: string[], oldestPending: string | null, nowMs: number): Coverage | undefined {
  const completeTo = oldestPending === null ? nowMs : Math.min(nowMs, Date.parse(oldestPending) - 1);
  return Number.isFinite(completeTo) ? { watching, completeTo } : undefined;
}

export interface PruneResult {
  nodeVersions: number;
  edgeVersions: number;
  coverage: number;
}

/** Deletes up to `limit` rows of versions that ended before `beforeMs`, and coverage
 *  intervals that did; records how far back the history is pruned. */
export function pruneChunk(db: Database.Database, beforeMs: number, limit = PRUNE_CHUNK): PruneResult {
  return db.transaction(() => {
    const del = (table: string) =>
      db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE to_ms IS NOT NULL AND to_ms < ? ORDER BY to_ms LIMIT ?)`).run(beforeMs, limit)
        .changes;
    const result = { nodeVersions: del("history_nodes"), edgeVersions: del("history_edges"), coverage: del("history_coverage") };
    const before = Number(readMeta(db, "pruned_before_ms") ?? 0);
    if (result.nodeVersions + result.edgeVersions + result.coverage > 0 && beforeMs > before) writeMeta(db, "pruned_before_ms", String(beforeMs));
    return result;
  })();
}

/** The end time below which the oldest `count` ended versions lie (a bytes limit prunes
 *  by time too, so the history stays complete from some moment on). */
function cutoffForOldest(db: Database.Database, count: number): number | undefined {
  const row = db.prepare<[number], { to_ms: number }>("SELECT to_ms FROM history_nodes WHERE to_ms IS NOT NULL ORDER BY to_ms LIMIT 1 OFFSET ?").get(count);
  const edge = db.prepare<[number], { to_ms: number }>("SELECT to_ms FROM history_edges WHERE to_ms IS NOT NULL ORDER BY to_ms LIMIT 1 OFFSET ?").get(count);
  const candidates = [row?.to_ms, edge?.to_ms].filter((v): v is number => v !== undefined);
  return candidates.length === 0 ? undefined : Math.min(...candidates) + 1;
}

export class HistoryKeeper {
  private started = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning = false;
  private measuredAt = 0;
  /** While over maxBytes: the end time below which enough of the oldest versions lie. */
  private bytesCutoff: number | undefined;

  constructor(
    private readonly config: HistoryConfig,
    private readonly sources: KeeperSources,
    private readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void },
    private readonly metrics: KeeperMetrics = {},
  ) {}

  /** Heartbeats every HEARTBEAT_MS, or, with `ownHeartbeat` false, when told (the history's
   *  thread heartbeats when the agent sends the coverage). */
  start(ownHeartbeat = true): void {
    if (this.started) return;
    this.started = true;
    if (ownHeartbeat) this.heartbeatTimer = setInterval(() => this.heartbeat(), HEARTBEAT_MS).unref();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref();
    void this.prune();
  }

  /** A last heartbeat (a clean stop leaves the coverage up to date), then no more. */
  stop(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.pruneTimer);
    this.heartbeatTimer = undefined;
    this.started = false;
    this.heartbeat();
  }

  /** Extends the watched scopes' coverage up to now, or to just before the oldest message
   *  still on its way (what was observed before it is in the history). */
  heartbeat(nowMs = Date.now()): void {
    const target = this.sources.target();
    if (!target) return;
    // A batch's transaction is open (the history waits for Neo4j's commit): again shortly,
    // not a whole period later (with Neo4j a batch is open most of the time under load).
    if (target.db.inTransaction) {
      if (this.started && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (this.started) this.heartbeat();
        }, HEARTBEAT_RETRY_MS).unref();
      }
      return;
    }
    try {
      const coverage = this.sources.coverage(nowMs);
      if (coverage) target.recorder.heartbeat(coverage.watching, coverage.completeTo);
    } catch (error) {
      this.metrics.historyFailed?.("heartbeat");
      this.log.warn({ err: (error as Error).message }, "history: could not extend the coverage (the history shows a gap there)");
    }
  }

  /** Prunes what retention says, a chunk at a time, yielding between chunks. */
  async prune(nowMs = Date.now()): Promise<number> {
    if (this.pruning) return 0;
    this.pruning = true;
    let total = 0;
    try {
      for (;;) {
        const target = this.sources.target();
        if (!target || target.db.inTransaction) break;
        const cutoff = this.cutoff(target.db, nowMs);
        if (cutoff === undefined) break;
        const removed = pruneChunk(target.db, cutoff);
        const n = removed.nodeVersions + removed.edgeVersions + removed.coverage;
        total += n;
        if (n === 0) {
          this.bytesCutoff = undefined;
          break;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (total > 0) {
        this.metrics.historyPruned?.(total);
        this.log.info({ rows: total, retentionDays: this.config.retentionDays, maxBytes: this.config.maxBytes }, "history: pruned versions past retention");
      }
    } catch (error) {
      this.metrics.historyFailed?.("prune");
      this.log.warn({ err: (error as Error).message }, "history: pruning failed; will try again");
    } finally {
      this.pruning = false;
    }
    return total;
  }

  /** Versions that ended before this go: past retentionDays, or, while the history takes
   *  more than maxBytes, the oldest chunk. */
  private cutoff(db: Database.Database, nowMs: number): number | undefined {
    const byAge = this.config.retentionDays > 0 ? nowMs - this.config.retentionDays * 86_400_000 : undefined;
    if (this.config.maxBytes > 0 && nowMs - this.measuredAt >= MEASURE_EVERY_MS) {
      this.measuredAt = nowMs;
      const bytes = historyBytes(db);
      if (bytes > this.config.maxBytes) {
        // Enough of the oldest versions to get a tenth under the limit, at the average row size.
        const rows = db.prepare<[], { n: number }>("SELECT (SELECT count(*) FROM history_nodes) + (SELECT count(*) FROM history_edges) AS n").get()!.n;
        const excess = bytes - this.config.maxBytes * 0.9;
        this.bytesCutoff = cutoffForOldest(db, Math.max(1, Math.ceil(((excess / bytes) * rows) / 2)));
        this.log.warn({ bytes, maxBytes: this.config.maxBytes }, "history: over its size limit; pruning the oldest versions");
      }
    }
    const byBytes = this.bytesCutoff;
    if (byAge === undefined) return byBytes;
    return byBytes === undefined ? byAge : Math.max(byAge, byBytes);
  }
}
