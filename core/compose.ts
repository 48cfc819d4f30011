// The composition root: builds the agent's parts in order — the graph pipeline (WAL,
// dispatcher, sink) first, so that what a crash left in the WAL is replayed before any
// observer runs, then the output observers deliver to, then the agent — with every hook
// passed to a constructor. `kube-observer run` and the bench's agent host both use it.
import type { Writable } from "node:stream";
import { Agent } from "./agent.js";
import type { Config } from "./config/model.js";
import type { SinkOverrides } from "./graph/open-sink.js";
import type { Logger } from "./log/logger.js";
import type { AgentMetrics } from "./ops/metrics.js";
import { JsonlSink, NullSink } from "./output/jsonl.js";
import { GraphPipeline, type PipelineHooks } from "./pipeline.js";
import type { PluginSet } from "./plugin/registry.js";
import type { MessageSink } from "./supervisor/cluster-supervisor.js";
import type { WalRecord } from "./wal/wal.js";
import type { StorageUnusableError } from "./storage/damaged-file.js";

export type OutputKind = "graph" | "jsonl" | "none";

export interface ComposeOptions {
  config: Config;
  /** The plugins the config was validated against (loadAgentConfig). */
  plugins: PluginSet;
  log: Logger;
  once: boolean;
  /** graph: through the WAL into the sink; jsonl: KubeMessages on `stdout`; none: counted. */
  output: OutputKind;
  /** Sink kind override and the Neo4j writer-lost hook (output graph). */
  sink?: SinkOverrides;
  /** Fed by every part when given (metrics cost nothing when nobody reads them). */
  metrics?: AgentMetrics;
  /** Each committed batch (benchmarks). */
  onCommitted?: (records: readonly WalRecord[]) => void;
  /** Output graph, a running agent: wait for a sink that does not answer at start-up,
   *  hold batches the WAL cannot take, and hear of a sink that refuses the agent later. */
  live?: Pick<PipelineHooks, "waitForSink" | "retryAppends" | "onSinkRefused">;
  /** A damaged WAL or graph file could not be replaced: the agent must stop (exit 3). */
  onStorageUnusable?: (error: StorageUnusableError) => void;
  stdout?: Writable;
}

export interface ComposedAgent {
  agent: Agent;
  /** Present with output graph. */
  pipeline: GraphPipeline | undefined;
  /** Messages the observers delivered to the output. */
  delivered(): number;
}

/** Opens the pipeline (which may refuse: FileInUseError, WriterConflictError) and builds
 *  the agent around it; the agent is not started. */
export async function composeAgent(options: ComposeOptions): Promise<ComposedAgent> {
  const { config, plugins, log, metrics } = options;
  const pipeline =
    options.output === "graph"
      ? await GraphPipeline.open(config, plugins.plugins, log, options.sink ?? {}, {
          ...(metrics ? { metrics } : {}),
          ...(options.onCommitted ? { onCommitted: options.onCommitted } : {}),
          ...options.live,
          ...(options.onStorageUnusable ? { onStorageUnusable: options.onStorageUnusable } : {}),
        })
      : undefined;
  const output: MessageSink & { delivered: number } = pipeline
    ? pipeline.input
    : options.output === "jsonl"
      ? new JsonlSink(options.stdout ?? process.stdout)
      : new NullSink();
  const sink: MessageSink = metrics ? { deliver: (messages) => (metrics.delivered(messages), output.deliver(messages)) } : output;
  const agent = new Agent(config, {
    sink,
    log,
    once: options.once,
    plugins,
    ...(metrics
      ? {
          onObserverStatus: (observer, previous, next) => metrics.observerStatus(observer, previous, next),
          onObjectSkipped: (observer) => metrics.objectSkipped(observer, "too-large"),
        }
      : {}),
    ...(pipeline ? { onPluginsChanged: (set: PluginSet, next: Config) => pipeline.setPlugins(set.plugins, next.pluginBudgetMs) } : {}),
  });
  // A WAL or graph file replaced while running lost what it held: every scope is listed again.
  if (pipeline) pipeline.watchingScopes = () => agent.watchingScopes();
  if (pipeline) pipeline.onStoreReplaced = (store) => agent.relistAll(`the ${store === "wal" ? "WAL" : "embedded graph"} was damaged and replaced`);
  return { agent, pipeline, delivered: () => output.delivered };
}
