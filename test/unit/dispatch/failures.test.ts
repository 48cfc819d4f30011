// No silent paths in the dispatcher: a failing WAL read or ack, or a failing sink, is
// logged and counted, retried after a backoff, and loses nothing: every message ends up
// committed and acknowledged once the fault clears.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Dispatcher } from "../../../core/dispatch/dispatcher.js";
import type { GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { loadPlugins } from "../../../core/plugin/registry.js";
import { Wal } from "../../../core/wal/wal.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-dispatch-"));
let n = 0;
const backoff = { initialMs: 5, maxMs: 20, factor: 2, jitter: 0, resetAfterMs: 60_000, maxRetryAfterMs: 300_000 };

const configMap = configMapMessage;

/** Log lines at error level, collected. */
function collectingLogger(): { log: pino.Logger; errors: Array<Record<string, unknown>> } {
  const errors: Array<Record<string, unknown>> = [];
  const log = pino({ level: "error" }, { write: (line: string) => void errors.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, errors };
}

async function setUp(): Promise<{ wal: Wal; sink: SqliteGraphSink; dispatcher: Dispatcher; errors: Array<Record<string, unknown>> }> {
  const { plugins } = await loadPlugins([]);
  const wal = new Wal(join(dir, `wal-${++n}.sqlite`));
  const sink = new SqliteGraphSink(":memory:");
  const { log, errors } = collectingLogger();
  const dispatcher = new Dispatcher(wal, sink, plugins, log, { batchSize: 100, backoff });
  return { wal, sink, dispatcher, errors };
}

async function configMapsIn(sink: SqliteGraphSink): Promise<number> {
  return (await sink.stats()).nodes.ConfigMap ?? 0;
}

describe("Dispatcher failure paths", () => {
  it("retries a failed ack: logged, counted, and the batch is committed again and acknowledged", async () => {
    const { wal, sink, dispatcher, errors } = await setUp();
    const ack = wal.ack.bind(wal);
    let failures = 1;
    wal.ack = (seqs) => {
      if (failures-- > 0) throw new Error("disk I/O error");
      ack(seqs);
    };
    wal.append([configMap("a"), configMap("b")]);
    dispatcher.start();
    await dispatcher.idle();
    await dispatcher.stop();
    expect(dispatcher.stats.walErrors.ack).toBe(1);
    expect(errors.some((e) => e.msg === "WAL ack failed; retrying (un-acknowledged messages stay in the WAL)" && e.err === "disk I/O error")).toBe(true);
    expect(wal.status().depth).toBe(0);
    expect(await configMapsIn(sink)).toBe(2);
    wal.close();
  });

  it("survives a failed WAL read instead of ending its loop", async () => {
    const { wal, sink, dispatcher } = await setUp();
    const next = wal.next.bind(wal);
    let failures = 2;
    wal.next = (limit) => {
      if (failures-- > 0) throw new Error("database disk image is malformed");
      return next(limit);
    };
    wal.append([configMap("a")]);
    dispatcher.start();
    await dispatcher.idle();
    await dispatcher.stop();
    expect(dispatcher.stats.walErrors.read).toBe(2);
    expect(await configMapsIn(sink)).toBe(1);
    wal.close();
  });

  it("counts a failing sink and commits once it answers again", async () => {
    const { wal, sink, dispatcher, errors } = await setUp();
    const apply = sink.apply.bind(sink);
    let failures = 3;
    sink.apply = async (ops: readonly GraphOp[]) => {
      if (failures-- > 0) throw new Error("connection refused");
      return apply(ops);
    };
    wal.append([configMap("a"), configMap("b"), configMap("c")]);
    dispatcher.start();
    await dispatcher.idle();
    await dispatcher.stop();
    expect(dispatcher.stats.sinkErrors).toBe(3);
    expect(errors.filter((e) => String(e.msg).startsWith("graph sink failed"))).toHaveLength(1);
    expect(await configMapsIn(sink)).toBe(3);
    expect(wal.status().depth).toBe(0);
    wal.close();
  });
});
