// `npm run bench -- [--tier XS|S|M|L] [--sink sqlite|neo4j|both] [...]`: benchmarks the
// agent against the local environment (scripts/devenv) and writes
// bench/results/<tier>-<sink>.json and .md. What each number means: bench/README.md.
import { machineFacts } from "./machine.js";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { up, type DevEnvState } from "../scripts/devenv/env.js";
import { AgentRun, repoRoot, writeAgentConfig, type SinkKind } from "./agent.js";
import { measureBaseline, resourcesOf } from "./baseline.js";
import { ChurnGenerator, CommitTracker, type ChurnStepResult } from "./churn.js";
import { cleanNeo4j, neo4jCounts, neo4jVersion, sqliteCounts, type GraphCounts } from "./graph-check.js";
import { KubeWriter } from "./kube.js";
import { cleanupTier, describeError, ensureTier, removeChurnObjects, type SetupResult } from "./load.js";
import { cpuPercent, median, sleep, threadCount } from "./measure.js";
import { consoleSummary, crossTierBytesPerObject, evaluateTargets, RESULT_SCHEMA_VERSION, writeResult, type BenchResult, type SinkResult } from "./report.js";
import { tierByName, type Tier } from "./tiers.js";
import { sinkOnlyMain } from "./sink-only-report.js";
import { writeHistoryReport } from "./history-cost.js";
import Database from "better-sqlite3";
import { HistoryReader } from "../core/history/reader.js";
import { inboxFile } from "../core/history/inbox.js";
import type { HistorySize } from "./report.js";
import { opsLoadMain } from "./ops-load.js";
import { measureTopology } from "./topology.js";
import { WatchProbe } from "./watch-probe.js";

/** What the agent observes in every run: the tier's five kinds. */
const RESOURCES = ["pod", "configmap", "secret", "serviceaccount", "persistentvolumeclaim"];
const LABEL_OF: Record<string, string> = {
  pod: "Pod",
  configmap: "ConfigMap",
  secret: "Secret",
  serviceaccount: "ServiceAccount",
  persistentvolumeclaim: "PersistentVolumeClaim",
};
/** The agent's default page size (config/types.dhall observer.pageSize). */
const PAGE_SIZE = 500;

const HELP = `Usage: npm run bench -- [options]

  --tier XS|S|M|L          objects created before timing (default S; L is manual)
  --sink sqlite|neo4j|both graph sink(s) to measure (default sqlite)
  --churn-seconds N        seconds per churn rate (default per tier: XS 3, S 20, M/L 60)
  --rates 50,200,1000      churn rates, changes per second
  --idle-seconds N         idle window for CPU and steady RSS
  --topology-churn-seconds N  churn in each topology run (default per tier)
  --skip churn,topology    leave phases out
  --fresh                  delete and recreate the tier's namespaces first
  --cleanup                delete the tier's namespaces at the end (not waited for)
  --cleanup-only           only delete the tier's namespaces (and the bench's Neo4j nodes)
  --out DIR                where results go (default bench/results)
  --threads N              agent observer threads (default 0: from the cores)
  --baseline-concurrency N concurrent LISTs in the per-namespace baseline (default 16)
  --keep                   keep the work directory (agent logs, graphs, WALs)
  --sink-only              the sinks alone: the tier's initial-sync stream, generated and
                           reduced through the plugins, replayed into each sink without
                           the apiserver, against a bare-insert baseline (bench/README.md)
  --history                what keeping the history costs: sync and churn with history on
                           and off in pairs (on, off, off, on, …: a cold first run counts
                           against the history; default rates: 200/s), and the history's
                           bytes per change; writes history-<tier>-<sink>.md
  --history-pairs N        pairs of runs per sink with --history (default 2)
  --history-warmup N       with --history: N runs per sink without history first, not
                           compared (a cold Neo4j JVM; default 0: the cold run counts
                           against the history); listed in the report
  --ops-load               the ops endpoints (/healthz, /readyz, /metrics) under a bounded
                           loopback load with a WAL of 100,000 messages and the sink down,
                           against the same load with an empty WAL (no apiserver needed)
`;

interface Options {
  tier: Tier;
  sinks: SinkKind[];
  sinkArg: string;
  churnSeconds: number;
  rates: number[];
  idleSeconds: number;
  topologyChurnSeconds: number;
  skip: Set<string>;
  fresh: boolean;
  cleanup: boolean;
  cleanupOnly: boolean;
  out: string;
  threads: number;
  baselineConcurrency: number;
  keep: boolean;
  sinkOnly: boolean;
  opsLoad: boolean;
  history: boolean;
  historyPairs: number;
  historyWarmup: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      tier: { type: "string", default: "S" },
      sink: { type: "string", default: "sqlite" },
      "churn-seconds": { type: "string" },
      rates: { type: "string" },
      "idle-seconds": { type: "string" },
      "topology-churn-seconds": { type: "string" },
      skip: { type: "string", default: "" },
      fresh: { type: "boolean", default: false },
      cleanup: { type: "boolean", default: false },
      "cleanup-only": { type: "boolean", default: false },
      out: { type: "string" },
      threads: { type: "string", default: "0" },
      "baseline-concurrency": { type: "string", default: "16" },
      keep: { type: "boolean", default: false },
      "sink-only": { type: "boolean", default: false },
      "ops-load": { type: "boolean", default: false },
      history: { type: "boolean", default: false },
      "history-pairs": { type: "string", default: "2" },
      "history-warmup": { type: "string", default: "0" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const tier = tierByName(values.tier!);
  const sinkArg = values.sink!;
  if (!["sqlite", "neo4j", "both"].includes(sinkArg)) throw new Error(`--sink must be sqlite, neo4j or both (not ${sinkArg})`);
  const num = (v: string | undefined, fallback: number, what: string): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a non-negative number (not ${v})`);
    return n;
  };
  const rates = values.rates
    ? values.rates
        .split(",")
        .map((r) => num(r.trim(), 0, "--rates"))
        .filter((r) => r > 0)
    : values.history
      ? [200]
      : tier.churnRates;
  return {
    tier,
    sinks: sinkArg === "both" ? ["sqlite", "neo4j"] : [sinkArg as SinkKind],
    sinkArg,
    churnSeconds: num(values["churn-seconds"], tier.churnSeconds, "--churn-seconds"),
    rates,
    idleSeconds: num(values["idle-seconds"], tier.idleSeconds, "--idle-seconds"),
    topologyChurnSeconds: num(values["topology-churn-seconds"], tier.topologyChurnSeconds, "--topology-churn-seconds"),
    skip: new Set(
      values
        .skip!.split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    fresh: values.fresh!,
    cleanup: values.cleanup!,
    cleanupOnly: values["cleanup-only"]!,
    out: resolve(values.out ?? join(repoRoot, "bench/results")),
    threads: num(values.threads, 0, "--threads"),
    baselineConcurrency: Math.max(1, num(values["baseline-concurrency"], 16, "--baseline-concurrency")),
    keep: values.keep!,
    sinkOnly: values["sink-only"]!,
    opsLoad: values["ops-load"]!,
    history: values.history!,
    historyPairs: Math.max(1, Math.round(num(values["history-pairs"], 2, "--history-pairs"))),
    historyWarmup: Math.max(0, Math.round(num(values["history-warmup"], 0, "--history-warmup"))),
  };
}

const t0 = Date.now();
function say(line: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
}

async function apiserverVersion(kube: KubeWriter): Promise<string> {
  const res = await kube.must<{ gitVersion?: string }>("GET", "/version");
  return res.body.gitVersion ?? "unknown";
}

interface SinkRunContext {
  env: DevEnvState;
  kube: KubeWriter;
  options: Options;
  setup: SetupResult;
  workDir: string;
  baselineSeconds: number;
  clusterWideSeconds: number;
  listed: Record<string, number>;
  exclude: string[];
}

function completeness(graph: GraphCounts | { error: string }, listed: Record<string, number>): string[] {
  if ("error" in graph) return [graph.error];
  const problems: string[] = [];
  for (const [resource, n] of Object.entries(listed)) {
    const label = LABEL_OF[resource]!;
    const got = graph.observed[label] ?? 0;
    if (got !== n) problems.push(`${label}: ${got} observed nodes, ${n} objects listed`);
  }
  return problems;
}

async function runSink(sink: SinkKind, ctx: SinkRunContext, history = false, run = 0): Promise<SinkResult> {
  const { env, options } = ctx;
  const dir = join(ctx.workDir, `main-${sink}${history ? "-history" : ""}${run ? `-${run}` : ""}`);
  if (sink === "neo4j") {
    const removed = await cleanNeo4j(env);
    if (removed) say(`neo4j: removed ${removed} node(s) of an earlier bench run (keys bench/… and ${"registry.bench.example"}…)`);
  }
  const config = writeAgentConfig({ dir, env, sink, resources: RESOURCES, exclude: ctx.exclude, threads: options.threads, history });
  say(`${sink}: starting the agent (initial sync${history ? ", history kept" : ""})`);
  const historySize = (): HistorySize | null => {
    if (!config.historyPath) return null;
    const reader = HistoryReader.open(config.historyPath);
    try {
      return reader.size();
    } finally {
      reader.close();
    }
  };
  // With a file of its own (Neo4j) the history records from its inbox after the graph
  // commits: how long until it caught up (its inbox empty).
  const inbox = config.historyPath && config.historyPath !== config.graphPath ? inboxFile(config.historyPath) : null;
  const historyCatchUp = async (fromMs: number): Promise<number | undefined> => {
    if (!inbox) return undefined;
    for (;;) {
      let waiting = 1;
      try {
        const db = new Database(inbox, { readonly: true, fileMustExist: true });
        try {
          waiting = (db.prepare("SELECT count(*) AS n FROM inbox").get() as { n: number }).n;
        } finally {
          db.close();
        }
      } catch {
        // Not made yet.
      }
      if (waiting === 0) return (Date.now() - fromMs) / 1000;
      if (Date.now() - fromMs > 30 * 60_000) throw new Error(`the history's inbox ${inbox} still holds ${waiting} entries 30 min after the graph was complete`);
      await sleep(100);
    }
  };
  const agent = new AgentRun(config.file, sink, join(dir, "agent.log"), env);
  try {
    const ready = await agent.waitFor("ready", 120_000);
    const started = await agent.waitFor("started", 120_000);
    const synced = await agent.waitFor("synced", 60 * 60_000);
    const complete = await agent.waitFor("complete", 60 * 60_000);
    const completeAt = Math.max(complete.lastCommitAt, synced.at);
    const syncSample = agent.sampler.take();
    const seconds = (completeAt - started.at) / 1000;
    const startupSeconds = (started.at - agent.spawnedAt) / 1000;
    const stats = complete.stats;
    const cpuSeconds = stats.cpuSeconds - ready.stats.cpuSeconds;
    let graph: GraphCounts | { error: string };
    try {
      const namespaces = ctx.setup.plans.map((p) => p.name);
      graph = sink === "sqlite" ? sqliteCounts(config.graphPath, namespaces) : await neo4jCounts(env, Object.values(LABEL_OF), namespaces);
    } catch (error) {
      graph = { error: `graph not readable: ${describeError(error)}` };
    }
    const problems = completeness(graph, ctx.listed);
    say(
      `${sink}: graph complete after ${seconds.toFixed(2)} s (${(seconds / ctx.baselineSeconds).toFixed(2)}x baseline)${problems.length ? ` — INCOMPLETE: ${problems.join("; ")}` : ""}`,
    );

    const catchUpAfterSyncSeconds = await historyCatchUp(completeAt);
    if (catchUpAfterSyncSeconds !== undefined) say(`${sink}: the history caught up ${catchUpAfterSyncSeconds.toFixed(2)} s after the graph was complete`);
    const historyAfterSync = historySize();
    // Idle: steady RSS and CPU with nothing changing.
    await sleep(2_000);
    const i0 = agent.sampler.take()!;
    await sleep(options.idleSeconds * 1000);
    const i1 = agent.sampler.take()!;
    const idleWindow = agent.sampler.between(i0.at, i1.at);
    const steadyRss = median(idleWindow.map((s) => s.rssBytes));
    const threads = threadCount(agent.pid);

    let churn: SinkResult["churn"] = null;
    if (!options.skip.has("churn") && options.rates.length > 0 && options.churnSeconds > 0) {
      const tracker = new CommitTracker();
      agent.onCommits = (at, items) => tracker.onCommits(at, items);
      agent.track(true);
      const probeTracker = new CommitTracker();
      const probe = new WatchProbe(env.kubeconfig, await resourcesOf(RESOURCES), new Set(ctx.setup.plans.map((p) => p.name)), (at, items) =>
        probeTracker.onCommits(at, items),
      );
      await probe.start();
      const generator = new ChurnGenerator(ctx.kube, options.tier, ctx.setup.plans, ctx.setup.replicaSetUids);
      const steps: ChurnStepResult[] = [];
      for (const rate of options.rates) {
        say(`${sink}: churn at ${rate}/s for ${options.churnSeconds} s`);
        const step = await generator.step({
          rate,
          seconds: options.churnSeconds,
          tracker,
          probe: probeTracker,
          agent: agent.sampler,
          drainTimeoutMs: Math.max(30_000, options.churnSeconds * 1000),
        });
        steps.push(step);
        say(
          `${sink}:   achieved ${step.achievedRate}/s, latency p50 ${step.latencyMs.p50} ms, p99 ${step.latencyMs.p99} ms, max ${step.latencyMs.max} ms` +
            ` (raw watch p50 ${step.watchLatencyMs?.p50} ms, p99 ${step.watchLatencyMs?.p99} ms)` +
            `${step.unconfirmed ? `, ${step.unconfirmed} unconfirmed` : ""}${step.sustained ? "" : " (not sustained)"}`,
        );
        await sleep(1_000);
      }
      agent.track(false);
      await probe.stop();
      const sustained = steps.filter((s) => s.sustained).map((s) => s.targetRate);
      churn = { secondsPerRate: options.churnSeconds, steps, highestSustainedRate: sustained.length ? Math.max(...sustained) : null };
    }
    const catchUpAfterChurnSeconds = churn ? await historyCatchUp(Date.now()) : undefined;
    const historyAfterChurn = churn ? historySize() : null;
    const final = await agent.stop();
    const peak = Math.max(...agent.sampler.samples.map((s) => s.hwmBytes));
    return {
      sink,
      ...(historyAfterSync
        ? {
            history: {
              afterSync: historyAfterSync,
              afterChurn: historyAfterChurn,
              ...(catchUpAfterSyncSeconds === undefined ? {} : { catchUpAfterSyncSeconds }),
              ...(catchUpAfterChurnSeconds === undefined ? {} : { catchUpAfterChurnSeconds }),
            },
          }
        : {}),
      sync: {
        seconds,
        startupSeconds,
        listedSeconds: (synced.at - started.at) / 1000,
        discoverySeconds: (synced.observersAt - started.at) / 1000,
        workerStartSeconds: (synced.firstActiveAt - synced.observersAt) / 1000,
        ratioToBaseline: seconds / ctx.baselineSeconds,
        ratioToClusterWideBaseline: seconds / ctx.clusterWideSeconds,
        ratioWithStartup: (seconds + startupSeconds) / ctx.baselineSeconds,
        observers: stats.observers,
        objects: stats.objects,
        messagesCommitted: stats.messagesCommitted,
        walBytesWritten: stats.walBytesWritten,
        walMessagesWritten: stats.walMessagesWritten,
        peakWalDepth: stats.peakWalDepth,
        peakWalBytes: stats.peakWalBytes,
        rowsWritten: stats.rows,
        sinkApplySeconds: stats.sinkApplyMs / 1000,
        cpuSeconds,
        cpuSecondsPer1000Objects: stats.objects ? (cpuSeconds / stats.objects) * 1000 : Number.NaN,
        graph,
        complete: problems.length === 0,
        completenessProblems: problems,
      },
      memory: {
        peakRssBytes: peak,
        syncPeakRssBytes: syncSample?.hwmBytes ?? 0,
        steadyRssBytes: steadyRss,
        steadyRssPerObjectBytes: stats.objects ? steadyRss / stats.objects : Number.NaN,
        threads,
      },
      idle: { seconds: options.idleSeconds, cpuPercentOfCore: cpuPercent(i0, i1), namespaces: ctx.setup.plans.length },
      churn,
      final,
    };
  } finally {
    await agent.stop();
    if (!options.skip.has("churn")) await removeChurnObjects(ctx.kube, options.tier);
    // Neo4j is shared with everyone using the local environment: leave nothing behind.
    if (sink === "neo4j") await cleanNeo4j(env).catch((error: unknown) => say(`neo4j: clean-up failed: ${describeError(error)}`));
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { tier } = options;
  if (options.opsLoad) {
    await opsLoadMain({ messages: 100_000, requests: 2_000, concurrency: 16, out: options.out, say });
    return;
  }
  if (options.sinkOnly) {
    await sinkOnlyMain({ tier, sinks: options.sinks, sinkArg: options.sinkArg, out: options.out, keep: options.keep, say });
    return;
  }
  const startedAt = new Date();
  const phase: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const s = Date.now();
    try {
      return await fn();
    } finally {
      phase[name] = (Date.now() - s) / 1000;
    }
  };
  if (tier.manual) say(`tier ${tier.name} is a manual tier: creating it takes a long time, and so does its clean-up`);

  const { state: env } = await timed("environment", () => up((line) => say(`env: ${line}`)));
  const kube = new KubeWriter(env);
  if (options.cleanupOnly) {
    try {
      await cleanupTier(kube, tier, say);
      const removed = await cleanNeo4j(env).catch(() => 0);
      say(`clean-up issued (namespaces terminate in the background)${removed ? `; ${removed} bench node(s) removed from Neo4j` : ""}`);
    } finally {
      kube.close();
    }
    return;
  }
  const workDir = mkdtempSync(join(tmpdir(), "kube-observer-bench-"));
  let failed = false;
  try {
    const loadAtStart = loadavg();
    const setup = await timed("setup", () => ensureTier(kube, tier, { fresh: options.fresh, say }));
    say(`setup: ${setup.seconds.toFixed(1)} s (${setup.requests} requests)`);
    const tierNamespaces = setup.plans.map((p) => p.name);

    const baseline = await timed("baseline", () =>
      measureBaseline({
        kubeconfig: env.kubeconfig,
        resourceNames: RESOURCES,
        namespaces: tierNamespaces,
        pageSize: PAGE_SIZE,
        concurrency: options.baselineConcurrency,
        runs: 2,
      }),
    );
    const listed = baseline.perNamespace.byResource;
    say(
      `baseline: ${baseline.perNamespace.seconds.toFixed(3)} s per-namespace (${baseline.perNamespace.objects} objects, ${baseline.perNamespace.requests} requests), ${baseline.clusterWide.seconds.toFixed(3)} s cluster-wide`,
    );

    const expected = {
      pod: tier.pods,
      configmap: tier.configmaps + tier.namespaces,
      secret: tier.secrets,
      serviceaccount: setup.plans.reduce((s, p) => s + p.serviceaccounts, 0) + tier.namespaces,
      persistentvolumeclaim: setup.plans.reduce((s, p) => s + p.pvcs, 0),
    };
    for (const [r, n] of Object.entries(expected)) if (listed[r] !== n) say(`warning: ${listed[r]} ${r}s listed in the tier's namespaces, ${n} expected`);

    const allNamespaces = (await kube.listAll("/api/v1/namespaces")).map((n) => n.metadata!.name!);
    const tierSet = new Set(tierNamespaces);
    const ctx: SinkRunContext = {
      env,
      kube,
      options,
      setup,
      workDir,
      baselineSeconds: baseline.perNamespace.seconds,
      clusterWideSeconds: baseline.clusterWide.seconds,
      listed,
      exclude: allNamespaces.filter((n) => !tierSet.has(n)),
    };
    if (options.history) {
      // On and off in mirrored pairs (on, off, off, on, …): the machine's drift falls on both
      // alike, and the first, cold run of a sink (Neo4j's JVM warming up) counts against
      // the history, never for it.
      const runs: Array<{ sink: SinkKind; history: boolean; result: SinkResult }> = [];
      const warmups: Array<{ sink: SinkKind; result: SinkResult }> = [];
      const order = Array.from({ length: options.historyPairs }, (_, i) => (i % 2 === 0 ? [true, false] : [false, true])).flat();
      for (const sink of options.sinks) {
        for (let w = 0; w < options.historyWarmup; w++)
          warmups.push({ sink, result: await timed(`${sink} warm-up (${w + 1})`, () => runSink(sink, ctx, false, 100 + w)) });
        for (const [i, history] of order.entries()) {
          runs.push({
            sink,
            history,
            result: await timed(`${sink} ${history ? "with" : "without"} history (${i + 1})`, () => runSink(sink, ctx, history, i + 1)),
          });
        }
      }
      const files = writeHistoryReport(options.out, {
        tier,
        warmups,
        sinkArg: options.sinkArg,
        command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
        machine: machineFacts(loadAtStart),
        baselineSeconds: baseline.perNamespace.seconds,
        startedAt: startedAt.toISOString(),
        wallSeconds: (Date.now() - t0) / 1000,
        runs,
      });
      say(`wrote ${files.json} and ${files.markdown}`);
      return;
    }
    const results: BenchResult["results"] = {};
    for (const sink of options.sinks) results[sink] = await timed(`sync, idle and churn (${sink})`, () => runSink(sink, ctx));

    let topology: BenchResult["topology"] = null;
    if (!options.skip.has("topology")) {
      topology = await timed("topology", () =>
        measureTopology({
          env,
          kube,
          tier,
          workDir,
          resources: RESOURCES,
          namespaces: [...tierNamespaces, ...setup.fillerNames],
          plans: setup.plans,
          replicaSetUids: setup.replicaSetUids,
          idleSeconds: options.idleSeconds,
          churnSeconds: options.topologyChurnSeconds,
          churnRate: tier.topologyChurnRate,
          threads: options.threads,
          say,
        }),
      );
      await removeChurnObjects(kube, tier);
    }

    const versions = {
      kubeApiserver: await apiserverVersion(kube),
      etcd: `${env.versions.etcd} (pinned)`,
      neo4j: options.sinks.includes("neo4j")
        ? await neo4jVersion(env).catch(() => `Neo4j ${env.versions.neo4j} (pinned)`)
        : `Neo4j ${env.versions.neo4j} (pinned; not used in this run)`,
    };
    const result: BenchResult = {
      schemaVersion: RESULT_SCHEMA_VERSION,
      tier: tier.name,
      tierSpec: tier,
      sinks: options.sinkArg,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      wallSeconds: (Date.now() - t0) / 1000,
      phaseSeconds: phase,
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
      machine: machineFacts(loadAtStart),
      versions,
      setup: {
        seconds: setup.seconds,
        reusedNamespaces: setup.reusedNamespaces,
        filledNamespaces: setup.filledNamespaces,
        fillerNamespaces: setup.fillers,
        requests: setup.requests,
        leftoversRemoved: setup.leftoversRemoved,
        objectsPerSecond: setup.filledNamespaces > 0 ? setup.requests / setup.seconds : null,
      },
      objects: { expected, listed, total: baseline.perNamespace.objects },
      baseline,
      results,
      topology,
      bytesPerObject: null,
      targets: [],
    };
    result.bytesPerObject = crossTierBytesPerObject(options.out, result);
    result.targets = evaluateTargets(result);
    if (options.cleanup) await timed("cleanup", () => cleanupTier(kube, tier, say));
    result.wallSeconds = (Date.now() - t0) / 1000;
    result.phaseSeconds = phase;
    const files = writeResult(options.out, result);
    process.stdout.write(`${consoleSummary(result)}\n\n`);
    say(`wrote ${files.json} and ${files.markdown} (${result.wallSeconds.toFixed(0)} s end to end)`);
  } catch (error) {
    failed = true;
    say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    say(`work directory kept for inspection: ${workDir}`);
    process.exitCode = 1;
  } finally {
    kube.close();
    if (!failed && !options.keep) rmSync(workDir, { recursive: true, force: true });
    else if (!failed) say(`work directory kept: ${workDir}`);
  }
}

main().catch((error: unknown) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
