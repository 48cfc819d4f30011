// The back half of the agent: WAL -> dispatcher -> graph sink. Opened before the observers
// start, so that messages left in the WAL by a crash are replayed first. The agent owns
// what it writes: the WAL's lock is taken first (a second agent on the same WAL is refused
// before it touches anything), then the sink's (the embedded graph's file lock, or the
// writer registration in Neo4j). A damaged WAL or graph file is moved aside and replaced by
// a fresh one (core/storage/damaged-file.ts); replaced while running, the agent relists.
import type { Config } from "./config/model.js";
import { Dispatcher, type DispatcherMetrics } from "./dispatch/dispatcher.js";
import type { GraphSink } from "./graph/model.js";
import { combinedSchema, openSink, type SinkOverrides } from "./graph/open-sink.js";
import type { WriterIdentity } from "./graph/writer.js";
import { currentHolder } from "./lock/exclusive-file.js";
import type { Logger } from "./log/logger.js";
import type { LoadedPlugin } from "./plugin/registry.js";
import { Wal, type WalRecord } from "./wal/wal.js";
import { WalSink } from "./wal/wal-sink.js";
import { scopeCluster, scopeIsObserved, type ObservedScope } from "./supervisor/coverage.js";
import type { StorageUnusableError } from "./storage/damaged-file.js";

/** The dispatcher's group-commit window: short against the observers' own batching
 *  (observer.batchMaxDelayMs, 50 ms), long enough to take several observers' batches. */
const GROUP_COMMIT_MS = 10;

/** Which of the agent's files was damaged. */
export type StoreKind = "wal" | "graph";

export interface PipelineHooks {
  metrics?: DispatcherMetrics & { walFailed(operation: "append"): void; corruptFileMovedAside?(store: StoreKind): void };
  /** A damaged WAL or graph file could not be replaced (damaged again): the agent must stop. */
  onStorageUnusable?: (error: StorageUnusableError) => void;
  /** Each committed batch (benchmarks). */
  onCommitted?: (records: readonly WalRecord[]) => void;
}

export class GraphPipeline {
  /** Called when a damaged file was replaced while running: every observer must relist
   *  (the fresh file lacks what the old one held). Set by the composition root. */
  onStoreReplaced: (store: StoreKind) => void = () => undefined;
  /** Files replaced while running (a `run --once` with one is incomplete). */
  storesReplacedWhileRunning = 0;

  private constructor(
    readonly wal: Wal,
    readonly sink: GraphSink,
    readonly dispatcher: Dispatcher,
    readonly input: WalSink,
    readonly writer: WriterIdentity,
    private readonly log: Logger,
  ) {}

  static async open(config: Config, plugins: ReadonlyMap<string, LoadedPlugin>, log: Logger, overrides: SinkOverrides = {}, hooks: PipelineHooks = {}): Promise<GraphPipeline> {
    // A replacement before the pipeline exists needs no relist: the agent has not started.
    let pipeline: GraphPipeline | undefined;
    const recovery = (store: StoreKind) => ({
      log,
      onMovedAside: () => hooks.metrics?.corruptFileMovedAside?.(store),
      onReplaced: () => pipeline?.storeReplaced(store),
      onUnusable: (error: StorageUnusableError) => hooks.onStorageUnusable?.(error),
    });
    const wal = new Wal(config.wal.path, { recovery: recovery("wal") });
    let sink: GraphSink | undefined;
    try {
      sink = await openSink(config.sink, { log, ...overrides, recovery: recovery("graph") });
      await sink.init(combinedSchema(plugins.values()));
      const writer: WriterIdentity = { ...currentHolder(), id: wal.id! };
      await sink.registerWriter?.(config.clusters.map((c) => c.name), writer);
      const replay = wal.status();
      if (replay.depth > 0) log.info({ messages: replay.depth, wal: wal.path }, "replaying messages left in the WAL");
      const dispatcher = new Dispatcher(wal, sink, plugins, log, {
        batchSize: 2_000,
        groupCommitMs: GROUP_COMMIT_MS,
        backoff: config.observer.backoff,
        ...(hooks.metrics ? { metrics: hooks.metrics } : {}),
        ...(hooks.onCommitted ? { onCommitted: hooks.onCommitted } : {}),
      });
      const metrics = hooks.metrics;
      const input = new WalSink(wal, dispatcher, config.wal.maxBytes, log, metrics ? () => metrics.walFailed("append") : undefined);
      dispatcher.start();
      log.info({ sink: sink.kind, wal: wal.path, writer: writer.id }, "graph pipeline started");
      pipeline = new GraphPipeline(wal, sink, dispatcher, input, writer, log);
      return pipeline;
    } catch (error) {
      await sink?.close().catch(() => undefined);
      wal.close();
      throw error;
    }
  }

  private storeReplaced(store: StoreKind): void {
    this.storesReplacedWhileRunning += 1;
    // Observers held back by a full WAL go on: the fresh one is empty.
    if (store === "wal") this.dispatcher.onProgress();
    this.onStoreReplaced(store);
  }

  setPlugins(plugins: ReadonlyMap<string, LoadedPlugin>): void {
    this.dispatcher.setPlugins(plugins);
    void this.sink.init(combinedSchema(plugins.values())).catch((error: unknown) => this.log.error({ err: (error as Error).message }, "graph sink schema update failed"));
  }

  /** The clusters of a new config: registered as this agent's before they are observed
   *  (throws WriterConflictError when another live agent writes one of them). */
  async registerClusters(clusters: readonly string[]): Promise<void> {
    await this.sink.registerWriter?.(clusters, this.writer);
  }

  /**
   * Sweeps the scopes this agent wrote earlier that no observer covers now: their actor or
   * cluster left the config while the agent was down (a removal at runtime is handled by
   * the observer that stops). Called once every observer has listed, and after what the
   * WAL held has been delivered, so that nothing replayed brings a swept scope back.
   */
  async sweepVanished(observed: { clusters: readonly string[]; scopes: readonly ObservedScope[] }): Promise<string[]> {
    await Promise.race([this.dispatcher.idle(), new Promise((r) => setTimeout(r, 60_000).unref())]);
    const vanished = this.wal.writtenScopes().filter((scope) => !observed.clusters.includes(scopeCluster(scope)) || !scopeIsObserved(scope, observed.scopes));
    if (vanished.length === 0) return [];
    await this.sink.apply(vanished.map((scope) => ({ op: "sweep" as const, scope, present: [] })));
    this.wal.forgetScopes(vanished);
    this.log.info({ scopes: vanished.length, examples: vanished.slice(0, 5) }, "swept graph scopes no longer observed (their actor or cluster left the config while the agent was down)");
    return vanished;
  }

  /** Delivers what the WAL holds (up to graceMs), then closes; the rest waits in the WAL.
   *  Returns how many messages stay in the WAL. */
  async close(graceMs: number): Promise<number> {
    const drained = await Promise.race([
      this.dispatcher.idle().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
    ]);
    await this.dispatcher.stop();
    const left = this.wal.status().depth;
    if (!drained) this.log.warn({ pending: left }, "shutdown grace period over: the rest stays in the WAL for the next start");
    await this.sink.close();
    this.wal.close();
    return left;
  }
}
