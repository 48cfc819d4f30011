// The dispatcher with a third-party plugin whose toGraph never returns on some objects:
// those messages are parked (with a reason naming the plugin, budget and object), counted
// and reported; every other message, of that plugin and of the built-ins, is committed.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Dispatcher, type DispatcherMetrics } from "../../../core/dispatch/dispatcher.js";
import { combinedSchema } from "../../../core/graph/open-sink.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import type { KubeMessage } from "../../../core/messages.js";
import { loadPlugins } from "../../../core/plugin/registry.js";
import { Wal } from "../../../core/wal/wal.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-budget-"));
const loopDir = fileURLToPath(new URL("../../fixtures/plugins/loop/", import.meta.url));
const backoff = { initialMs: 5, maxMs: 20, factor: 2, jitter: 0, resetAfterMs: 60_000 };

function loopMessage(name: string): KubeMessage {
  return { ...configMapMessage(name), resource: "loop", object: { name, keys: ["k"] } };
}

async function setUp(budgetMs: number) {
  const { plugins, errors: loadErrors } = await loadPlugins([loopDir]);
  expect(loadErrors).toEqual([]);
  const wal = new Wal(join(dir, `wal-${budgetMs}-${Math.random().toString(36).slice(2)}.sqlite`));
  const sink = new SqliteGraphSink(":memory:");
  await sink.init(combinedSchema(plugins.values()));
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const calls = { parked: [] as string[], overruns: [] as string[] };
  const metrics: DispatcherMetrics = {
    sinkCommitted: () => undefined,
    sinkFailed: () => undefined,
    walFailed: () => undefined,
    parked: (_sink, plugin, cause) => void calls.parked.push(`${plugin}:${cause ?? "plugin"}`),
    pluginOverrun: (plugin) => void calls.overruns.push(plugin),
  };
  const dispatcher = new Dispatcher(wal, sink, plugins, log, { batchSize: 100, backoff, pluginBudgetMs: budgetMs, metrics });
  return { wal, sink, dispatcher, logs, calls, plugins };
}

describe("a third-party toGraph over its time budget", () => {
  it("parks only the objects it loops on; the plugin's other objects and the built-ins' are committed", async () => {
    const { wal, sink, dispatcher, logs, calls } = await setUp(100);
    wal.append([
      loopMessage("fine-1"),
      loopMessage("loop-1"),
      configMapMessage("cm-1"),
      loopMessage("loop-2"),
      loopMessage("fine-2"),
      loopMessage("loop-3"),
      loopMessage("loop-4"),
    ]);
    dispatcher.start();
    await dispatcher.idle();
    await dispatcher.stop();

    const stats = await sink.stats();
    expect(stats.nodes.LoopConfig).toBe(2);
    expect(stats.nodes.ConfigMap).toBe(1);
    expect(wal.status().depth).toBe(0);
    const parked = wal.parked().sort((a, b) => a.seq - b.seq);
    expect(parked.map((p) => `${p.plugin} ${p.name}`)).toEqual(["loop loop-1", "loop loop-2", "loop loop-3", "loop loop-4"]);
    expect(parked[0]!.error).toBe('plugin "loop" toGraph exceeded its time budget of 100 ms on ConfigMap ns/loop-1 (loop.mjs) and was interrupted');
    expect(dispatcher.stats.overruns).toBe(4);
    expect(dispatcher.stats.parked).toBe(4);
    expect(calls.overruns).toEqual(["loop", "loop", "loop", "loop"]);
    expect(calls.parked).toEqual(["loop:plugin", "loop:plugin", "loop:plugin", "loop:plugin"]);
    // Each park is logged; the plugin that keeps overrunning is reported at its 2nd and 4th.
    expect(logs.filter((l) => l.msg === "message parked" && l.plugin === "loop")).toHaveLength(4);
    const repeated = logs.filter((l) => typeof l.msg === "string" && l.msg.startsWith("plugin keeps exceeding its time budget"));
    expect(repeated.map((l) => [l.plugin, l.overruns, l.budgetMs, l.level])).toEqual([
      ["loop", 2, 100, 50],
      ["loop", 4, 100, 50],
    ]);
    wal.close();
  });

  it("applies a budget changed by a reload to the next batches", async () => {
    const { wal, dispatcher, plugins } = await setUp(100);
    dispatcher.setPlugins(plugins, 40);
    wal.append([loopMessage("loop-1")]);
    dispatcher.start();
    await dispatcher.idle();
    await dispatcher.stop();
    expect(wal.parked()[0]!.error).toContain("exceeded its time budget of 40 ms on ConfigMap ns/loop-1");
    wal.close();
  });
});
