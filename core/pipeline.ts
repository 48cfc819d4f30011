// The back half of the agent: WAL -> dispatcher -> graph sink. Opened before the observers
// start, so that messages left in the WAL by a crash are replayed first.
import type { Config } from "./config/model.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import type { GraphSink } from "./graph/model.js";
import { combinedSchema, openSink, type SinkOverrides } from "./graph/open-sink.js";
import type { Logger } from "./log/logger.js";
import type { LoadedPlugin } from "./plugin/registry.js";
import { Wal } from "./wal/wal.js";
import { WalSink } from "./wal/wal-sink.js";

export class GraphPipeline {
  private constructor(
    readonly wal: Wal,
    readonly sink: GraphSink,
    readonly dispatcher: Dispatcher,
    readonly input: WalSink,
    private readonly log: Logger,
  ) {}

  static async open(config: Config, plugins: ReadonlyMap<string, LoadedPlugin>, log: Logger, overrides: SinkOverrides = {}): Promise<GraphPipeline> {
    const sink = await openSink(config.sink, overrides);
    try {
      await sink.init(combinedSchema(plugins.values()));
    } catch (error) {
      await sink.close().catch(() => undefined);
      throw error;
    }
    const wal = new Wal(config.wal.path);
    const replay = wal.status();
    if (replay.depth > 0) log.info({ messages: replay.depth, wal: wal.path }, "replaying messages left in the WAL");
    const dispatcher = new Dispatcher(wal, sink, plugins, log, { batchSize: 2_000, backoff: config.observer.backoff });
    const input = new WalSink(wal, dispatcher, config.wal.maxBytes, log);
    dispatcher.start();
    log.info({ sink: sink.kind, wal: wal.path }, "graph pipeline started");
    return new GraphPipeline(wal, sink, dispatcher, input, log);
  }

  setPlugins(plugins: ReadonlyMap<string, LoadedPlugin>): void {
    this.dispatcher.setPlugins(plugins);
    void this.sink.init(combinedSchema(plugins.values())).catch((error: unknown) => this.log.error({ err: (error as Error).message }, "graph sink schema update failed"));
  }

  /** Delivers what the WAL holds (up to graceMs), then closes; the rest waits in the WAL. */
  async close(graceMs: number): Promise<void> {
    const drained = await Promise.race([
      this.dispatcher.idle().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
    ]);
    if (!drained) this.log.warn({ pending: this.wal.status().depth }, "shutdown grace period over: the rest stays in the WAL for the next start");
    await this.dispatcher.stop();
    await this.sink.close();
    this.wal.close();
  }
}
