// The result file (bench/results/<tier>-<sink>.json), its Markdown summary, the table
// printed at the end, and the targets of the issue (stated for tier M; evaluated on
// every tier so that a small run shows where it stands).
import type { MachineFacts } from "./machine.js";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BaselineResult } from "./baseline.js";
import type { ChurnStepResult } from "./churn.js";
import type { GraphCounts } from "./graph-check.js";
import type { HostStats, RowCounts } from "./protocol.js";
import type { Tier } from "./tiers.js";

export const RESULT_SCHEMA_VERSION = 1;

export interface SyncResult {
  /** agent.start() to the graph complete (every object's node and edges committed). */
  seconds: number;
  /** Process spawn to agent.start(): config evaluation (dhall-to-json), plugins, sink open. */
  startupSeconds: number;
  /** agent.start() to every observer having delivered its first complete list to the WAL. */
  listedSeconds: number;
  /** agent.start() to the supervisor's observers existing (namespace discovery). */
  discoverySeconds: number;
  /** Observers created to the first one running in its worker thread (thread start-up). */
  workerStartSeconds: number;
  ratioToBaseline: number;
  ratioToClusterWideBaseline: number;
  /** (startup + sync) / baseline. */
  ratioWithStartup: number;
  observers: number;
  objects: number;
  messagesCommitted: number;
  walBytesWritten: number | null;
  walMessagesWritten: number;
  peakWalDepth: number;
  peakWalBytes: number;
  rowsWritten: RowCounts;
  sinkApplySeconds: number;
  cpuSeconds: number;
  cpuSecondsPer1000Objects: number;
  graph: GraphCounts | { error: string };
  /** Observed nodes per label equal the baseline's object counts. */
  complete: boolean;
  completenessProblems: string[];
}

export interface HistorySize {
  nodeVersions: number;
  edgeVersions: number;
  bytes: number;
}

export interface SinkResult {
  sink: "sqlite" | "neo4j";
  /** With history kept (bench/history-cost.ts): its size after the sync and after churn. */
  history?: {
    afterSync: HistorySize;
    afterChurn: HistorySize | null;
    /** With a history file of its own (Neo4j): seconds from the graph complete until the
     *  history's inbox was empty (everything recorded), after the sync and after churn. */
    catchUpAfterSyncSeconds?: number;
    catchUpAfterChurnSeconds?: number;
  };
  sync: SyncResult;
  memory: {
    /** VmHWM over the whole run (sync and churn). */
    peakRssBytes: number;
    /** VmHWM when the graph was complete. */
    syncPeakRssBytes: number;
    /** Median VmRSS in the idle window after the sync. */
    steadyRssBytes: number;
    /** steady RSS / objects: an upper bound (includes the runtime and threads). */
    steadyRssPerObjectBytes: number;
    threads: number;
  };
  idle: { seconds: number; cpuPercentOfCore: number; namespaces: number };
  churn: { secondsPerRate: number; steps: ChurnStepResult[]; highestSustainedRate: number | null } | null;
  final: HostStats | undefined;
}

export interface TopologyModeResult {
  mode: "per-namespace" | "cluster-wide";
  namespaces: number;
  observers: number;
  objects: number;
  syncSeconds: number;
  sockets: number;
  /** Sockets the kube-apiserver holds (every client's, not only the agent's). */
  apiserverSockets: number;
  agentRssBytes: number;
  agentIdleCpuPercent: number;
  apiserverRssBytes: number;
  apiserverRssBeforeBytes: number;
  apiserverIdleCpuPercent: number;
  churn: ChurnStepResult | null;
}

export interface TopologyResult {
  namespaces: number;
  idleSeconds: number;
  sink: "sqlite";
  modes: TopologyModeResult[];
  note: string;
}

export interface BenchResult {
  schemaVersion: number;
  tier: string;
  tierSpec: Tier;
  sinks: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  phaseSeconds: Record<string, number>;
  command: string;
  machine: MachineFacts;
  versions: { kubeApiserver: string; etcd: string; neo4j: string };
  setup: {
    seconds: number;
    reusedNamespaces: number;
    filledNamespaces: number;
    fillerNamespaces: number;
    requests: number;
    leftoversRemoved: number;
    objectsPerSecond: number | null;
  };
  objects: { expected: Record<string, number>; listed: Record<string, number>; total: number };
  baseline: BaselineResult;
  results: Partial<Record<"sqlite" | "neo4j", SinkResult>>;
  topology: TopologyResult | null;
  bytesPerObject: { from: string; to: string; bytes: number; basis: string } | null;
  targets: Array<{ name: string; target: string; value: string; met: boolean | null }>;
}

const MB = 1024 * 1024;
const mb = (b: number): string => `${(b / MB).toFixed(1)} MB`;
const fix = (v: number | null | undefined, d = 2): string => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(d));
const ms = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)} ms` : "n/a");

export function evaluateTargets(r: BenchResult): BenchResult["targets"] {
  const t: BenchResult["targets"] = [];
  const sq = r.results.sqlite;
  const n4 = r.results.neo4j;
  if (sq)
    t.push({ name: "initial sync into SQLite / baseline", target: "≤ 1.5×", value: `${fix(sq.sync.ratioToBaseline)}×`, met: sq.sync.ratioToBaseline <= 1.5 });
  if (n4) t.push({ name: "initial sync into Neo4j / baseline", target: "≤ 2×", value: `${fix(n4.sync.ratioToBaseline)}×`, met: n4.sync.ratioToBaseline <= 2 });
  for (const s of [sq, n4]) {
    const step = s?.churn?.steps.find((x) => x.targetRate === 200);
    if (!s || !step) continue;
    t.push({ name: `churn 200/s p99 (${s.sink})`, target: "< 1 s", value: ms(step.latencyMs.p99), met: step.latencyMs.p99 < 1000 });
    const floor = step.watchLatencyMs?.p50;
    if (floor !== undefined) {
      t.push({
        name: `churn 200/s p50 over the raw-watch floor (${s.sink})`,
        target: "≤ 300 ms",
        value: `${ms(step.latencyMs.p50 - floor)} (p50 ${ms(step.latencyMs.p50)}, floor ${ms(floor)})`,
        met: step.latencyMs.p50 - floor <= 300,
      });
    }
    t.push({ name: `churn 200/s lag not growing (${s.sink})`, target: "no", value: step.lagGrowing ? "growing" : "steady", met: !step.lagGrowing });
  }
  for (const s of [sq, n4]) {
    if (!s) continue;
    t.push({ name: `agent peak RSS (${s.sink})`, target: "< 300 MB", value: mb(s.memory.peakRssBytes), met: s.memory.peakRssBytes < 300 * MB });
    t.push({ name: `agent steady RSS (${s.sink})`, target: "< 200 MB", value: mb(s.memory.steadyRssBytes), met: s.memory.steadyRssBytes < 200 * MB });
  }
  // Negative: the smaller tier's RSS was the higher (e.g. its cluster-wide LISTs read and
  // dropped the larger tier's objects): no growth figure, not a met target.
  if (r.bytesPerObject && r.bytesPerObject.bytes < 0)
    t.push({
      name: `RSS growth per object (${r.bytesPerObject.from}→${r.bytesPerObject.to})`,
      target: "< 2 KB",
      value: `not measurable (${Math.round(r.bytesPerObject.bytes)} B: the smaller tier's RSS was higher)`,
      met: null,
    });
  else if (r.bytesPerObject)
    t.push({
      name: `RSS growth per object (${r.bytesPerObject.from}→${r.bytesPerObject.to})`,
      target: "< 2 KB",
      value: `${Math.round(r.bytesPerObject.bytes)} B`,
      met: r.bytesPerObject.bytes < 2048,
    });
  else t.push({ name: "RSS growth per object (S→M)", target: "< 2 KB", value: "needs S and M results", met: null });
  const cluster = r.topology?.modes.find((m) => m.mode === "cluster-wide");
  if (cluster) {
    t.push({
      name: `apiserver sockets, ${cluster.namespaces} namespaces, ${cluster.observers} resources`,
      target: "≤ 2 per resource",
      value: `${cluster.sockets}`,
      met: cluster.sockets <= 2 * cluster.observers,
    });
    t.push({
      name: `idle CPU, ${cluster.namespaces} namespaces watched (default topology)`,
      target: "< 3 % of a core",
      value: `${fix(cluster.agentIdleCpuPercent)} %`,
      met: cluster.agentIdleCpuPercent < 3,
    });
  }
  const per = r.topology?.modes.find((m) => m.mode === "per-namespace");
  if (per)
    t.push({
      name: `idle CPU, ${per.namespaces} namespaces watched (per-namespace)`,
      target: "< 3 % of a core",
      value: `${fix(per.agentIdleCpuPercent)} %`,
      met: per.agentIdleCpuPercent < 3,
    });
  return t;
}

/** RSS growth per object between this tier and another one's result in the same directory. */
export function crossTierBytesPerObject(outDir: string, current: BenchResult): BenchResult["bytesPerObject"] {
  const order = ["XS", "S", "M", "L"];
  const others: BenchResult[] = [];
  if (!existsSync(outDir)) return null;
  for (const f of readdirSync(outDir)) {
    if (!f.endsWith(".json")) continue;
    try {
      const r = JSON.parse(readFileSync(join(outDir, f), "utf8")) as BenchResult;
      if (r.schemaVersion === RESULT_SCHEMA_VERSION && r.tier !== current.tier && r.tier !== "XS") others.push(r);
    } catch {
      /* not ours */
    }
  }
  if (current.tier === "XS") return null;
  // The default topology's steady RSS (the SQLite run after its sync) where both have it.
  const steady = (r: BenchResult): { rss: number; objects: number } | undefined =>
    r.results.sqlite ? { rss: r.results.sqlite.memory.steadyRssBytes, objects: r.results.sqlite.sync.objects } : undefined;
  const mineSteady = steady(current);
  // The tier farthest in objects: the difference is least drowned by the fixed part.
  const otherSteady = others
    .filter((r) => steady(r))
    .sort((a, b) => Math.abs(steady(b)!.objects - (mineSteady?.objects ?? 0)) - Math.abs(steady(a)!.objects - (mineSteady?.objects ?? 0)))[0];
  if (mineSteady && otherSteady) {
    const theirs = steady(otherSteady)!;
    const [small, large, sName, lName] =
      order.indexOf(otherSteady.tier) < order.indexOf(current.tier)
        ? [theirs, mineSteady, otherSteady.tier, current.tier]
        : [mineSteady, theirs, current.tier, otherSteady.tier];
    if (large.objects > small.objects) {
      return {
        from: sName,
        to: lName,
        bytes: (large.rss - small.rss) / (large.objects - small.objects),
        basis: `steady RSS after the SQLite sync, default topology (${small.objects} vs ${large.objects} objects)`,
      };
    }
  }
  if (!current.topology) return null;
  const pick = (r: BenchResult): TopologyModeResult | undefined => r.topology?.modes.find((m) => m.mode === "per-namespace");
  const mine = pick(current);
  const other = others.sort((a, b) => order.indexOf(a.tier) - order.indexOf(b.tier)).find((r) => pick(r));
  if (!mine || !other) return null;
  const theirs = pick(other)!;
  const [small, large, sName, lName] =
    order.indexOf(other.tier) < order.indexOf(current.tier) ? [theirs, mine, other.tier, current.tier] : [mine, theirs, current.tier, other.tier];
  if (large.objects <= small.objects) return null;
  return {
    from: sName,
    to: lName,
    bytes: (large.agentRssBytes - small.agentRssBytes) / (large.objects - small.objects),
    basis: `idle RSS of the per-namespace topology runs (${small.namespaces} vs ${large.namespaces} namespaces, ${small.objects} vs ${large.objects} objects)`,
  };
}

export function writeResult(outDir: string, r: BenchResult): { json: string; markdown: string } {
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `${r.tier}-${r.sinks}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(r));
  return { json: `${base}.json`, markdown: `${base}.md` };
}

function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");
}

export function markdown(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`# kube-observer benchmark — tier ${r.tier}, sink ${r.sinks}`);
  out.push("");
  out.push(`${r.startedAt} · ${r.wallSeconds.toFixed(0)} s end to end · \`${r.command}\``);
  out.push("");
  out.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; load average ${m.loadAverageAtStart.map((x) => x.toFixed(2)).join("/")} at start, ${m.loadAverageAtEnd.map((x) => x.toFixed(2)).join("/")} at end. ` +
      `kube-apiserver ${r.versions.kubeApiserver}, etcd ${r.versions.etcd}, ${r.versions.neo4j}. The apiserver, etcd, kube-controller-manager, Neo4j, the agent and the load generator share the machine.`,
  );
  out.push("");
  const tier = r.tierSpec;
  out.push(
    `Tier ${r.tier}: ${tier.namespaces} namespaces, ${tier.pods} pods, ${tier.configmaps} ConfigMaps, ${tier.secrets} Secrets, ${tier.serviceaccounts} ServiceAccounts, ${tier.pvcs} PVCs ` +
      `(${r.objects.total} objects listed, with each namespace's default ServiceAccount and kube-root-ca.crt). Set-up: ${r.setup.reusedNamespaces} namespaces reused, ${r.setup.filledNamespaces} filled (${r.setup.seconds.toFixed(1)} s, ${r.setup.requests} requests).`,
  );
  out.push("");
  out.push("## Targets (stated for tier M)");
  out.push("");
  out.push(
    table(
      ["target", "goal", "this run", "met"],
      r.targets.map((t) => [t.name, t.target, t.value, t.met === null ? "—" : t.met ? "yes" : "**no**"]),
    ),
  );
  out.push("");
  out.push("## Initial sync");
  out.push("");
  const b = r.baseline;
  out.push(
    `Baseline (the floor): paged LIST (limit ${b.pageSize}) through core/kube/client.ts, parsed, nothing else. Per-namespace — the agent's own scopes, ${b.concurrency} at a time: ` +
      `**${b.perNamespace.seconds.toFixed(3)} s** (${b.perNamespace.requests} requests, ${b.perNamespace.objects} objects; runs ${b.perNamespace.allRunsSeconds.join(", ")} s). ` +
      `Cluster-wide, one LIST per resource: ${b.clusterWide.seconds.toFixed(3)} s (${b.clusterWide.objects} objects, including namespaces outside the tier).`,
  );
  out.push("");
  const sinks = Object.values(r.results);
  out.push(
    table(
      ["", ...sinks.map((s) => s.sink)],
      [
        ["agent.start() → graph complete", ...sinks.map((s) => `${s.sync.seconds.toFixed(2)} s`)],
        ["ratio to baseline", ...sinks.map((s) => `**${fix(s.sync.ratioToBaseline)}×**`)],
        ["ratio to cluster-wide LIST", ...sinks.map((s) => `${fix(s.sync.ratioToClusterWideBaseline)}×`)],
        ["start-up before agent.start() (config, plugins, sink)", ...sinks.map((s) => `${s.sync.startupSeconds.toFixed(2)} s`)],
        ["ratio including start-up", ...sinks.map((s) => `${fix(s.sync.ratioWithStartup)}×`)],
        ["of which: namespace discovery", ...sinks.map((s) => `${s.sync.discoverySeconds.toFixed(2)} s`)],
        ["of which: observer threads starting", ...sinks.map((s) => `${s.sync.workerStartSeconds.toFixed(2)} s`)],
        ["every list delivered to the WAL", ...sinks.map((s) => `${s.sync.listedSeconds.toFixed(2)} s`)],
        ["observers", ...sinks.map((s) => String(s.sync.observers))],
        ["objects / messages committed", ...sinks.map((s) => `${s.sync.objects} / ${s.sync.messagesCommitted}`)],
        ["WAL bytes written", ...sinks.map((s) => (s.sync.walBytesWritten === null ? "n/a" : mb(s.sync.walBytesWritten)))],
        ["peak WAL depth (messages / bytes)", ...sinks.map((s) => `${s.sync.peakWalDepth} / ${mb(s.sync.peakWalBytes)}`)],
        [
          "rows written to the sink",
          ...sinks.map(
            (s) =>
              `${s.sync.rowsWritten.total} (nodes ${s.sync.rowsWritten.nodes}, owned ${s.sync.rowsWritten.owned}, placeholders ${s.sync.rowsWritten.placeholders}, edges ${s.sync.rowsWritten.edges})`,
          ),
        ],
        ["time inside sink.apply", ...sinks.map((s) => `${s.sync.sinkApplySeconds.toFixed(2)} s`)],
        ["graph (nodes / edges)", ...sinks.map((s) => ("error" in s.sync.graph ? s.sync.graph.error : `${s.sync.graph.nodes} / ${s.sync.graph.edges}`))],
        ["complete", ...sinks.map((s) => (s.sync.complete ? "yes" : `**no**: ${s.sync.completenessProblems.join("; ")}`))],
        ["CPU seconds (per 1,000 objects)", ...sinks.map((s) => `${s.sync.cpuSeconds.toFixed(2)} (${s.sync.cpuSecondsPer1000Objects.toFixed(3)})`)],
      ],
    ),
  );
  out.push("");
  out.push("## Memory and CPU");
  out.push("");
  out.push(
    table(
      ["", ...sinks.map((s) => s.sink)],
      [
        ["peak RSS (VmHWM, whole run)", ...sinks.map((s) => mb(s.memory.peakRssBytes))],
        ["peak RSS at sync end", ...sinks.map((s) => mb(s.memory.syncPeakRssBytes))],
        ["steady RSS (idle, after sync)", ...sinks.map((s) => mb(s.memory.steadyRssBytes))],
        ["steady RSS / object (upper bound)", ...sinks.map((s) => `${Math.round(s.memory.steadyRssPerObjectBytes)} B`)],
        [
          `idle CPU (${sinks[0]?.idle.namespaces ?? 0} namespaces, ${sinks[0]?.idle.seconds ?? 0} s)`,
          ...sinks.map((s) => `${fix(s.idle.cpuPercentOfCore)} % of a core`),
        ],
        ["threads", ...sinks.map((s) => String(s.memory.threads))],
      ],
    ),
  );
  if (r.bytesPerObject) {
    out.push("");
    out.push(`RSS growth per object ${r.bytesPerObject.from}→${r.bytesPerObject.to}: **${Math.round(r.bytesPerObject.bytes)} B** (${r.bytesPerObject.basis}).`);
  }
  for (const s of sinks) {
    if (!s.churn) continue;
    out.push("");
    out.push(`## Live churn — ${s.sink} (${s.churn.secondsPerRate} s per rate)`);
    out.push("");
    out.push(churnTable(s.churn.steps));
    out.push("");
    out.push(`Highest rate sustained without the lag growing: **${s.churn.highestSustainedRate === null ? "none" : `${s.churn.highestSustainedRate}/s`}**.`);
  }
  if (r.topology) {
    const t = r.topology;
    out.push("");
    out.push(`## Watch topology (${t.namespaces} namespaces, SQLite sink, idle window ${t.idleSeconds} s)`);
    out.push("");
    out.push(
      table(
        ["", ...t.modes.map((x) => x.mode)],
        [
          ["observers", ...t.modes.map((x) => String(x.observers))],
          ["objects", ...t.modes.map((x) => String(x.objects))],
          ["start → graph complete", ...t.modes.map((x) => `${x.syncSeconds.toFixed(1)} s`)],
          ["sockets held by the agent / by the apiserver", ...t.modes.map((x) => `${x.sockets} / ${x.apiserverSockets}`)],
          ["agent RSS (idle)", ...t.modes.map((x) => mb(x.agentRssBytes))],
          ["agent idle CPU", ...t.modes.map((x) => `${fix(x.agentIdleCpuPercent)} %`)],
          ["apiserver RSS before → idle", ...t.modes.map((x) => `${mb(x.apiserverRssBeforeBytes)} → ${mb(x.apiserverRssBytes)}`)],
          ["apiserver idle CPU", ...t.modes.map((x) => `${fix(x.apiserverIdleCpuPercent)} %`)],
          ...(t.modes.some((x) => x.churn)
            ? [
                [`churn ${t.modes[0]?.churn?.targetRate ?? ""}/s achieved`, ...t.modes.map((x) => (x.churn ? `${x.churn.achievedRate}/s` : "—"))],
                [
                  "churn latency p50 / p99 / max",
                  ...t.modes.map((x) => (x.churn ? `${ms(x.churn.latencyMs.p50)} / ${ms(x.churn.latencyMs.p99)} / ${ms(x.churn.latencyMs.max)}` : "—")),
                ],
                [
                  "raw watch p50 / p99 (floor)",
                  ...t.modes.map((x) => (x.churn?.watchLatencyMs ? `${ms(x.churn.watchLatencyMs.p50)} / ${ms(x.churn.watchLatencyMs.p99)}` : "—")),
                ],
              ]
            : []),
        ],
      ),
    );
    out.push("");
    out.push(t.note);
  }
  out.push("");
  out.push("## Phases");
  out.push("");
  out.push(
    table(
      ["phase", "seconds"],
      Object.entries(r.phaseSeconds).map(([k, v]) => [k, v.toFixed(1)]),
    ),
  );
  out.push("");
  out.push("How each number is measured: bench/README.md.");
  out.push("");
  return out.join("\n");
}

function churnTable(steps: ChurnStepResult[]): string {
  return table(
    [
      "target/s",
      "achieved/s",
      "writes ok/failed",
      "p50",
      "p99",
      "max",
      "raw watch p50 / p99",
      "API write p50",
      "lag 1st→4th quarter (p50)",
      "slope",
      "drain",
      "unconfirmed",
      "agent CPU (ms/change)",
      "load-gen CPU",
      "sustained",
    ],
    steps.map((s) => [
      String(s.targetRate),
      String(s.achievedRate),
      `${s.writesOk}/${s.writesFailed}`,
      ms(s.latencyMs.p50),
      ms(s.latencyMs.p99),
      ms(s.latencyMs.max),
      s.watchLatencyMs ? `${ms(s.watchLatencyMs.p50)} / ${ms(s.watchLatencyMs.p99)}` : "—",
      ms(s.apiLatencyMs.p50),
      `${ms(s.firstQuarterP50Ms)} → ${ms(s.lastQuarterP50Ms)}`,
      `${s.lagSlopeMsPerS} ms/s`,
      s.drainMs < 0 ? "timed out" : ms(s.drainMs),
      String(s.unconfirmed),
      `${fix(s.agentCpuPercent, 0)} % (${fix(s.agentCpuMsPerChange, 1)})`,
      `${fix(s.loadGeneratorCpuPercent, 0)} %`,
      s.sustained ? "yes" : `no (${s.limitedBy.join(", ") || "?"})`,
    ]),
  );
}

/** The console summary. */
export function consoleSummary(r: BenchResult): string {
  const lines: string[] = [];
  const sinks = Object.values(r.results);
  const pad = (s: string, n: number): string => s.padEnd(n);
  lines.push("");
  lines.push(
    `tier ${r.tier}: ${r.objects.total} objects in ${r.tierSpec.namespaces} namespaces · baseline ${r.baseline.perNamespace.seconds.toFixed(3)} s (per-namespace LIST), ${r.baseline.clusterWide.seconds.toFixed(3)} s (cluster-wide)`,
  );
  lines.push("");
  const rows: string[][] = [["", ...sinks.map((s) => s.sink)]];
  rows.push(["initial sync", ...sinks.map((s) => `${s.sync.seconds.toFixed(2)} s`)]);
  rows.push(["ratio to baseline", ...sinks.map((s) => `${fix(s.sync.ratioToBaseline)}x`)]);
  rows.push(["ratio incl. start-up", ...sinks.map((s) => `${fix(s.sync.ratioWithStartup)}x`)]);
  rows.push(["graph complete", ...sinks.map((s) => (s.sync.complete ? "yes" : "NO"))]);
  rows.push([
    "WAL bytes / peak depth",
    ...sinks.map((s) => `${s.sync.walBytesWritten === null ? "n/a" : mb(s.sync.walBytesWritten)} / ${s.sync.peakWalDepth}`),
  ]);
  rows.push(["rows written", ...sinks.map((s) => String(s.sync.rowsWritten.total))]);
  rows.push(["CPU s / 1k objects", ...sinks.map((s) => s.sync.cpuSecondsPer1000Objects.toFixed(3))]);
  rows.push(["peak / steady RSS", ...sinks.map((s) => `${mb(s.memory.peakRssBytes)} / ${mb(s.memory.steadyRssBytes)}`)]);
  rows.push([`idle CPU (${sinks[0]?.idle.namespaces ?? 0} ns)`, ...sinks.map((s) => `${fix(s.idle.cpuPercentOfCore)} %`)]);
  for (const rate of sinks[0]?.churn?.steps.map((s) => s.targetRate) ?? []) {
    rows.push([
      `churn ${rate}/s p50/p99/max`,
      ...sinks.map((s) => {
        const step = s.churn?.steps.find((x) => x.targetRate === rate);
        return step
          ? `${ms(step.latencyMs.p50)}/${ms(step.latencyMs.p99)}/${ms(step.latencyMs.max)} @${step.achievedRate}/s${step.sustained ? "" : ` (not sustained: ${step.limitedBy.join(", ")})`}`
          : "—";
      }),
    ]);
  }
  rows.push([
    "highest sustained rate",
    ...sinks.map((s) => (s.churn ? (s.churn.highestSustainedRate === null ? "none" : `${s.churn.highestSustainedRate}/s`) : "—")),
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  for (const row of rows) lines.push(row.map((c, i) => pad(c, widths[i]!)).join("  "));
  if (r.topology) {
    lines.push("");
    const t = r.topology;
    const trows: string[][] = [["topology", ...t.modes.map((m) => m.mode)]];
    trows.push(["observers / sockets", ...t.modes.map((m) => `${m.observers} / ${m.sockets}`)]);
    trows.push(["sync", ...t.modes.map((m) => `${m.syncSeconds.toFixed(1)} s`)]);
    trows.push(["agent RSS / idle CPU", ...t.modes.map((m) => `${mb(m.agentRssBytes)} / ${fix(m.agentIdleCpuPercent)} %`)]);
    trows.push(["apiserver RSS / idle CPU", ...t.modes.map((m) => `${mb(m.apiserverRssBytes)} / ${fix(m.apiserverIdleCpuPercent)} %`)]);
    trows.push([
      "churn p50/p99",
      ...t.modes.map((m) => (m.churn ? `${ms(m.churn.latencyMs.p50)}/${ms(m.churn.latencyMs.p99)} @${m.churn.achievedRate}/s` : "—")),
    ]);
    const w = trows[0]!.map((_, i) => Math.max(...trows.map((row) => (row[i] ?? "").length)));
    for (const row of trows) lines.push(row.map((c, i) => pad(c, w[i]!)).join("  "));
  }
  lines.push("");
  lines.push("targets (stated for tier M):");
  for (const t of r.targets) lines.push(`  ${t.met === null ? "-" : t.met ? "ok  " : "MISS"} ${t.name}: ${t.value} (goal ${t.target})`);
  return lines.join("\n");
}
