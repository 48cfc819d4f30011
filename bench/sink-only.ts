// `npm run bench -- --sink-only [--tier M] [--sink sqlite|neo4j|both]`: the sinks alone.
// Replays the tier's initial-sync stream (sink-stream.ts) into each sink, timing only
// sink.apply. Reported: rows/s (rows = nodes, owned nodes, placeholders and edges the ops
// carry, as the main bench counts them), ops/s, statements (SQLite) or queries (Neo4j)
// per op and where their time goes (statement-counter.ts), and a baseline measured in the
// same run (sink-baselines.ts): the same rows inserted the simplest way.
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { GraphOp, GraphSink } from "../core/graph/model.js";
import { combinedSchema } from "../core/graph/open-sink.js";
import { SqliteGraphSink } from "../core/graph/sqlite-sink.js";
import { loadPlugins } from "../core/plugin/registry.js";
import type { DevEnvState } from "../scripts/devenv/env.js";
import { cleanNeo4j } from "./graph-check.js";
import { neo4jBaseline, sqliteBaseline, type Baseline } from "./sink-baselines.js";
import { countRows, opBatches, tierMessages, type RowCounts } from "./sink-stream.js";
import { StatementCounter } from "./statement-counter.js";
import type { Tier } from "./tiers.js";

export interface SinkOnlyResult {
  sink: "sqlite" | "neo4j";
  messages: number;
  ops: number;
  batches: number;
  rows: number;
  rowKinds: RowCounts;
  /** Seconds inside sink.apply, summed over the batches. */
  seconds: number;
  rowsPerSecond: number;
  opsPerSecond: number;
  /** SQLite statements executed / Neo4j queries run, per op. */
  statementsPerOp: number;
  statements: number;
  /** The batch that took longest, and what it held. */
  slowestBatch: { seconds: number; ops: number; sweeps: number };
  /** Seconds in batches that contain a relist boundary (sweep) vs. the others. */
  secondsInSweepBatches: number;
  /** Where the time inside the sink goes: the statements or queries that took longest. */
  topStatements: Array<{ statement: string; count: number; seconds: number }>;
  /** Seconds of all statements or queries together (the rest: commits, the sink's own code). */
  statementSeconds: number;
  baseline: Baseline;
  /** rows/s of the sink against the baseline's. */
  ofBaseline: number;
  graph: { nodes: number; edges: number };
}

async function replay(
  sink: GraphSink,
  batches: readonly GraphOp[][],
  counter: StatementCounter,
): Promise<{ seconds: number; statements: number; slowest: SinkOnlyResult["slowestBatch"]; inSweeps: number }> {
  let seconds = 0;
  let inSweeps = 0;
  let slowest = { seconds: 0, ops: 0, sweeps: 0 };
  const before = counter.count;
  for (const ops of batches) {
    const started = performance.now();
    await sink.apply(ops);
    const s = (performance.now() - started) / 1000;
    seconds += s;
    const sweeps = ops.filter((o) => o.op === "sweep").length;
    if (sweeps > 0) inSweeps += s;
    if (s > slowest.seconds) slowest = { seconds: s, ops: ops.length, sweeps };
  }
  return { seconds, statements: counter.count - before, slowest, inSweeps };
}

async function graphSize(sink: GraphSink): Promise<{ nodes: number; edges: number }> {
  const stats = await sink.stats();
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  return { nodes: sum(stats.nodes), edges: sum(stats.edges) };
}

export interface SinkOnlyOptions {
  tier: Tier;
  sinks: Array<"sqlite" | "neo4j">;
  workDir: string;
  /** Needed for Neo4j. */
  env?: DevEnvState;
  say: (line: string) => void;
}

export async function runSinkOnly(options: SinkOnlyOptions): Promise<{ results: SinkOnlyResult[]; messages: number; generateSeconds: number }> {
  const { tier, say } = options;
  const { plugins } = await loadPlugins([]);
  const t = performance.now();
  const messages = tierMessages(tier, plugins);
  const batches = opBatches(messages, plugins);
  const generateSeconds = (performance.now() - t) / 1000;
  const rows = countRows(batches);
  say(
    `sink-only: ${messages.length} messages → ${rows.ops} ops in ${batches.length} batches, ${rows.total} rows (generated and translated in ${generateSeconds.toFixed(1)} s)`,
  );
  const counter = new StatementCounter();
  counter.install();
  const results: SinkOnlyResult[] = [];
  try {
    for (const kind of options.sinks) {
      let sink: GraphSink;
      let baseline: SinkOnlyResult["baseline"];
      if (kind === "sqlite") {
        const path = join(options.workDir, "sink-only-graph.sqlite");
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
        sink = new SqliteGraphSink(path);
      } else {
        if (!options.env) throw new Error("the Neo4j sink-only run needs the local environment");
        const removed = await cleanNeo4j(options.env);
        if (removed) say(`neo4j: removed ${removed} node(s) of an earlier bench run`);
        const { Neo4jSink } = await import("../core/graph/neo4j-sink.js");
        sink = await Neo4jSink.connect({ uri: options.env.neo4j.boltUrl, username: options.env.neo4j.user, password: options.env.neo4j.password });
      }
      try {
        await sink.init(combinedSchema(plugins.values()));
        // Neo4j may hold other graphs (the local environment is shared): count what the run added.
        const before = await graphSize(sink);
        say(`${kind}: replaying ${batches.length} batches`);
        counter.reset();
        const run = await replay(sink, batches, counter);
        const topStatements = counter.top(8);
        const statementSeconds = counter.totalSeconds();
        const after = await graphSize(sink);
        const graph = { nodes: after.nodes - before.nodes, edges: after.edges - before.edges };
        say(
          `${kind}: ${run.seconds.toFixed(2)} s inside the sink, ${(rows.total / run.seconds).toFixed(0)} rows/s, ${(run.statements / rows.ops).toFixed(1)} statements per op`,
        );
        baseline =
          kind === "sqlite"
            ? sqliteBaseline(join(options.workDir, "sink-only-baseline.sqlite"), batches, counter)
            : await neo4jBaseline(options.env!, batches, counter);
        say(`${kind}: baseline ${baseline.seconds.toFixed(2)} s, ${baseline.rowsPerSecond.toFixed(0)} rows/s`);
        results.push({
          sink: kind,
          messages: messages.length,
          ops: rows.ops,
          batches: batches.length,
          rows: rows.total,
          rowKinds: { nodes: rows.nodes, owned: rows.owned, placeholders: rows.placeholders, edges: rows.edges, links: rows.links },
          seconds: run.seconds,
          rowsPerSecond: rows.total / run.seconds,
          opsPerSecond: rows.ops / run.seconds,
          statementsPerOp: run.statements / rows.ops,
          statements: run.statements,
          slowestBatch: run.slowest,
          secondsInSweepBatches: run.inSweeps,
          topStatements,
          statementSeconds,
          baseline,
          ofBaseline: rows.total / run.seconds / baseline.rowsPerSecond,
          graph,
        });
      } finally {
        await sink.close();
        if (kind === "neo4j" && options.env) await cleanNeo4j(options.env);
      }
    }
  } finally {
    counter.uninstall();
  }
  return { results, messages: messages.length, generateSeconds };
}
