// `kube-observer run`: the agent's main job.
import type { CommandModule } from "yargs";
import type { Agent } from "../agent.js";
import { composeAgent, type ComposedAgent } from "../compose.js";
import { applyAgentHeapTuning } from "../memory-tuning.js";
import { loadAgentConfig } from "../agent-config.js";
import { ConfigError, type Config } from "../config/model.js";
import { openSink } from "../graph/open-sink.js";
import { formatReport, verifyGraph } from "../verify/verify.js";
import type { PluginSet } from "../plugin/registry.js";
import { configErrorList } from "../config/validate.js";
import { createLogger, type Logger } from "../log/logger.js";
import { addHealthRoutes, OpsServer, parseListen } from "../ops/http-server.js";
import { AgentMetrics } from "../ops/metrics.js";
import type { GraphPipeline } from "../pipeline.js";
import { WriterConflictError } from "../graph/writer.js";
import { installProcessGuards } from "../ops/process-guards.js";
import { GraphSchemaError } from "../graph/schema-version.js";
import { FileInUseError } from "../lock/exclusive-file.js";
import { StorageUnusableError } from "../storage/damaged-file.js";
import { pluginSetFingerprint } from "../plugin/registry.js";
import { ConfigWatcher } from "./config-watcher.js";
import { ProgressLine } from "./progress.js";
import { graphLabel } from "../dispatch/translate.js";
import { AttackEdgeStage, scopeOwner } from "../insight/attack/derived-stage.js";
import { LiveAudit } from "../insight/audit/live-audit.js";
import type { AuditOptions } from "../insight/audit/model.js";
import { observedScopes } from "../insight/audit/observed-scopes.js";
import { AUDIT_RULES } from "../insight/audit/rules/index.js";
import type { WalRecord } from "../wal/wal.js";

interface RunArgs {
  config: string;
  once: boolean;
  output: "graph" | "jsonl" | "none";
  sink?: "sqlite" | "neo4j";
  "grace-seconds": number;
  threads?: number;
  "log-level"?: string;
  listen?: string;
  verify: boolean;
  audit: boolean;
}

function reportConfigError(log: Logger, error: unknown, message: string): void {
  if (error instanceof ConfigError) {
    for (const e of configErrorList(error))
      log.error({ file: e.location.file, line: e.location.line, column: e.location.column, reason: e.reason }, `${message}: ${e.message}`);
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
      .option("audit", {
        type: "boolean",
        default: false,
        describe:
          "Run the audit rules (`kube-observer audit`) inside the agent: after the initial sync, log each finding as it appears or clears with the change that caused it, and export kube_observer_findings{rule,severity}",
      })
      .option("once", { type: "boolean", default: false, describe: "List every configured scope once, deliver it, and exit (0 when all were delivered)" })
      .option("output", {
        choices: ["graph", "jsonl", "none"] as const,
        default: "graph" as const,
        describe:
          "Where KubeMessages go: graph = through the WAL into the configured graph sink; jsonl = one JSON object per line on stdout; none = nowhere (logs only)",
      })
      .option("sink", {
        choices: ["sqlite", "neo4j"] as const,
        describe: "Graph sink (overrides the config; Neo4j also reads NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD)",
      })
      .option("verify", {
        type: "boolean",
        default: false,
        describe:
          "With --once: afterwards, compare the graph with a fresh LIST of every configured scope (`kube-observer verify`), print the report, and exit 1 if they differ",
      })
      .option("grace-seconds", {
        type: "number",
        default: 25,
        describe: "On SIGTERM/SIGINT, how long to keep delivering the WAL to the sink before exiting (the rest is kept for the next start)",
      })
      .option("threads", { type: "number", describe: "Observer worker threads (overrides the config; 0 = from the number of cores)" })
      .option("log-level", {
        type: "string",
        choices: ["trace", "debug", "info", "warn", "error", "fatal"],
        describe: "Log level (overrides the config and KUBE_OBSERVER_LOG_LEVEL)",
      })
      .option("listen", {
        type: "string",
        describe:
          "Serve /healthz (200 while running), /readyz (200 once the initial sync is complete, the sink is open and answers, and WAL appends succeed; 503 with the reasons) and /metrics (Prometheus) on HOST:PORT, or on 127.0.0.1 with PORT alone (or :PORT); 0.0.0.0:8080 serves every interface",
      })
      .check((a) => {
        if (a.audit && (a.once || a.output !== "graph"))
          throw new Error("--audit is for a running agent writing the graph: drop --once/--output (after a --once run, use `kube-observer audit`)");
        if (a.verify && !a.once) throw new Error("--verify runs after a --once run: add --once (or run `kube-observer verify` beside a live agent)");
        if (a.verify && a.output !== "graph") throw new Error("--verify compares the graph: it cannot be used with --output jsonl or none");
        if (a.listen !== undefined) parseListen(a.listen);
        const grace = a["grace-seconds"];
        if (!Number.isFinite(grace) || grace < 0 || grace > 3600) throw new Error(`--grace-seconds ${grace}: expected seconds from 0 to 3600`);
        return true;
      })
      .example("KUBECONFIG=.dev-env/kubeconfig $0 run --config config/example.dhall --once", "list everything once into the embedded SQLite graph, then exit")
      .example("$0 run --config config/example.dhall --once --verify", "list everything once into the graph, then prove the graph equals the cluster")
      .example("$0 run --config config/example.dhall --once --output jsonl", "print every object as KubeMessages instead")
      .example("NEO4J_URI=bolt://localhost:7687 NEO4J_PASSWORD=... $0 run --config config/example.dhall --sink neo4j", "stream into Neo4j")
      .example("$0 run --config /etc/kube-observer/config.dhall", "run until SIGINT/SIGTERM; SIGHUP or editing the file reloads the config")
      .example(
        "$0 run --config /etc/kube-observer/kube-observer.dhall --listen 0.0.0.0:8080",
        "with liveness (/healthz) and readiness (/readyz) probes, as deploy/ runs it",
      )
      .epilogue(
        "Logs go to stderr (JSON unless stderr is a terminal; KUBE_OBSERVER_LOG_FORMAT=json|pretty). Secret values, literal env values and the last-applied annotation never leave the observers.\n\n" +
          "One agent per WAL: the agent locks its WAL and its embedded graph for its whole life (a second one exits 2 naming the holder; read-only commands still work beside it), and registers itself in Neo4j as the one writer of each cluster.\n\n" +
          "Exit codes: 0 done (--once: everything delivered, nothing failed on the way); 1 failed (--once: a scope not delivered, something left in the WAL, or a WAL/sink failure counted in the closing summary; messages a broken plugin could not translate are parked and counted but isolated); 2 refused (another agent holds the WAL, the graph file or the cluster's writer registration, or the graph was written by a newer kube-observer — also when a Neo4j that was down at start-up says so once it answers); 3 storage unusable (a damaged WAL or graph file is moved aside and replaced by a fresh one, logged and counted; 3 when the fresh one is damaged too, or after 3 such copies within an hour).\n\n" +
          "A running agent does not need Neo4j to start: while it does not answer, the agent observes into the WAL and /readyz says why it is not ready; a WAL that does not take writes (disk full) pauses the observers until it does. --once fails instead.",
      ),
  handler: async (args) => {
    applyAgentHeapTuning();
    // Until the config watcher takes over, a SIGHUP (a reloader right after the pod
    // started) must not kill the process (Node's default) but still be applied.
    let earlyHup = false;
    const onEarlyHup = (): void => {
      earlyHup = true;
    };
    process.on("SIGHUP", onEarlyHup);
    const bootLog = createLogger({ level: args["log-level"] });
    let loaded: Awaited<ReturnType<typeof loadAgentConfig>>;
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
    // Metrics only cost anything when someone can read them.
    const listen = args.listen ?? config.listen ?? undefined;
    const metrics = listen !== undefined ? new AgentMetrics() : undefined;
    // Before anything writes a file (SIGXFSZ) or runs a loop (unhandled rejections).
    const guards = installProcessGuards(log, { onUnhandledRejection: () => metrics?.processError("unhandled-rejection") });
    let composed: ComposedAgent | undefined;

    // Up before the sink and the initial sync, so that liveness holds while they take long.
    let synced = false;
    let ops: OpsServer | undefined;
    if (listen !== undefined && metrics) {
      metrics.setSources({
        phases: () => composed?.agent.phaseCounts() ?? {},
        synced: () => synced,
        wal: () => composed?.pipeline?.wal.status() ?? { depth: 0, bytes: 0, oldestObservedAt: null, parked: 0 },
        walAppendFailing: () => composed?.pipeline?.input.appendFailing != null,
        sinkOpen: () => composed?.pipeline?.startup.state.kind === "open",
      });
      ops = addHealthRoutes(new OpsServer(log), {
        synced: () => synced,
        problems: () => [...(composed?.agent.readinessProblems() ?? []), ...(composed?.pipeline?.problems() ?? [])],
        sinkPing: args.output === "graph" ? async () => (composed?.pipeline ? composed.pipeline.sink.ping() : false) : undefined,
      }).route("/metrics", async () => ({ status: 200, ...(await metrics.text()) }));
      try {
        await ops.listen(parseListen(listen));
      } catch (error) {
        log.error({ listen, err: (error as Error).message }, "HTTP endpoint could not listen");
        process.exitCode = 1;
        return;
      }
    }

    // Set when another agent took this one's writer registration, or when a sink waited
    // for since start-up answers and refuses this agent: it must stop.
    let stopFor: ((error: Error, exitCode: number) => void) | undefined;
    let stopEarly: { error: Error; exitCode: number } | undefined;
    const mustStop = (error: Error, exitCode: number): void => {
      if (stopFor) stopFor(error, exitCode);
      else stopEarly ??= { error, exitCode };
    };
    // Set when a damaged WAL or graph file could not be replaced: the agent stops (exit 3).
    let unusable: StorageUnusableError | undefined;
    // Set once the pipeline is open; committed batches before that are read by its first evaluation.
    let liveAudit: LiveAudit | undefined;
    let attackEdges: AttackEdgeStage | undefined;
    try {
      composed = await composeAgent({
        config,
        plugins: loaded.plugins,
        log,
        once: args.once,
        output: args.output,
        sink: { ...(args.sink ? { kind: args.sink } : {}), onWriterLost: (error) => mustStop(error, 2) },
        // A running agent rides out a sink that is down at start-up and a WAL that does
        // not take writes; a once run reports them instead (exit 1).
        live: { waitForSink: !args.once, retryAppends: !args.once, onSinkRefused: (error) => mustStop(error, exitCodeOf(error)) },
        onStorageUnusable: (error) => {
          unusable ??= error;
          mustStop(error, error.exitCode);
        },
        ...(metrics ? { metrics } : {}),
        ...(args.audit || config.attackEdges
          ? {
              onCommitted: (records: readonly WalRecord[]) => {
                liveAudit?.committed(records);
                attackEdges?.committed(records);
              },
            }
          : {}),
      });
    } catch (error) {
      if (error instanceof FileInUseError || error instanceof WriterConflictError) {
        // Refused, not failed: another agent owns this WAL, graph file or cluster.
        log.error(
          { err: error.message, ...(error instanceof FileInUseError ? { file: error.file, holder: error.holder } : { holders: error.holders }) },
          "refusing to start",
        );
        process.exitCode = 2;
      } else if (error instanceof StorageUnusableError) {
        log.fatal({ err: error.message, file: error.file }, "storage unusable: not starting");
        process.exitCode = error.exitCode;
      } else if (error instanceof GraphSchemaError) {
        // Refused: a graph this version must not write (newer, or not a graph at all).
        log.error({ err: error.message, store: error.where, found: error.found }, "refusing to start");
        process.exitCode = error.exitCode;
      } else {
        log.error({ err: (error as Error).message }, "graph sink could not be opened");
        process.exitCode = 1;
      }
      await ops?.close();
      return;
    }
    const { agent, pipeline } = composed;
    const delivered = composed.delivered;
    const labelOf = (resource: string): string | undefined => {
      const plugin = agent.pluginSet?.plugins.get(resource) ?? loaded.plugins.plugins.get(resource);
      return plugin ? graphLabel(plugin) : undefined;
    };
    if (config.attackEdges && pipeline) {
      attackEdges = new AttackEdgeStage({
        sink: pipeline.sink,
        clusters: config.clusters.map((c) => c.name),
        log: log.child({ component: "attack-edges" }),
        labelOf,
      });
    }
    if (args.audit && pipeline) {
      liveAudit = new LiveAudit({
        sink: pipeline.sink,
        clusters: auditClusters(config, loaded.plugins),
        rules: AUDIT_RULES,
        log: log.child({ component: "audit" }),
        ...(metrics ? { registry: metrics.registry } : {}),
        labelOf,
      });
    }

    const started = Date.now();
    let stopping = false;
    const progress = process.stderr.isTTY ? new ProgressLine(() => agent.syncProgress()) : undefined;
    progress?.start();

    if (args.once) {
      await agent.start();
      const result = await agent.finished();
      progress?.done();
      const observed = agent.observedScopes();
      await agent.stop();
      let leftInWal = 0;
      if (pipeline) {
        await pipeline.dispatcher.idle();
        if (observed) await sweepVanishedScopes(pipeline, observed, log);
        // Attack edges of what was delivered, once (a running agent keeps them as changes arrive).
        if (attackEdges) {
          await attackEdges.start();
          await attackEdges.stop();
        }
        leftInWal = await pipeline.close(args["grace-seconds"] * 1000);
      }
      await ops?.close();
      for (const f of result.failed) log.error({ observer: f.key, reason: f.reason }, "scope not delivered");
      const failures: Record<string, number> = pipeline
        ? onceFailures(pipeline, leftInWal, guards.unhandledRejections())
        : { unhandledRejections: guards.unhandledRejections() };
      if (attackEdges?.failedRuns) failures.attackEdgesNotWritten = attackEdges.failedRuns;
      if (args.verify && agent.pluginSet) {
        const equal = await verifyAfterRun(config, agent.pluginSet, args.sink, log);
        if (!equal) failures.verifyDifferences = 1;
      }
      const problems = Object.entries(failures).filter(([, n]) => n > 0);
      // Parked messages are counted, not failed: a broken plugin is isolated and the rest
      // of the run is good (`wal status` lists them; --verify counts them as differences).
      const parked = pipeline?.dispatcher.stats.parked ?? 0;
      const summary = {
        scopes: result.delivered,
        failed: result.failed.length,
        messages: delivered(),
        ...failures,
        parked,
        seconds: (Date.now() - started) / 1000,
      };
      if (result.failed.length || problems.length) {
        log.error(
          summary,
          `once: incomplete (${[...(result.failed.length ? [`${result.failed.length} scope(s) not delivered`] : []), ...problems.map(([k, n]) => `${k}: ${n}`)].join(", ")})`,
        );
        process.exitCode = 1;
      } else {
        log.info(summary, "once: done");
        process.exitCode = 0;
      }
      if (unusable) process.exitCode = unusable.exitCode;
      return;
    }

    // Signal handlers and the config watcher come first: nothing the cluster does (a
    // forbidden or failing namespace discovery, an apiserver that does not answer) may
    // keep SIGTERM from stopping the agent or a reload from applying.
    let stopRequested!: () => void;
    const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down: delivering what is in flight");
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      stopRequested();
    };
    const onInt = (): void => shutdown("SIGINT");
    const onTerm = (): void => shutdown("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    stopFor = (error, exitCode) => {
      if (error instanceof WriterConflictError)
        log.fatal({ err: error.message, holders: error.holders }, "another agent took over this agent's writer registration: stopping");
      else if (error instanceof StorageUnusableError) log.fatal({ err: error.message, file: error.file }, "storage unusable: stopping");
      else log.fatal({ err: error.message, exitCode }, "the graph sink refused this agent: stopping");
      process.exitCode = exitCode;
      shutdown(
        error instanceof WriterConflictError
          ? "writer registration lost"
          : error instanceof StorageUnusableError
            ? "storage unusable"
            : "graph sink refused the agent",
      );
    };
    // Refused while the handlers were not yet installed (the sink opened meanwhile).
    if (stopEarly) stopFor(stopEarly.error, stopEarly.exitCode);

    let current = JSON.stringify(config);
    let currentPlugins = pluginSetFingerprint(loaded.plugins);
    // Reloads wait for the start to have happened (it does not wait for the cluster).
    const startup = agent.start().catch((error: unknown) => log.error({ err: (error as Error).message }, "agent start failed"));
    let reloading: Promise<void> = startup;
    const watcher = new ConfigWatcher(args.config, log, (why) => {
      reloading = reloading.then(async () => {
        if (stopping) return;
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
          // Clusters are registered as this agent's before any is observed.
          if (pipeline) await pipeline.registerClusters(next.config.clusters.map((c) => c.name));
          current = text;
          currentPlugins = plugins;
          await agent.reload(next.config, next.plugins);
          liveAudit?.reconfigure(auditClusters(next.config, next.plugins));
          attackEdges?.reconfigure(next.config.clusters.map((c) => c.name));
        } catch (error) {
          reportConfigError(log, error, "config reload rejected; keeping the last good config");
        }
      });
    });
    watcher.start();
    process.off("SIGHUP", onEarlyHup);
    // A signal or a volume swap between the first load and here is applied now.
    watcher.check(earlyHup ? "SIGHUP during start-up" : "start-up");

    void agent.initialSync().then(async (p) => {
      synced = p !== undefined;
      progress?.done();
      if (!p) return;
      log.info({ scopes: p.scopes, objects: p.objects, seconds: (Date.now() - started) / 1000 }, "initial sync complete");
      // Attack edges turned off: the ones an earlier run kept go (they would go stale).
      if (!config.attackEdges && pipeline) {
        for (const c of config.clusters) {
          await pipeline.sink
            .replaceDerived([], scopeOwner.all(c.name))
            .catch((error: unknown) => log.warn({ err: (error as Error).message }, "could not remove attack edges kept by an earlier run"));
        }
      }
      // The audit's summary and the attack edges are of the synced graph: what the initial
      // sync appended is committed first.
      if ((liveAudit || attackEdges) && pipeline) {
        await pipeline.dispatcher.idle();
        await attackEdges?.start();
        await liveAudit?.start();
      }
      // Once every cluster's observers have listed (a cluster that is down holds this
      // back), scopes that left the config while the agent was down leave the graph.
      for (let observed = agent.observedScopes(); pipeline && !stopping; observed = agent.observedScopes()) {
        if (observed) {
          await sweepVanishedScopes(pipeline, observed, log);
          return;
        }
        await new Promise((r) => setTimeout(r, 5_000).unref());
      }
    });

    await stopSignal;
    watcher.stop();
    progress?.done();
    await reloading;
    // Batches held for a WAL that does not take writes are refused now, or the observers
    // would wait for them forever (their scopes are listed again at the next start).
    const refused = pipeline?.input.stopRetrying() ?? 0;
    if (refused > 0) {
      log.error(
        { batches: refused, reason: pipeline?.input.appendFailing?.error },
        "stopping while the WAL does not take writes: batches not appended (their scopes are listed again at the next start)",
      );
      process.exitCode = 1;
    }
    await agent.stop();
    await liveAudit?.stop();
    await attackEdges?.stop();
    await pipeline?.close(args["grace-seconds"] * 1000);
    await ops?.close();
    log.info({ messages: delivered() }, "stopped");
    log.flush();
    // Everything is delivered; a handle some library left open must not keep a pod in
    // Terminating until SIGKILL.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
  },
};

/** The audit's options per configured cluster: what the config observes there. */
function auditClusters(config: Config, plugins: PluginSet): Map<string, AuditOptions> {
  return new Map(
    config.clusters.map((c) => [c.name, { allowedRegistries: config.audit.allowedRegistries, observes: observedScopes(config, plugins, c.name) }]),
  );
}

async function sweepVanishedScopes(pipeline: GraphPipeline, observed: NonNullable<ReturnType<Agent["observedScopes"]>>, log: Logger): Promise<void> {
  try {
    await pipeline.sweepVanished(observed);
  } catch (error) {
    // Retried at the next start: the scopes stay remembered until swept.
    log.error({ err: (error as Error).message }, "could not sweep graph scopes no longer observed; the next start tries again");
  }
}

/** `run --once --verify`: the graph against a fresh LIST, reported on stdout. */
async function verifyAfterRun(config: Config, plugins: PluginSet, sinkKind: "sqlite" | "neo4j" | undefined, log: Logger): Promise<boolean> {
  try {
    const sink = await openSink(config.sink, { access: "read", ...(sinkKind ? { kind: sinkKind } : {}) });
    try {
      const report = await verifyGraph({ config, plugins, sink, log });
      process.stdout.write(formatReport(report));
      for (const failure of report.failures) log.error({ scope: failure.scope, kind: failure.kind }, `verify: ${failure.message}`);
      log[report.equal ? "info" : "error"]({ equal: report.equal, attempts: report.attempts }, `verify: ${report.verdict}`);
      return report.equal;
    } finally {
      await sink.close();
    }
  } catch (error) {
    log.error({ err: (error as Error).message }, "verify: the graph could not be read");
    return false;
  }
}

/** Failures during a once run, by kind; any above zero makes the run's exit code 1. Each
 *  was logged where it happened; a retried one is counted too (the run was not clean). */
function onceFailures(pipeline: GraphPipeline, leftInWal: number, unhandledRejections: number): Record<string, number> {
  const stats = pipeline.dispatcher.stats;
  return {
    unhandledRejections,
    dispatcherErrors: stats.unexpectedErrors,
    walAppendFailures: pipeline.input.appendFailures,
    walReadFailures: stats.walErrors.read,
    walParkFailures: stats.walErrors.park,
    walAckFailures: stats.walErrors.ack,
    sinkFailures: stats.sinkErrors,
    storesReplacedWhileRunning: pipeline.storesReplacedWhileRunning,
    leftInWal,
    historyRefused: pipeline.historyStats?.refused ?? 0,
    leftInHistoryInbox: pipeline.historyStats?.leftInInbox ?? 0,
  };
}

/** A refusal's exit code: 2 for refused (a newer graph, another writer), 1 otherwise. */
function exitCodeOf(error: Error): number {
  const code = (error as { exitCode?: unknown }).exitCode;
  return typeof code === "number" ? code : 1;
}
