// The back half of the agent: WAL -> dispatcher -> graph sink. Opened before the observers
// start, so that messages left in the WAL by a crash are replayed first. The agent owns
// what it writes: the WAL's lock is taken first (a second agent on the same WAL is refused
// before it touches anything), then the sink's (the embedded graph's file lock, or the
// writer registration in Neo4j). A damaged WAL or graph file is moved aside and replaced by
// a fresh one (core/storage/damaged-file.ts); replaced while running, the agent relists.
import type { BackoffConfig, Config } from "./config/model.js";
import { Dispatcher, type DispatcherMetrics } from "./dispatch/dispatcher.js";
import type { GraphSink } from "./graph/model.js";
import { combinedSchema, openSink, type SinkOverrides } from "./graph/open-sink.js";
import { SinkStartup } from "./graph/sink-startup.js";
import type { WriterIdentity } from "./graph/writer.js";
import { currentHolder } from "./lock/exclusive-file.js";
import type { Logger } from "./log/logger.js";
import type { LoadedPlugin } from "./plugin/registry.js";
import { Wal, type WalRecord } from "./wal/wal.js";
import { WalSink } from "./wal/wal-sink.js";
import { scopeCluster, scopeIsObserved, type ObservedScope } from "./supervisor/coverage.js";
import { timerDelay } from "./observer/backoff.js";
import type { StorageUnusableError } from "./storage/damaged-file.js";
import { SqliteGraphSink } from "./graph/sqlite-sink.js";
import { historyFile, historyInGraphFile } from "./history/paths.js";
import { HistoryTeeSink } from "./history/tee-sink.js";
import { coverageAt, HistoryKeeper, type KeeperMetrics } from "./history/keeper.js";
import { HistoryCopyThread, type HistoryCopyStats } from "./history/history-copy.js";

/** Where the history is kept: in the embedded graph's file (its keeper in this thread), or
 *  in a file of its own kept by a thread of its own (core/history/history-copy.ts). */
type HistoryPlace = { config: Config["history"]; metrics: KeeperMetrics } & ({ sink: SqliteGraphSink } | { thread: HistoryCopyThread });

/** The dispatcher's group-commit window: short against the observers' own batching
 *  (observer.batchMaxDelayMs, 50 ms), long enough to take several observers' batches. */
const GROUP_COMMIT_MS = 10;

/** Which of the agent's files was damaged. */
export type StoreKind = "wal" | "graph";

export interface PipelineHooks {
  /** A running agent: a sink that does not answer at start-up is waited for (the WAL
   *  buffers; not ready until it opens) instead of failing the start. */
  waitForSink?: boolean;
  /** The sink, answering at last, refused this agent (newer storage schema, another live
   *  writer, credentials): the agent must stop, with the error's exitCode (or 1). */
  onSinkRefused?: (error: Error) => void;
  /** A running agent: batches the WAL cannot take now are held and appended again. */
  retryAppends?: boolean;
  metrics?: DispatcherMetrics & KeeperMetrics & { walFailed(operation: "append"): void; corruptFileMovedAside?(store: StoreKind): void };
  /** A damaged WAL or graph file could not be replaced (damaged again): the agent must stop. */
  onStorageUnusable?: (error: StorageUnusableError) => void;
  /** Each committed batch (benchmarks). */
  onCommitted?: (records: readonly WalRecord[]) => void;
}

export class GraphPipeline {
  /** Opening the sink (init, writer registration), waited for by a running agent. */
  readonly startup: SinkStartup;
  /** Called when a damaged file was replaced while running: every observer must relist
   *  (the fresh file lacks what the old one held). Set by the composition root. */
  onStoreReplaced: (store: StoreKind) => void = () => undefined;
  /** Files replaced while running (a `run --once` with one is incomplete). */
  storesReplacedWhileRunning = 0;
  /** The scopes being watched now (the history's coverage); set by the composition root. */
  watchingScopes: () => string[] = () => [];
  /** Heartbeats and retention of the history, when it is kept. */
  readonly historyKeeper: { start(): void; stop(): void } | undefined;
  /** The history's thread, when it keeps a file of its own: ops its copy refused, entries
   *  left in its inbox at the stop. */
  readonly historyStats: HistoryCopyStats | undefined;

  private constructor(
    readonly wal: Wal,
    readonly sink: GraphSink,
    readonly dispatcher: Dispatcher,
    readonly input: WalSink,
    readonly writer: WriterIdentity,
    private readonly log: Logger,
    private plugins: ReadonlyMap<string, LoadedPlugin>,
    private clusters: readonly string[],
    backoff: BackoffConfig,
    history: HistoryPlace | undefined,
  ) {
    this.startup = new SinkStartup(() => this.openSinkOnce(), sink.kind, backoff, log);
    const coverage = (nowMs: number) => coverageAt(this.watchingScopes(), this.wal.status().oldestObservedAt, nowMs);
    if (history && "sink" in history) {
      const { sink: historySink } = history;
      this.historyKeeper = new HistoryKeeper(
        history.config,
        { target: () => (historySink.history ? { db: historySink.database, recorder: historySink.history } : undefined), coverage },
        log,
        history.metrics,
      );
    } else if (history) {
      this.historyKeeper = history.thread.keeper(history.config, () => coverage(Date.now()));
      this.historyStats = history.thread.stats;
    }
  }

  static async open(
    config: Config,
    plugins: ReadonlyMap<string, LoadedPlugin>,
    log: Logger,
    overrides: SinkOverrides = {},
    hooks: PipelineHooks = {},
  ): Promise<GraphPipeline> {
    // A replacement before the pipeline exists needs no relist: the agent has not started.
    let pipeline: GraphPipeline | undefined;
    const recovery = (store: StoreKind) => ({
      log,
      onMovedAside: () => hooks.metrics?.corruptFileMovedAside?.(store),
      onReplaced: () => pipeline?.storeReplaced(store),
      onUnusable: (error: StorageUnusableError) => hooks.onStorageUnusable?.(error),
    });
    // The history records every change: none may be coalesced away in the WAL.
    const wal = new Wal(config.wal.path, { recovery: recovery("wal"), coalesce: !config.history.enabled });
    let sink: GraphSink | undefined;
    try {
      // The history: in the embedded graph's own transactions, or in a file of its own
      // (with a copy of the current graph) applied after the sink (core/history/).
      const kind = overrides.kind ?? config.sink.kind;
      const historyAt = historyFile(config, kind);
      const inGraph = historyInGraphFile(config, kind);
      sink = await openSink(config.sink, { log, ...overrides, recovery: recovery("graph"), ...(inGraph ? { history: true } : {}) });
      let history: HistoryPlace | undefined;
      const keeping = { config: config.history, metrics: hooks.metrics ?? {} };
      if (inGraph) history = { ...keeping, sink: sink as SqliteGraphSink };
      else if (historyAt !== null) {
        const { log: _, ...graphRecovery } = recovery("graph");
        const thread = await HistoryCopyThread.open(historyAt, { log, recovery: graphRecovery, metrics: keeping.metrics });
        history = { ...keeping, thread };
        sink = new HistoryTeeSink(sink, thread);
      }
      if (historyAt !== null)
        log.info({ history: historyAt, retentionDays: config.history.retentionDays, maxBytes: config.history.maxBytes }, "keeping the graph's history");
      const replay = wal.status();
      if (replay.depth > 0) log.info({ messages: replay.depth, wal: wal.path }, "replaying messages left in the WAL");
      const dispatcher = new Dispatcher(wal, sink, plugins, log, {
        batchSize: 2_000,
        groupCommitMs: GROUP_COMMIT_MS,
        backoff: config.observer.backoff,
        pluginBudgetMs: config.pluginBudgetMs,
        ...(hooks.metrics ? { metrics: hooks.metrics } : {}),
        ...(hooks.onCommitted ? { onCommitted: hooks.onCommitted } : {}),
      });
      const metrics = hooks.metrics;
      const input = new WalSink(wal, dispatcher, config.wal.maxBytes, log, {
        retry: hooks.retryAppends ?? false,
        backoff: config.observer.backoff,
        ...(metrics ? { onAppendFailed: () => metrics.walFailed("append") } : {}),
      });
      const writer: WriterIdentity = { ...currentHolder(), id: wal.id! };
      pipeline = new GraphPipeline(
        wal,
        sink,
        dispatcher,
        input,
        writer,
        log,
        plugins,
        config.clusters.map((c) => c.name),
        config.observer.backoff,
        history,
      );
      // The dispatcher starts once the sink is open (schema checked, writer registered):
      // now, or, for a running agent whose sink does not answer yet, when it does.
      await pipeline.startup.open(hooks.waitForSink ?? false, (error) => hooks.onSinkRefused?.(error));
      return pipeline;
    } catch (error) {
      await sink?.close().catch(() => undefined);
      wal.close();
      throw error;
    }
  }

  /** Why the pipeline cannot deliver now (for /readyz): the sink is not open, the WAL
   *  does not take writes. Empty when it can. */
  problems(): string[] {
    const problems: string[] = [];
    const sink = this.startup.problem();
    if (sink) problems.push(sink);
    const failing = this.input.appendFailing;
    if (failing) {
      problems.push(`WAL appends fail since ${new Date(failing.since).toISOString()} (${failing.error}); ${failing.held} batch(es) held, observers paused`);
    }
    return problems;
  }

  /** Init and writer registration with the current plugins and clusters; then delivery starts. */
  private async openSinkOnce(): Promise<void> {
    // Again if a reload changed the plugins or clusters meanwhile: every label is declared
    // and every cluster registered before anything is applied.
    for (let plugins: ReadonlyMap<string, LoadedPlugin> | undefined; plugins !== this.plugins; ) {
      plugins = this.plugins;
      await this.sink.init(combinedSchema(plugins.values()));
    }
    for (let clusters: readonly string[] | undefined; clusters !== this.clusters; ) {
      clusters = this.clusters;
      await this.sink.registerWriter?.(clusters, this.writer);
    }
    this.dispatcher.start();
    this.historyKeeper?.start();
    this.log.info({ sink: this.sink.kind, wal: this.wal.path, writer: this.writer.id }, "graph pipeline started");
  }

  private storeReplaced(store: StoreKind): void {
    this.storesReplacedWhileRunning += 1;
    // Observers held back by a full WAL go on: the fresh one is empty.
    if (store === "wal") this.dispatcher.onProgress();
    this.onStoreReplaced(store);
  }

  setPlugins(plugins: ReadonlyMap<string, LoadedPlugin>, pluginBudgetMs?: number): void {
    this.plugins = plugins;
    this.dispatcher.setPlugins(plugins, pluginBudgetMs);
    // Not open yet: the opening init uses these plugins.
    if (this.startup.state.kind !== "open") return;
    void this.sink
      .init(combinedSchema(plugins.values()))
      .catch((error: unknown) => this.log.error({ err: (error as Error).message }, "graph sink schema update failed"));
  }

  /** The clusters of a new config: registered as this agent's before they are observed
   *  (throws WriterConflictError when another live agent writes one of them). */
  async registerClusters(clusters: readonly string[]): Promise<void> {
    this.clusters = clusters;
    // Not open yet: the opening registration takes these clusters.
    if (this.startup.state.kind !== "open") return;
    await this.sink.registerWriter?.(clusters, this.writer);
  }

  /**
   * Sweeps the scopes this agent wrote earlier that no observer covers now: their actor or
   * cluster left the config while the agent was down (a removal at runtime is handled by
   * the observer that stops). Called once every observer has listed, and after what the
   * WAL held has been delivered, so that nothing replayed brings a swept scope back.
   */
  async sweepVanished(observed: { clusters: readonly string[]; scopes: readonly ObservedScope[] }): Promise<string[]> {
    // A sink still waited for: after it opens and has taken what the WAL holds.
    if (!(await this.startup.ready)) throw new Error(`the graph sink did not open: ${this.startup.problem() ?? "stopped"}`);
    await Promise.race([this.dispatcher.idle(), new Promise((r) => setTimeout(r, 60_000).unref())]);
    const vanished = this.wal.writtenScopes().filter((scope) => !observed.clusters.includes(scopeCluster(scope)) || !scopeIsObserved(scope, observed.scopes));
    if (vanished.length === 0) return [];
    await this.sink.apply(vanished.map((scope) => ({ op: "sweep" as const, scope, present: [] })));
    this.wal.forgetScopes(vanished);
    this.log.info(
      { scopes: vanished.length, examples: vanished.slice(0, 5) },
      "swept graph scopes no longer observed (their actor or cluster left the config while the agent was down)",
    );
    return vanished;
  }

  /** Delivers what the WAL holds (up to graceMs), then closes; the rest waits in the WAL.
   *  Returns how many messages stay in the WAL. */
  async close(graceMs: number): Promise<number> {
    const open = this.startup.state.kind === "open";
    const why = this.startup.problem();
    this.startup.stop();
    this.input.stopRetrying();
    // A sink that never opened has nothing delivering: no grace period to wait out.
    const drained =
      open &&
      (await Promise.race([this.dispatcher.idle().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timerDelay(graceMs)).unref())]));
    await this.dispatcher.stop();
    if (open) this.historyKeeper?.stop();
    const left = this.wal.status().depth;
    if (!open) this.log.warn({ pending: left, reason: why }, "stopping before the graph sink opened: the WAL keeps what was observed for the next start");
    else if (!drained) this.log.warn({ pending: left }, "shutdown grace period over: the rest stays in the WAL for the next start");
    await this.sink.close();
    this.wal.close();
    return left;
  }
}
