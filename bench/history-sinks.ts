// What the history adds inside the sinks alone, without the apiserver or the WAL: the
// tier's initial-sync stream (bench/sink-stream.ts) replayed into each sink in the
// dispatcher's batches, then changes of pods in batches of 10 (a property changed, as a
// label update does), with history on and off in mirrored pairs. For Neo4j "on" is the
// agent's arrangement: Neo4j plus the history's SQLite copy beside it (HistoryTeeSink).
// Only sink.apply is timed; the baseline is the same sink without history, in the same run.
//
//   npm run env:up && bash scripts/node/run.sh node dist/bench/history-sinks.js [--tier M] [--pairs 2] [--sink both|sqlite|neo4j] [--out DIR]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { GraphOp, GraphSink } from "../core/graph/model.js";
import { combinedSchema } from "../core/graph/open-sink.js";
import { SqliteGraphSink } from "../core/graph/sqlite-sink.js";
import { HistoryCopyThread } from "../core/history/history-copy.js";
import { HistoryTeeSink } from "../core/history/tee-sink.js";
import pino from "pino";
import { loadPlugins } from "../core/plugin/registry.js";
import { readState } from "../scripts/devenv/env.js";
import { cleanNeo4j } from "./graph-check.js";
import { mean, pct } from "./history-cost.js";
import { machineFacts } from "./machine.js";
import { median } from "./measure.js";
import { opBatches, tierMessages } from "./sink-stream.js";
import { tierByName } from "./tiers.js";

const { values } = parseArgs({
  options: {
    tier: { type: "string", default: "M" },
    pairs: { type: "string", default: "2" },
    sink: { type: "string", default: "both" },
    out: { type: "string", default: "bench/results" },
  },
});
const tier = tierByName(values.tier!);
const pairs = Math.max(1, Number(values.pairs));
const kinds = values.sink === "both" ? (["sqlite", "neo4j"] as const) : [values.sink as "sqlite" | "neo4j"];
const CHANGES = 2_000;
const CHANGE_BATCH = 10;
const loadAtStart = loadavg();
const say = (line: string) => console.log(`[history-sinks] ${line}`);

const { plugins } = await loadPlugins([]);
const batches = opBatches(tierMessages(tier, plugins), plugins);
const pods = batches.flat().filter((op): op is Extract<GraphOp, { op: "upsert" }> => op.op === "upsert" && op.node.label === "Pod");
/** Each change: a pod again with one property changed (its edges as they were). */
const changes = (round: number): GraphOp[][] => {
  const out: GraphOp[][] = [];
  for (let i = 0; i < CHANGES; i += CHANGE_BATCH) {
    out.push(
      Array.from({ length: CHANGE_BATCH }, (_, j) => {
        const op = pods[((i + j) * 7) % pods.length]!;
        return { ...op, node: { ...op.node, properties: { ...op.node.properties, benchRound: `${round}-${i + j}` } } };
      }),
    );
  }
  return out;
};
const env = kinds.includes("neo4j") ? readState() : undefined;
if (kinds.includes("neo4j") && !env) throw new Error("Neo4j is not running: start the local environment first (npm run env:up)");
const workDir = mkdtempSync(join(tmpdir(), "kube-observer-history-sinks-"));

interface Run {
  sink: "sqlite" | "neo4j";
  history: boolean;
  syncSeconds: number;
  changeP50Ms: number;
  changeTotalSeconds: number;
  /** Neo4j with history: the seconds of the sync inside Neo4j's own apply (the rest is waiting
   *  for the history's copy, in its own thread). */
  innerSyncSeconds?: number;
  /** Neo4j with history: seconds after the sync until the history's thread had recorded
   *  everything from its inbox. */
  catchUpSeconds?: number;
}

/** Seconds spent inside a sink's apply, summed. */
function timeApply(sink: GraphSink): { seconds: number } {
  const spent = { seconds: 0 };
  const apply = sink.apply.bind(sink);
  sink.apply = async (ops) => {
    const started = performance.now();
    try {
      await apply(ops);
    } finally {
      spent.seconds += (performance.now() - started) / 1000;
    }
  };
  return spent;
}

async function open(
  kind: "sqlite" | "neo4j",
  history: boolean,
  n: number,
): Promise<{ sink: GraphSink; inner?: { seconds: number }; copy?: HistoryCopyThread }> {
  const file = (name: string) => {
    const path = join(workDir, `${name}-${n}.sqlite`);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
    return path;
  };
  if (kind === "sqlite") return { sink: new SqliteGraphSink(file("graph"), { history }) };
  await cleanNeo4j(env!);
  const { Neo4jSink } = await import("../core/graph/neo4j-sink.js");
  const neo4j = await Neo4jSink.connect({ uri: env!.neo4j.boltUrl, username: env!.neo4j.user, password: env!.neo4j.password });
  if (!history) return { sink: neo4j };
  const inner = timeApply(neo4j);
  // As the agent keeps it: in a thread of its own.
  const copy = await HistoryCopyThread.open(file("history"), { log: pino({ level: "warn" }) });
  return { sink: new HistoryTeeSink(neo4j, copy), inner, copy };
}

const runs: Run[] = [];
const order = Array.from({ length: pairs }, (_, i) => (i % 2 === 0 ? [true, false] : [false, true])).flat();
for (const kind of kinds) {
  for (const [n, history] of order.entries()) {
    const { sink, inner, copy } = await open(kind, history, n);
    try {
      await sink.init(combinedSchema(plugins.values()));
      let started = performance.now();
      for (const ops of batches) await sink.apply(ops);
      const syncSeconds = (performance.now() - started) / 1000;
      const innerSyncSeconds = inner?.seconds;
      const drainStarted = performance.now();
      const catchUpSeconds = copy && (await copy.drained()) ? (performance.now() - drainStarted) / 1000 : undefined;
      const latencies: number[] = [];
      for (const ops of changes(n)) {
        started = performance.now();
        await sink.apply(ops);
        latencies.push(performance.now() - started);
      }
      const run: Run = {
        sink: kind,
        history,
        syncSeconds,
        changeP50Ms: median(latencies),
        changeTotalSeconds: latencies.reduce((a, b) => a + b, 0) / 1000,
        ...(innerSyncSeconds === undefined ? {} : { innerSyncSeconds }),
        ...(catchUpSeconds === undefined ? {} : { catchUpSeconds }),
      };
      runs.push(run);
      say(
        `${kind} history ${history ? "on " : "off"}: sync ${syncSeconds.toFixed(2)} s, a batch of ${CHANGE_BATCH} changes p50 ${run.changeP50Ms.toFixed(1)} ms`,
      );
    } finally {
      await sink.close();
      if (kind === "neo4j") await cleanNeo4j(env!);
    }
  }
}
rmSync(workDir, { recursive: true, force: true });

const facts = { ...machineFacts(loadAtStart), loadAverageAtEnd: loadavg() };
const lines = [
  `# kube-observer benchmark — the history inside the sinks, tier ${tier.name}`,
  "",
  `${new Date().toISOString()} · \`node dist/bench/history-sinks.js ${process.argv.slice(2).join(" ")}\``.replace(/ `$/, "`"),
  "",
  `Machine: ${facts.cores} × ${facts.cpuModel}, ${(facts.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${facts.node}, load average ${facts.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")} at start, ${facts.loadAverageAtEnd.map((l) => l.toFixed(2)).join(" ")} at end.`,
  "",
  `The tier's initial-sync stream (${batches.length} batches, ${batches.flat().length} ops) replayed into each sink, then ${CHANGES} pod changes in batches of ${CHANGE_BATCH}; only \`sink.apply\` is timed (no apiserver, no WAL). History on and off in mirrored pairs (on, off, off, on, …). Neo4j with history is Neo4j plus the history's SQLite copy, as the agent runs it.`,
  "",
  "| sink | measure | history off | history on | added (means) |",
  "|---|---|---|---|---|",
];
for (const kind of kinds) {
  const off = runs.filter((r) => r.sink === kind && !r.history);
  const on = runs.filter((r) => r.sink === kind && r.history);
  const row = (what: string, pick: (r: Run) => number, unit: string) =>
    `| ${kind} | ${what} | ${off.map((r) => pick(r).toFixed(unit === "s" ? 2 : 1)).join(", ")} ${unit} | ${on.map((r) => pick(r).toFixed(unit === "s" ? 2 : 1)).join(", ")} ${unit} | ${pct(mean(on.map(pick)), mean(off.map(pick)))} |`;
  lines.push(
    row("initial sync, inside sink.apply", (r) => r.syncSeconds, "s"),
    row(`a batch of ${CHANGE_BATCH} pod changes, p50`, (r) => r.changeP50Ms, "ms"),
  );
  if (kind === "neo4j" && on.length > 0)
    lines.push(
      `| neo4j | of the sync with history: inside Neo4j's own apply (alone: the run without history) | ${off.map((r) => r.syncSeconds.toFixed(2)).join(", ")} s | ${on.map((r) => (r.innerSyncSeconds ?? 0).toFixed(2)).join(", ")} s | ${pct(mean(on.map((r) => r.innerSyncSeconds ?? 0)), mean(off.map((r) => r.syncSeconds)))} |`,
      `| neo4j | the sync until the history too has recorded it (its inbox empty) | ${off.map((r) => r.syncSeconds.toFixed(2)).join(", ")} s | ${on.map((r) => (r.syncSeconds + (r.catchUpSeconds ?? 0)).toFixed(2)).join(", ")} s | ${pct(mean(on.map((r) => r.syncSeconds + (r.catchUpSeconds ?? 0))), mean(off.map((r) => r.syncSeconds)))} |`,
    );
}
lines.push(
  "",
  "The history's copy runs in a thread of its own (core/history/history-copy.ts), as in the agent: a batch Neo4j committed is appended to the history's inbox, and the thread records it from there at a lower CPU priority; where Neo4j's own apply takes longer beside it than alone, the two compete for the machine's cores (Neo4j's server runs on the same machine).",
);
mkdirSync(resolve(values.out!), { recursive: true });
const out = resolve(join(values.out!, `history-sinks-${tier.name}.md`));
writeFileSync(out, `${lines.join("\n")}\n`);
say(`wrote ${out}`);
