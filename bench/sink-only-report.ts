// `npm run bench -- --sink-only`: runs bench/sink-only.ts and writes
// bench/results/<tier>-sink-only.json and .md (the machine it ran on, each sink against
// its baseline, and the issue 13 targets).
import { machineFacts, type MachineFacts } from "./machine.js";
import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { readState, up, type DevEnvState } from "../scripts/devenv/env.js";
import { neo4jVersion } from "./graph-check.js";
import { runSinkOnly, type SinkOnlyResult } from "./sink-only.js";
import type { Tier } from "./tiers.js";

/** Issue 13's targets for the sink-only bench, rows/s. */
export const SINK_ONLY_TARGETS: Record<SinkOnlyResult["sink"], number> = { neo4j: 30_000, sqlite: 150_000 };

export interface SinkOnlyReport {
  kind: "sink-only";
  tier: string;
  command: string;
  startedAt: string;
  wallSeconds: number;
  machine: MachineFacts;
  versions: { sqlite: string; neo4j: string | null };
  messages: number;
  generateSeconds: number;
  results: SinkOnlyResult[];
  targets: Array<{ sink: string; target: number; measured: number; met: boolean }>;
}

export async function sinkOnlyMain(options: {
  tier: Tier;
  sinks: Array<"sqlite" | "neo4j">;
  sinkArg: string;
  out: string;
  keep: boolean;
  say: (line: string) => void;
}): Promise<void> {
  const started = Date.now();
  const loadAtStart = loadavg();
  let env: DevEnvState | undefined;
  if (options.sinks.includes("neo4j")) env = readState() ?? (await up((line) => options.say(`env: ${line}`))).state;
  const workDir = mkdtempSync(join(tmpdir(), "kube-observer-sink-only-"));
  try {
    const { results, messages, generateSeconds } = await runSinkOnly({ tier: options.tier, sinks: options.sinks, workDir, env, say: options.say });
    const probe = new Database(":memory:");
    const sqliteVersion = (probe.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v;
    probe.close();
    const report: SinkOnlyReport = {
      kind: "sink-only",
      tier: options.tier.name,
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
      startedAt: new Date(started).toISOString(),
      wallSeconds: (Date.now() - started) / 1000,
      machine: machineFacts(loadAtStart),
      versions: {
        sqlite: `SQLite ${sqliteVersion} (better-sqlite3)`,
        neo4j: env ? await neo4jVersion(env).catch(() => `Neo4j ${env!.versions.neo4j} (pinned)`) : null,
      },
      messages,
      generateSeconds,
      results,
      targets: results.map((r) => ({
        sink: r.sink,
        target: SINK_ONLY_TARGETS[r.sink],
        measured: r.rowsPerSecond,
        met: r.rowsPerSecond >= SINK_ONLY_TARGETS[r.sink],
      })),
    };
    mkdirSync(options.out, { recursive: true });
    const base = join(options.out, `${options.tier.name}-sink-only${options.sinkArg === "both" ? "" : `-${options.sinkArg}`}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, renderSinkOnly(report));
    process.stdout.write(`${renderSinkOnly(report)}\n`);
    options.say(`wrote ${base}.json and ${base}.md`);
  } finally {
    if (!options.keep) rmSync(workDir, { recursive: true, force: true });
  }
}

const n0 = (x: number): string => Math.round(x).toLocaleString("en-US");
const n1 = (x: number): string => x.toFixed(1);
const n2 = (x: number): string => x.toFixed(2);

export function renderSinkOnly(r: SinkOnlyReport): string {
  const m = r.machine;
  const lines = [
    `# Sink-only bench, tier ${r.tier}`,
    "",
    `\`${r.command}\`, ${r.startedAt}, ${n0(r.wallSeconds)} s end to end.`,
    "",
    `Machine: ${m.cores} × ${m.cpuModel}, ${n1(m.memoryBytes / 2 ** 30)} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; load average ${m.loadAverageAtStart.map(n2).join("/")} at start, ${m.loadAverageAtEnd.map(n2).join("/")} at end. ${r.versions.sqlite}${r.versions.neo4j ? `; ${r.versions.neo4j}` : ""}.`,
    "",
    `The tier's initial-sync stream (${n0(r.messages)} messages, generated, reduced and translated in ${n1(r.generateSeconds)} s, outside the timing) replayed into each sink in the dispatcher's batches; only \`sink.apply\` is timed. The baseline writes the same rows the simplest way, in the same run.`,
    "",
    "| | " + r.results.map((x) => x.sink).join(" | ") + " |",
    "|---|" + r.results.map(() => "---|").join(""),
  ];
  const row = (label: string, f: (x: SinkOnlyResult) => string): void => void lines.push(`| ${label} | ${r.results.map(f).join(" | ")} |`);
  row("ops (upserts + sweeps) / batches", (x) => `${n0(x.ops)} / ${x.batches}`);
  row(
    "rows: nodes + owned + placeholders + edges + links",
    (x) =>
      `${n0(x.rows)} = ${n0(x.rowKinds.nodes)} + ${n0(x.rowKinds.owned)} + ${n0(x.rowKinds.placeholders)} + ${n0(x.rowKinds.edges)} + ${n0(x.rowKinds.links)}`,
  );
  row("graph afterwards: nodes / edges", (x) => `${n0(x.graph.nodes)} / ${n0(x.graph.edges)}`);
  row("seconds inside the sink", (x) => n2(x.seconds));
  row("**rows/s**", (x) => `**${n0(x.rowsPerSecond)}**`);
  row("ops/s", (x) => n0(x.opsPerSecond));
  row("statements (SQLite) / queries (Neo4j) per op", (x) => `${x.statementsPerOp.toPrecision(3)} (${n0(x.statements)} in all)`);
  row("seconds in the batches holding a relist boundary", (x) => n2(x.secondsInSweepBatches));
  row("slowest batch", (x) => `${n2(x.slowestBatch.seconds)} s (${x.slowestBatch.ops} ops, ${x.slowestBatch.sweeps} sweep(s))`);
  row("baseline: seconds / rows/s", (x) => `${n2(x.baseline.seconds)} / ${n0(x.baseline.rowsPerSecond)}`);
  row("baseline statements / queries", (x) => n0(x.baseline.statements));
  row("sink rows/s of the baseline's", (x) => `${(x.ofBaseline * 100).toFixed(0)} %`);
  for (const x of r.results) {
    lines.push(
      "",
      `Where the time inside the ${x.sink} sink goes (the statements${x.sink === "neo4j" ? "/queries, from run() until the result is in" : ""} that took longest):`,
      "",
      "| seconds | count | statement |",
      "|---|---|---|",
    );
    for (const t of x.topStatements) lines.push(`| ${n2(t.seconds)} | ${n0(t.count)} | \`${t.statement.replace(/\|/g, "\\|")}\` |`);
    // Neo4j's writes are pipelined (sent before the previous one answered): their times overlap.
    const rest =
      x.statementSeconds < x.seconds
        ? `the other ${n2(x.seconds - x.statementSeconds)} s of the ${n2(x.seconds)} are commits and the sink's own code`
        : `more than the ${n2(x.seconds)} s inside the sink: the queries are pipelined, so their times overlap`;
    lines.push(`| ${n2(x.statementSeconds)} | ${n0(x.statements)} | all statements together; ${rest} |`);
  }
  lines.push("", "Baselines:");
  for (const x of r.results) lines.push(`- ${x.sink}: ${x.baseline.what}.`);
  lines.push("", "| target (issue 13) | measured | |", "|---|---|---|");
  for (const t of r.targets)
    lines.push(`| ${t.sink} ≥ ${n0(t.target)} rows/s | ${n0(t.measured)} | ${t.met ? "met" : `**missed** (${n1(t.target / t.measured)}× short)`} |`);
  lines.push("");
  return `${lines.join("\n")}\n`;
}
