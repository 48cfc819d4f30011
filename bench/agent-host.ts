// The agent as the bench runs it: a child process (so that its memory and CPU can be read
// from /proc without the load generator in them) that assembles the agent with the same
// composition root as `kube-observer run` (core/compose.ts: config, GraphPipeline, Agent)
// plus the hooks the bench needs:
//   - onCommitted (the composition root's hook for benchmarks): when each batch is committed;
//   - a wrapper around sink.apply: rows written and time spent in the sink;
//   - a wrapper around the WAL's insert statement: bytes appended (private; optional).
// The watch topology is the config's (bench/agent.ts writes it).
// Usage (from bench/agent.ts): fork(dist/bench/agent-host.js, [config, sqlite|neo4j]).
import { loadAgentConfig } from "../core/agent-config.js";
import { composeAgent } from "../core/compose.js";
import type { GraphOp, GraphSink } from "../core/graph/model.js";
import { createLogger } from "../core/log/logger.js";
import { applyAgentHeapTuning } from "../core/memory-tuning.js";
import type { WalRecord } from "../core/wal/wal.js";
import type { HostCommand, HostEvent, HostStats, RowCounts } from "./protocol.js";

const [configFile, sinkKind] = process.argv.slice(2) as [string, "sqlite" | "neo4j"];

function send(event: HostEvent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(event, undefined, undefined, () => resolve());
  });
}

const rows: RowCounts = { nodes: 0, owned: 0, placeholders: 0, edges: 0, deletes: 0, sweeps: 0, total: 0 };
let sinkApplyMs = 0;
let walBytesHooked = false;
let walBytes = 0;
let walMessagesWritten = 0;
let peakWalDepth = 0;
let peakWalBytes = 0;
let lastCommitAt = 0;
let tracking = false;
/** Set once the pipeline exists (the hook is given to the composition root before). */
let onCommitted: (records: readonly WalRecord[]) => void = () => undefined;

function countRows(ops: readonly GraphOp[]): void {
  for (const op of ops) {
    if (op.op === "upsert") {
      rows.nodes += 1;
      rows.owned += op.owned.length;
      rows.placeholders += op.placeholders.length;
      rows.edges += op.edges.length;
    } else if (op.op === "delete") rows.deletes += 1;
    else rows.sweeps += 1;
  }
  rows.total = rows.nodes + rows.owned + rows.placeholders + rows.edges + rows.deletes + rows.sweeps;
}

async function main(): Promise<void> {
  applyAgentHeapTuning();
  const { config, plugins } = await loadAgentConfig(configFile);
  const log = createLogger({ level: config.log.level });
  const { agent, pipeline: composed } = await composeAgent({
    config,
    plugins,
    log,
    once: false,
    output: "graph",
    sink: { kind: sinkKind },
    onCommitted: (records) => onCommitted(records),
  });
  const pipeline = composed!;

  // Rows and sink time: wrap this sink instance's apply (the dispatcher calls it).
  const sink = pipeline.sink as GraphSink & { apply: GraphSink["apply"] };
  const apply = sink.apply.bind(sink);
  sink.apply = async (ops) => {
    const started = performance.now();
    await apply(ops);
    sinkApplyMs += performance.now() - started;
    countRows(ops);
  };

  // WAL bytes: the insert statement gets the body's length as its third argument. It is
  // private to core/wal/wal.ts; without it, only the message count is known.
  const insert = (pipeline.wal as unknown as { q?: { insert?: { run: (...args: unknown[]) => unknown } } }).q?.insert;
  if (insert && typeof insert.run === "function") {
    const run = insert.run.bind(insert);
    walBytesHooked = true;
    insert.run = (...args: unknown[]) => {
      if (typeof args[2] === "number") walBytes += args[2];
      return run(...args);
    };
  }
  // Peaks are taken right after each append (a timer alone would miss them: with the
  // SQLite sink, append -> dispatch -> commit -> ack often completes within one turn of
  // the event loop). status() counts rows, so it runs only when the bytes reach a new high.
  const append = pipeline.wal.append.bind(pipeline.wal);
  pipeline.wal.append = (messages) => {
    walMessagesWritten += messages.length;
    append(messages);
    const bytes = pipeline.wal.bytes;
    if (bytes > peakWalBytes) {
      peakWalBytes = bytes;
      peakWalDepth = Math.max(peakWalDepth, pipeline.wal.status().depth);
    }
  };

  onCommitted = (records: readonly WalRecord[]) => {
    const at = Date.now();
    lastCommitAt = at;
    if (!tracking) return;
    const items: string[] = [];
    for (const { message: m } of records) {
      if (m.action === "Restarted") continue;
      items.push(`${m.resource}|${m.objectNamespace ?? ""}|${m.name ?? ""}|${m.action === "Deleted" ? "D" : "A"}|${m.resourceVersion}`);
    }
    if (items.length) void send({ type: "commits", at, items });
  };

  // A Neo4j outage or a slow sink builds depth between appends too.
  const walTimer = setInterval(() => {
    const bytes = pipeline.wal.bytes;
    if (bytes > 0) {
      peakWalBytes = Math.max(peakWalBytes, bytes);
      peakWalDepth = Math.max(peakWalDepth, pipeline.wal.status().depth);
    }
  }, 250);
  walTimer.unref();

  const stats = (): HostStats => {
    const cpu = process.cpuUsage();
    const progress = agent.syncProgress();
    const d = pipeline.dispatcher.stats;
    return {
      at: Date.now(),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      messagesCommitted: d.messages,
      batches: d.batches,
      parked: d.parked,
      sinkErrors: d.sinkErrors,
      sinkApplyMs: Math.round(sinkApplyMs),
      rows: { ...rows },
      walBytesWritten: walBytesHooked ? walBytes : null,
      walMessagesWritten,
      peakWalDepth,
      peakWalBytes,
      walDepth: pipeline.wal.status().depth,
      heapUsedBytes: process.memoryUsage().heapUsed,
      observers: progress.scopes,
      observersSynced: progress.synced,
      objects: progress.objects,
    };
  };

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(walTimer);
    await agent.stop();
    await Promise.race([pipeline.dispatcher.idle(), new Promise((r) => setTimeout(r, 5_000).unref())]);
    const final = stats();
    await pipeline.close(5_000);
    await send({ type: "stopped", stats: final });
    process.exit(0);
  };
  process.on("message", (command: HostCommand) => {
    if (command.type === "track") tracking = command.on;
    else if (command.type === "stats") void send({ type: "stats", stats: stats() });
    else if (command.type === "stop") void stop();
  });
  process.on("disconnect", () => void stop());
  process.on("SIGTERM", () => void stop());

  await send({ type: "ready", at: Date.now(), stats: stats() });
  await send({ type: "started", at: Date.now() });
  // Where the start-up time goes: discovery, then worker threads, then lists.
  let observersAt = 0;
  let firstActiveAt = 0;
  const cluster = config.clusters[0]?.name ?? "";
  const phaseTimer = setInterval(() => {
    const supervisor = agent.supervisor(cluster);
    if (!supervisor) return;
    const counts = supervisor.phaseCounts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total > 0 && !observersAt) observersAt = Date.now();
    if (total > counts.starting && !firstActiveAt) firstActiveAt = Date.now();
    if (firstActiveAt) clearInterval(phaseTimer);
  }, 10);
  await agent.start();
  const synced = await agent.initialSync(20);
  clearInterval(phaseTimer);
  if (!synced) return;
  const at = Date.now();
  await send({ type: "synced", at, scopes: synced.scopes, objects: synced.objects, observersAt: observersAt || at, firstActiveAt: firstActiveAt || at });
  await pipeline.dispatcher.idle();
  const idleAt = Date.now();
  await send({ type: "complete", at: idleAt, lastCommitAt: lastCommitAt || idleAt, stats: stats() });
}

main().catch(async (error: unknown) => {
  await send({ type: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
