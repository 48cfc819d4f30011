// A bad row never stops the graph: when the sink refuses a batch for its rows (a
// deterministic error), the dispatcher splits it until it finds the refused messages,
// parks only those (with the sink's error and the plugin's name) and commits the rest in
// seq order; transient errors are still retried as a whole, also in the middle of a split.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Dispatcher, type DispatcherMetrics } from "../../../core/dispatch/dispatcher.js";
import { SinkLimitError } from "../../../core/graph/limits.js";
import type { GraphOp, GraphSink } from "../../../core/graph/model.js";
import type { KubeMessage } from "../../../core/messages.js";
import { loadPlugins } from "../../../core/plugin/registry.js";
import { Wal } from "../../../core/wal/wal.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-bisect-"));
let n = 0;
const backoff = { initialMs: 2, maxMs: 10, factor: 2, jitter: 0, resetAfterMs: 60_000, maxRetryAfterMs: 300_000 };

const configMap = configMapMessage;

const nameOf = (op: GraphOp): string => (op.op === "upsert" ? String(op.node.properties.name) : op.op === "delete" ? op.key : op.scope);

/** A sink that refuses (deterministically) every batch holding one of `bad`, and fails
 *  transiently `transient` times at the apply numbered `transientAt`. */
class FakeSink implements Partial<GraphSink> {
  readonly kind = "sqlite" as const;
  readonly committed: string[] = [];
  applies = 0;
  constructor(
    private readonly bad: ReadonlySet<string>,
    private transient = 0,
    private readonly transientAt = 0,
  ) {}
  async apply(ops: readonly GraphOp[]): Promise<void> {
    this.applies += 1;
    if (this.applies >= this.transientAt && this.transient > 0) {
      this.transient -= 1;
      throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
    }
    const refused = ops.map(nameOf).filter((name) => this.bad.has(name));
    if (refused.length > 0) throw new SinkLimitError(`property "x" of ${refused[0]} is too large`);
    this.committed.push(...ops.map(nameOf));
  }
}

function recordingMetrics(): DispatcherMetrics & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    sinkCommitted: (_sink, _s, messages) => void calls.push(`committed:${messages}`),
    sinkFailed: () => void calls.push("failed"),
    sinkRefused: () => void calls.push("refused"),
    parked: (sink, plugin, cause) => void calls.push(`parked:${sink}:${plugin}:${cause}`),
    walFailed: (op) => void calls.push(`wal:${op}`),
  };
}

async function run(
  sink: FakeSink,
  messages: KubeMessage[],
  batchSize = 100,
): Promise<{ wal: Wal; dispatcher: Dispatcher; warnings: Array<Record<string, unknown>>; metrics: ReturnType<typeof recordingMetrics> }> {
  const { plugins } = await loadPlugins([]);
  const wal = new Wal(join(dir, `wal-${++n}.sqlite`));
  const warnings: Array<Record<string, unknown>> = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  const dispatcher = new Dispatcher(wal, sink as unknown as GraphSink, plugins, log, { batchSize, backoff });
  const metrics = recordingMetrics();
  dispatcher.metrics = metrics;
  wal.append(messages);
  dispatcher.start();
  await dispatcher.idle();
  await dispatcher.stop();
  return { wal, dispatcher, warnings, metrics };
}

const names = (count: number): string[] => Array.from({ length: count }, (_, i) => `cm-${String(i).padStart(2, "0")}`);

describe("Dispatcher: a batch the sink refuses for its rows", () => {
  it("parks only the refused message and commits every other one, in seq order", async () => {
    const all = names(16);
    const sink = new FakeSink(new Set(["cm-05"]));
    const { wal, dispatcher, warnings, metrics } = await run(sink, all.map(configMap));
    expect(sink.committed).toEqual(all.filter((x) => x !== "cm-05"));
    expect(wal.status()).toMatchObject({ depth: 0, parked: 1 });
    const [parked] = wal.parked();
    expect(parked).toMatchObject({ name: "cm-05", plugin: "configmap", resource: "configmap" });
    expect(parked!.error).toBe('sqlite sink refused it: property "x" of cm-05 is too large');
    expect(dispatcher.stats).toMatchObject({ parked: 1, parkedBySink: 1, sinkErrors: 0, messages: 15, sinkUp: true });
    // log2(16) levels of splitting: far fewer applies than one per message.
    expect(dispatcher.stats.sinkRefusals).toBe(5);
    expect(sink.applies).toBeLessThanOrEqual(2 * Math.log2(16) + 1);
    expect(metrics.calls).toContain("parked:sqlite:configmap:sink");
    expect(metrics.calls.filter((c) => c === "refused")).toHaveLength(5);
    expect(metrics.calls).not.toContain("failed");
    expect(warnings.some((w) => w.msg === "graph sink refused the batch; splitting it to park only the message(s) it refuses")).toBe(true);
    expect(warnings.some((w) => w.msg === "message parked" && w.name === "cm-05" && w.cause === "sink")).toBe(true);
    wal.close();
  });

  it("finds several refused messages, first and last included", async () => {
    const all = names(13);
    const bad = new Set(["cm-00", "cm-06", "cm-07", "cm-12"]);
    const sink = new FakeSink(bad);
    const { wal, dispatcher } = await run(sink, all.map(configMap));
    expect(sink.committed).toEqual(all.filter((x) => !bad.has(x)));
    expect(
      wal
        .parked()
        .map((p) => p.name)
        .sort(),
    ).toEqual([...bad].sort());
    expect(wal.status().depth).toBe(0);
    expect(dispatcher.stats.parkedBySink).toBe(4);
    wal.close();
  });

  it("parks a single refused message without splitting and keeps going with the next batch", async () => {
    const sink = new FakeSink(new Set(["cm-00"]));
    const { wal } = await run(sink, names(3).map(configMap), 1);
    expect(sink.committed).toEqual(["cm-01", "cm-02"]);
    expect(wal.status()).toMatchObject({ depth: 0, parked: 1 });
    wal.close();
  });

  it("retries a transient failure in the middle of a split, then finishes it", async () => {
    const all = names(8);
    // The first apply is refused (cm-03), the second (the first half) fails twice transiently.
    const sink = new FakeSink(new Set(["cm-03"]), 2, 2);
    const { wal, dispatcher, metrics } = await run(sink, all.map(configMap));
    expect(sink.committed).toEqual(all.filter((x) => x !== "cm-03"));
    expect(dispatcher.stats.sinkErrors).toBe(2);
    expect(metrics.calls.filter((c) => c === "failed")).toHaveLength(2);
    expect(wal.status()).toMatchObject({ depth: 0, parked: 1 });
    wal.close();
  });

  it("retries a transient failure of the whole batch as before: nothing parked", async () => {
    const sink = new FakeSink(new Set(), 3, 1);
    const { wal, dispatcher } = await run(sink, names(4).map(configMap));
    expect(sink.committed).toEqual(names(4));
    expect(dispatcher.stats).toMatchObject({ sinkErrors: 3, parked: 0, sinkRefusals: 0 });
    expect(wal.status()).toMatchObject({ depth: 0, parked: 0 });
    wal.close();
  });
});
