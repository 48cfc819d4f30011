// `kube-observer run`: the agent's main job.
import type { CommandModule } from "yargs";
import { Agent } from "../agent.js";
import { loadAgentConfig } from "../agent-config.js";
import { ConfigError } from "../config/model.js";
import { configErrorList } from "../config/validate.js";
import { createLogger, type Logger } from "../log/logger.js";
import { addHealthRoutes, OpsServer, parseListen } from "../ops/http-server.js";
import { AgentMetrics } from "../ops/metrics.js";
import { DeferredSink, JsonlSink, NullSink } from "../output/jsonl.js";
import { GraphPipeline } from "../pipeline.js";
import { pluginSetFingerprint } from "../plugin/registry.js";
import type { MessageSink } from "../supervisor/cluster-supervisor.js";
import { ConfigWatcher } from "./config-watcher.js";
import { ProgressLine } from "./progress.js";

interface RunArgs {
  config: string;
  once: boolean;
  output: "graph" | "jsonl" | "none";
  sink?: "sqlite" | "neo4j";
  "grace-seconds": number;
  threads?: number;
  "log-level"?: string;
  listen?: string;
}

function reportConfigError(log: Logger, error: unknown, message: string): void {
  if (error instanceof ConfigError) {
    for (const e of configErrorList(error)) log.error({ file: e.location.file, line: e.location.line, column: e.location.column, reason: e.reason }, `${message}: ${e.message}`);
  } else {
    log.error({ err: error instanceof Error ? error.message : String(error) }, message);
  }
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: "run",
  describe: "Run the agent: list every configured scope, then watch for changes",
  builder: (y) =>
    y
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (see config/example.dhall)" })
      .option("once", { type: "boolean", default: false, describe: "List every configured scope once, deliver it, and exit (0 when all were delivered)" })
      .option("output", {
        choices: ["graph", "jsonl", "none"] as const,
        default: "graph" as const,
        describe: "Where KubeMessages go: graph = through the WAL into the configured graph sink; jsonl = one JSON object per line on stdout; none = nowhere (logs only)",
      })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Graph sink (overrides the config; Neo4j also reads NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD)" })
      .option("grace-seconds", { type: "number", default: 25, describe: "On SIGTERM/SIGINT, how long to keep delivering the WAL to the sink before exiting (the rest is kept for the next start)" })
      .option("threads", { type: "number", describe: "Observer worker threads (overrides the config; 0 = from the number of cores)" })
      .option("log-level", { type: "string", choices: ["trace", "debug", "info", "warn", "error", "fatal"], describe: "Log level (overrides the config and KUBE_OBSERVER_LOG_LEVEL)" })
      .option("listen", {
        type: "string",
        describe: "Serve /healthz (200 while running), /readyz (200 once the initial sync is complete and the sink answers) and /metrics (Prometheus) on HOST:PORT, e.g. 0.0.0.0:8080",
      })
      .check((a) => {
        if (a.listen !== undefined) parseListen(a.listen);
        return true;
      })
      .example("KUBECONFIG=.dev-env/kubeconfig $0 run --config config/example.dhall --once", "list everything once into the embedded SQLite graph, then exit")
      .example("$0 run --config config/example.dhall --once --output jsonl", "print every object as KubeMessages instead")
      .example("NEO4J_URI=bolt://localhost:7687 NEO4J_PASSWORD=... $0 run --config config/example.dhall --sink neo4j", "stream into Neo4j")
      .example("$0 run --config /etc/kube-observer/config.dhall", "run until SIGINT/SIGTERM; SIGHUP or editing the file reloads the config")
      .example("$0 run --config /etc/kube-observer/kube-observer.dhall --listen 0.0.0.0:8080", "with liveness (/healthz) and readiness (/readyz) probes, as deploy/ runs it")
      .epilogue(
        "Logs go to stderr (JSON unless stderr is a terminal; KUBE_OBSERVER_LOG_FORMAT=json|pretty). Secret values, literal env values and the last-applied annotation never leave the observers.",
      ),
  handler: async (args) => {
    // Until the config watcher takes over, a SIGHUP (a reloader right after the pod
    // started) must not kill the process (Node's default) but still be applied.
    let earlyHup = false;
    const onEarlyHup = (): void => void (earlyHup = true);
    process.on("SIGHUP", onEarlyHup);
    const bootLog = createLogger({ level: args["log-level"] });
    let loaded;
    try {
      loaded = await loadAgentConfig(args.config);
    } catch (error) {
      reportConfigError(bootLog, error, "config rejected");
      process.exitCode = 1;
      return;
    }
    const config = loaded.config;
    if (args.threads !== undefined) config.observer.threads = args.threads;
    const log = createLogger({ level: args["log-level"] ?? config.log.level });
    let pipeline: GraphPipeline | undefined;
    const output: MessageSink & { delivered: number } =
      args.output === "jsonl" ? new JsonlSink(process.stdout) : args.output === "none" ? new NullSink() : new DeferredSink();
    // Metrics only cost anything when someone can read them.
    const listen = args.listen ?? config.listen ?? undefined;
    const metrics = listen !== undefined ? new AgentMetrics() : undefined;
    const counted: MessageSink = metrics
      ? { deliver: (messages) => (metrics.delivered(messages), output.deliver(messages)) }
      : output;
    const agent = new Agent(config, {
      sink: counted,
      log,
      once: args.once,
      plugins: loaded.plugins,
      onObserverStatus: metrics ? (observer, previous, next) => metrics.observerStatus(observer, previous, next) : undefined,
    });

    // Up before the sink and the initial sync, so that liveness holds while they take long.
    let synced = false;
    let ops: OpsServer | undefined;
    if (listen !== undefined && metrics) {
      metrics.setSources({ phases: () => agent.phaseCounts(), synced: () => synced, wal: () => pipeline?.wal.status() ?? { depth: 0, bytes: 0, oldestObservedAt: null, parked: 0 } });
      ops = addHealthRoutes(new OpsServer(log), {
        synced: () => synced,
        sinkPing: output instanceof DeferredSink ? async () => (pipeline ? pipeline.sink.ping() : false) : undefined,
      }).route("/metrics", async () => ({ status: 200, ...(await metrics.text()) }));
      try {
        await ops.listen(parseListen(listen));
      } catch (error) {
        log.error({ listen, err: (error as Error).message }, "HTTP endpoint could not listen");
        process.exitCode = 1;
        return;
      }
    }

    if (output instanceof DeferredSink) {
      try {
        pipeline = await GraphPipeline.open(config, (await agent.loadInitialPlugins()).plugins, log, args.sink ? { kind: args.sink } : {});
      } catch (error) {
        log.error({ err: (error as Error).message }, "graph sink could not be opened");
        await ops?.close();
        process.exitCode = 1;
        return;
      }
      output.target = pipeline.input;
      pipeline.dispatcher.metrics = metrics;
      agent.onPluginsChanged = (set) => pipeline?.setPlugins(set.plugins);
    }

    const started = Date.now();
    const progress = process.stderr.isTTY ? new ProgressLine(() => agent.syncProgress()) : undefined;
    progress?.start();
    await agent.start();

    if (args.once) {
      const result = await agent.finished();
      progress?.done();
      await agent.stop();
      if (pipeline) {
        await pipeline.dispatcher.idle();
        await pipeline.close(args["grace-seconds"] * 1000);
      }
      await ops?.close();
      for (const f of result.failed) log.error({ observer: f.key, reason: f.reason }, "scope not delivered");
      log.info({ scopes: result.delivered, failed: result.failed.length, messages: output.delivered, seconds: (Date.now() - started) / 1000 }, "once: done");
      process.exitCode = result.failed.length ? 1 : 0;
      return;
    }

    void agent.initialSync().then((p) => {
      synced = p !== undefined;
      progress?.done();
      if (p) log.info({ scopes: p.scopes, objects: p.objects, seconds: (Date.now() - started) / 1000 }, "initial sync complete");
    });

    let current = JSON.stringify(config);
    let currentPlugins = pluginSetFingerprint(loaded.plugins);
    let reloading = Promise.resolve();
    const watcher = new ConfigWatcher(args.config, log, (why) => {
      reloading = reloading.then(async () => {
        try {
          // The plugin directories are loaded again too: a new, fixed, changed or broken
          // plugin is applied even when the config itself is unchanged (SIGHUP).
          const next = await loadAgentConfig(args.config, agent.pluginSet);
          if (args.threads !== undefined) next.config.observer.threads = args.threads;
          const text = JSON.stringify(next.config);
          const plugins = pluginSetFingerprint(next.plugins);
          if (text === current && plugins === currentPlugins) {
            log.debug({ why }, "config and plugins unchanged");
            return;
          }
          log.info({ why }, text === current ? "plugins changed: applying" : "config changed: applying");
          current = text;
          currentPlugins = plugins;
          await agent.reload(next.config, next.plugins);
        } catch (error) {
          reportConfigError(log, error, "config reload rejected; keeping the last good config");
        }
      });
    });
    watcher.start();
    process.off("SIGHUP", onEarlyHup);
    // A signal or a volume swap between the first load and here is applied now.
    watcher.check(earlyHup ? "SIGHUP during start-up" : "start-up");

    await new Promise<void>((resolve) => {
      const shutdown = (signal: string): void => {
        log.info({ signal }, "shutting down: delivering what is in flight");
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
        resolve();
      };
      const onInt = (): void => shutdown("SIGINT");
      const onTerm = (): void => shutdown("SIGTERM");
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
    });
    watcher.stop();
    progress?.done();
    await reloading;
    await agent.stop();
    await pipeline?.close(args["grace-seconds"] * 1000);
    await ops?.close();
    log.info({ messages: output.delivered }, "stopped");
    log.flush();
    // Everything is delivered; a handle some library left open must not keep a pod in
    // Terminating until SIGKILL.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
  },
};
