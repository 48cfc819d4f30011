// `npm run bench -- --history`: what keeping the history costs. The same agent runs with
// history on and off in mirrored pairs (--history-pairs), per sink; compared: the initial sync (and
// the time inside sink.apply), churn latency at the given rates, and the history's bytes
// per object after the sync and per change under churn. Target (issue 17): under 15 %
// added to sync time and to churn latency.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MachineFacts } from "./machine.js";
import type { SinkResult } from "./report.js";
import type { Tier } from "./tiers.js";

export interface HistoryCostInput {
  tier: Tier;
  sinkArg: string;
  command: string;
  machine: MachineFacts;
  baselineSeconds: number;
  startedAt: string;
  wallSeconds: number;
  runs: Array<{ sink: "sqlite" | "neo4j"; history: boolean; result: SinkResult }>;
  /** Runs without history before the pairs (--history-warmup), not compared. */
  warmups?: Array<{ sink: "sqlite" | "neo4j"; result: SinkResult }>;
}

const TARGET = 0.15;
export const mean = (values: readonly number[]): number => values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);
export const pct = (on: number, off: number): string => (off === 0 ? "—" : `${on >= off ? "+" : ""}${(((on - off) / off) * 100).toFixed(1)} %`);
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

interface Summary {
  syncSeconds: number[];
  applySeconds: number[];
  p50: number[];
  p99: number[];
  achieved: number[];
  watchP50: number[];
}

function summarize(results: readonly SinkResult[]): Summary {
  const steps = results.flatMap((r) => r.churn?.steps ?? []);
  return {
    syncSeconds: results.map((r) => r.sync.seconds),
    applySeconds: results.map((r) => r.sync.sinkApplySeconds),
    p50: steps.map((s) => s.latencyMs.p50),
    p99: steps.map((s) => s.latencyMs.p99),
    achieved: steps.map((s) => s.achievedRate),
    watchP50: steps.flatMap((s) => (s.watchLatencyMs ? [s.watchLatencyMs.p50] : [])),
  };
}

/** Neighbouring runs (on, off or off, on) share the machine's state: their difference is
 *  the history's cost with the least drift in it. */
function pairRows(runs: HistoryCostInput["runs"]): string[] {
  const rows: string[] = [];
  for (const sink of ["sqlite", "neo4j"] as const) {
    const mine = runs.filter((r) => r.sink === sink);
    const pairs: Array<{ on: SinkResult; off: SinkResult }> = [];
    for (let i = 0; i + 1 < mine.length; i += 2) {
      const [a, b] = [mine[i]!, mine[i + 1]!];
      if (a.history !== b.history) pairs.push(a.history ? { on: a.result, off: b.result } : { on: b.result, off: a.result });
    }
    if (pairs.length === 0) continue;
    const p50 = (r: SinkResult) => r.churn?.steps[0]?.latencyMs.p50;
    rows.push(`| ${sink} | initial sync | ${pairs.map((p) => pct(p.on.sync.seconds, p.off.sync.seconds)).join(", ")} |`);
    rows.push(
      `| ${sink} | churn p50 | ${pairs.map((p) => (p50(p.on) !== undefined && p50(p.off) !== undefined ? pct(p50(p.on)!, p50(p.off)!) : "—")).join(", ")} |`,
    );
  }
  return rows;
}

export function writeHistoryReport(outDir: string, input: HistoryCostInput): { json: string; markdown: string } {
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `history-${input.tier.name}-${input.sinkArg}`);
  const m = input.machine;
  const lines: string[] = [
    `# kube-observer benchmark — the history's cost, tier ${input.tier.name}`,
    "",
    `${input.startedAt} · ${input.wallSeconds.toFixed(0)} s end to end · \`${input.command}\``,
    "",
    `Machine: ${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; load average ${m.loadAverageAtStart.map((l) => l.toFixed(2)).join("/")} at start, ${m.loadAverageAtEnd.map((l) => l.toFixed(2)).join("/")} at end. The apiserver, etcd, kube-controller-manager, Neo4j, the agent and the load generator share the machine.`,
    "",
    `Tier ${input.tier.name}: ${input.tier.namespaces} namespaces, ${input.tier.pods} pods, ${input.tier.configmaps} ConfigMaps, ${input.tier.secrets} Secrets, ${input.tier.serviceaccounts} ServiceAccounts, ${input.tier.pvcs} PVCs. Baseline (paged per-namespace LIST of the same objects, this run): ${input.baselineSeconds.toFixed(3)} s.`,
    "",
    `Each sink ran ${input.runs.length / Math.max(1, new Set(input.runs.map((r) => r.sink)).size)} times, history on and off in mirrored pairs (on, off, off, on, …; the same objects, the same churn): ${input.warmups?.length ? "after warm-up runs without history, not compared (below)" : "a cold first run counts against the history"}. Compared: the means; every run is listed, in order.`,
    "",
    ...(input.warmups?.length
      ? [
          `Warm-up, not compared: ${input.warmups
            .map(
              (w) =>
                `${w.sink} sync ${w.result.sync.seconds.toFixed(2)} s${w.result.churn?.steps[0] ? `, churn p50 ${w.result.churn.steps[0].latencyMs.p50} ms` : ""}`,
            )
            .join("; ")}.`,
          "",
        ]
      : []),
  ];
  const verdicts: Array<{ sink: string; what: string; off: number; on: number; met: boolean }> = [];
  for (const sink of ["sqlite", "neo4j"] as const) {
    const runs = input.runs.filter((r) => r.sink === sink);
    if (runs.length === 0) continue;
    const off = summarize(runs.filter((r) => !r.history).map((r) => r.result));
    const on = summarize(runs.filter((r) => r.history).map((r) => r.result));
    const onRuns = runs.filter((r) => r.history).map((r) => r.result);
    const caughtUp = onRuns.flatMap((r) => (r.history?.catchUpAfterSyncSeconds === undefined ? [] : [r.sync.seconds + r.history.catchUpAfterSyncSeconds]));
    const churnCatchUp = onRuns.flatMap((r) => (r.history?.catchUpAfterChurnSeconds === undefined ? [] : [r.history.catchUpAfterChurnSeconds]));
    const row = (what: string, a: number[], b: number[], unit: string, judged: boolean) => {
      const mOff = mean(a);
      const mOn = mean(b);
      if (judged) verdicts.push({ sink, what, off: mOff, on: mOn, met: (mOn - mOff) / mOff < TARGET });
      return `| ${what} | ${a.map((v) => v.toFixed(unit === "s" ? 2 : 0)).join(", ")} ${unit} | ${b.map((v) => v.toFixed(unit === "s" ? 2 : 0)).join(", ")} ${unit} | ${pct(mOn, mOff)} |`;
    };
    lines.push(
      `## ${sink}`,
      "",
      "| | history off | history on | added (means) |",
      "|---|---|---|---|",
      row("initial sync (agent.start() → graph complete)", off.syncSeconds, on.syncSeconds, "s", true),
      row("of which inside sink.apply", off.applySeconds, on.applySeconds, "s", false),
      ...(caughtUp.length > 0 ? [row("initial sync until the history too has recorded it (its inbox empty)", off.syncSeconds, caughtUp, "s", false)] : []),
      row(`churn p50 latency (write → commit) at ${input.runs[0]?.result.churn?.steps.map((s) => s.targetRate).join(", ")}/s`, off.p50, on.p50, "ms", true),
      row("churn p99 latency", off.p99, on.p99, "ms", false),
      row("churn achieved rate", off.achieved, on.achieved, "/s", false),
      row("raw watch p50 during churn (the machine's own delay, no agent)", off.watchP50, on.watchP50, "ms", false),
      "",
      ...(caughtUp.length > 0
        ? [
            `With Neo4j the history records each batch from its inbox after Neo4j committed it, in a thread of lower CPU priority (core/history/history-copy.ts): the graph is complete first, the history ${onRuns
              .map((r) => r.history?.catchUpAfterSyncSeconds?.toFixed(1))
              .join(
                ", ",
              )} s later after the sync${churnCatchUp.length ? `, ${churnCatchUp.map((v) => v.toFixed(1)).join(", ")} s after the churn ended` : ""}.`,
            "",
          ]
        : []),
    );
    const sized = runs.filter((r) => r.history && r.result.history);
    if (sized.length > 0) {
      lines.push("| history kept | after the sync | after churn | per object (sync) | per change (churn) |", "|---|---|---|---|---|");
      for (const r of sized) {
        const h = r.result.history!;
        const objects = r.result.sync.objects;
        const changes = (r.result.churn?.steps ?? []).reduce((n, s) => n + s.writesOk, 0);
        const churnBytes = h.afterChurn ? h.afterChurn.bytes - h.afterSync.bytes : null;
        lines.push(
          `| ${h.afterSync.nodeVersions} node and ${h.afterSync.edgeVersions} edge versions → ${h.afterChurn ? `${h.afterChurn.nodeVersions} and ${h.afterChurn.edgeVersions}` : "—"} | ${mb(h.afterSync.bytes)} | ${h.afterChurn ? mb(h.afterChurn.bytes) : "—"} | ${objects ? (h.afterSync.bytes / objects).toFixed(0) : "—"} B | ${churnBytes !== null && changes ? `${(churnBytes / changes).toFixed(0)} B (${changes} writes)` : "—"} |`,
        );
      }
      lines.push(
        "",
        sink === "sqlite"
          ? "Bytes: the history's tables and indexes in the graph's file (SQLite dbstat: the versions that ended) plus the stamp columns of the graph's rows (the versions that hold: 6 bytes of time, the resourceVersion, the kind, a header byte each), without the graph's own."
          : "Bytes: the history's tables and indexes in its file beside the WAL (SQLite dbstat: the versions that ended) plus the stamp columns of its copy of the current graph (the versions that hold); the rest of that copy is not counted here.",
        "",
      );
    }
  }
  lines.push(
    "## Target: under 15 % added",
    "",
    "| sink | measure | off | on | added | met |",
    "|---|---|---|---|---|---|",
    ...verdicts.map((v) => `| ${v.sink} | ${v.what} | ${v.off.toFixed(2)} | ${v.on.toFixed(2)} | ${pct(v.on, v.off)} | ${v.met ? "yes" : "**no**"} |`),
    "",
    "Judged on the means. For the spread, each pair of neighbouring runs (one on, one off, in the order run):",
    "",
    "| sink | measure | added, pair by pair |",
    "|---|---|---|",
    ...pairRows(input.runs),
    "",
  );
  writeFileSync(`${base}.md`, `${lines.join("\n")}\n`);
  writeFileSync(
    `${base}.json`,
    `${JSON.stringify({ ...input, runs: input.runs.map((r) => ({ sink: r.sink, history: r.history, result: r.result })) }, null, 2)}\n`,
  );
  return { json: `${base}.json`, markdown: `${base}.md` };
}
