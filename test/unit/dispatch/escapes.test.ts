// Nothing escapes the dispatcher's loop: a WAL that throws in any operation (read, ack,
// park, rewind, status, scope bookkeeping), a listener that throws after a commit, and an
// error no step expected are each logged and counted, the loop goes on, everything ends
// committed once the fault clears, and no promise is left rejected unhandled.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dispatcher, type DispatcherMetrics } from "../../../core/dispatch/dispatcher.js";
import type { GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import type { KubeMessage } from "../../../core/messages.js";
import { loadPlugins, type LoadedPlugin } from "../../../core/plugin/registry.js";
import { Wal, type WalRecord } from "../../../core/wal/wal.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-dispatch-escapes-"));
let n = 0;
const backoff = { initialMs: 2, maxMs: 10, factor: 2, jitter: 0, resetAfterMs: 60_000 };

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeAll(() => void process.on("unhandledRejection", onUnhandled));
afterAll(() => void process.off("unhandledRejection", onUnhandled));

type LogLine = { level: number; msg: string } & Record<string, unknown>;

interface Rig {
  wal: Wal;
  sink: SqliteGraphSink;
  dispatcher: Dispatcher;
  logs: LogLine[];
  metrics: { walFailed: string[]; dispatcherFailed: number };
}

async function rig(
  options: { metrics?: Partial<DispatcherMetrics>; onCommitted?: (records: readonly WalRecord[]) => void; plugins?: ReadonlyMap<string, LoadedPlugin> } = {},
): Promise<Rig> {
  const plugins = options.plugins ?? (await loadPlugins([])).plugins;
  const wal = new Wal(join(dir, `wal-${++n}.sqlite`));
  const sink = new SqliteGraphSink(":memory:");
  const logs: LogLine[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const metrics = { walFailed: [] as string[], dispatcherFailed: 0 };
  const dispatcher = new Dispatcher(wal, sink, plugins, log, {
    batchSize: 100,
    backoff,
    metrics: {
      sinkCommitted: () => undefined,
      sinkFailed: () => undefined,
      parked: () => undefined,
      walFailed: (operation) => void metrics.walFailed.push(operation),
      dispatcherFailed: () => {
        metrics.dispatcherFailed += 1;
      },
      ...options.metrics,
    },
    ...(options.onCommitted ? { onCommitted: options.onCommitted } : {}),
  });
  return { wal, sink, dispatcher, logs, metrics };
}

/** Makes `method` of `target` throw its first `times` calls. */
function failing<T extends object>(
  target: T,
  method: keyof T & string,
  times: number,
  error = new Error(`${method}: disk I/O error`),
): { calls: () => number } {
  const original = (target[method] as (...args: unknown[]) => unknown).bind(target);
  let calls = 0;
  (target as Record<string, unknown>)[method] = (...args: unknown[]) => {
    calls += 1;
    if (calls <= times) throw error;
    return original(...args);
  };
  return { calls: () => calls };
}

async function configMaps(sink: SqliteGraphSink): Promise<number> {
  return (await sink.stats()).nodes.ConfigMap ?? 0;
}

/** Runs the dispatcher until the WAL is empty, then stops it; stop() must resolve. */
async function drain(r: Rig): Promise<void> {
  r.dispatcher.start();
  await r.dispatcher.idle();
  await r.dispatcher.stop();
}

const orphan = (name: string): KubeMessage => ({ ...configMapMessage(name), resource: "no-such-plugin" });

describe("Dispatcher: nothing escapes its loop", () => {
  it.each([
    ["next", "read"],
    ["ack", "ack"],
  ] as const)("a WAL %s that throws is counted as a %s failure and retried", async (method, operation) => {
    const r = await rig();
    r.wal.append([configMapMessage("a"), configMapMessage("b")]);
    failing(r.wal, method, 2);
    await drain(r);
    expect(r.dispatcher.stats.walErrors[operation]).toBe(2);
    expect(r.metrics.walFailed).toEqual([operation, operation]);
    expect(r.logs.filter((l) => l.msg === `WAL ${operation} failed; retrying (un-acknowledged messages stay in the WAL)`)).toHaveLength(2);
    expect(await configMaps(r.sink)).toBe(2);
    expect(r.wal.status().depth).toBe(0);
    r.wal.close();
  });

  it("a park that throws on the translate path (no plugin for the message) is retried; the rest is committed", async () => {
    const r = await rig();
    r.wal.append([configMapMessage("a"), orphan("x"), configMapMessage("b")]);
    failing(r.wal, "park", 1);
    await drain(r);
    expect(r.dispatcher.stats.walErrors.park).toBe(1);
    expect(r.dispatcher.stats.parked).toBe(1);
    expect(r.wal.status()).toMatchObject({ depth: 0, parked: 1 });
    expect(await configMaps(r.sink)).toBe(2);
    r.wal.close();
  });

  it("a rewind, a status read or the scope bookkeeping that throws does not stop delivery", async () => {
    const r = await rig();
    r.wal.append([configMapMessage("a")]);
    failing(r.wal, "ack", 1);
    const rewinds = failing(r.wal, "rewind", 1);
    failing(r.wal, "status", 1);
    failing(r.wal, "rememberScopes", 3);
    await drain(r);
    expect(rewinds.calls()).toBeGreaterThanOrEqual(2);
    expect(r.logs.some((l) => l.msg === "WAL rewind failed")).toBe(true);
    // The failed ack's messages were left behind the read position: found and read again.
    expect(r.logs.some((l) => l.msg === "un-acknowledged messages behind the WAL read position: reading them again")).toBe(true);
    expect(await configMaps(r.sink)).toBe(1);
    expect(r.wal.status().depth).toBe(0);
    r.wal.close();
  });

  it("a listener that throws after a commit leaves the commit standing and the loop running", async () => {
    let calls = 0;
    const r = await rig({
      onCommitted: () => {
        calls += 1;
        if (calls === 1) throw new Error("listener bug");
      },
    });
    r.wal.append([configMapMessage("a")]);
    r.dispatcher.start();
    await r.dispatcher.idle();
    r.wal.append([configMapMessage("b")]);
    r.dispatcher.notify();
    await r.dispatcher.idle();
    await r.dispatcher.stop();
    expect(calls).toBe(2);
    expect(r.dispatcher.stats.unexpectedErrors).toBe(1);
    expect(r.metrics.dispatcherFailed).toBe(1);
    expect(r.logs.some((l) => l.msg === "a dispatcher listener failed after a commit (the commit stands)" && l.err === "listener bug")).toBe(true);
    expect(await configMaps(r.sink)).toBe(2);
    r.wal.close();
  });

  it("an error no step expected (a hook that throws while the sink fails, a broken plugin map) is logged, counted and retried", async () => {
    let hookCalls = 0;
    const r = await rig({
      metrics: {
        sinkFailed: () => {
          hookCalls += 1;
          if (hookCalls === 1) throw new Error("metrics hook bug");
        },
      },
    });
    const apply = r.sink.apply.bind(r.sink);
    let sinkFailures = 1;
    r.sink.apply = async (ops: readonly GraphOp[]) => {
      if (sinkFailures-- > 0) throw new Error("connection refused");
      return apply(ops);
    };
    r.wal.append([configMapMessage("a")]);
    await drain(r);
    expect(r.dispatcher.stats.unexpectedErrors).toBe(1);
    expect(r.metrics.dispatcherFailed).toBe(1);
    const line = r.logs.find((l) => l.msg === "dispatcher step failed unexpectedly; retrying (un-acknowledged messages stay in the WAL)");
    expect(line).toMatchObject({ err: "metrics hook bug", errName: "Error" });
    expect(await configMaps(r.sink)).toBe(1);

    // A plugin map whose lookup throws: translate fails outside any plugin's code.
    const { plugins } = await loadPlugins([]);
    let lookups = 0;
    const broken = new Map(plugins);
    broken.get = (key: string) => {
      lookups += 1;
      if (lookups === 1) throw new TypeError("plugin map bug");
      return plugins.get(key);
    };
    const s = await rig({ plugins: broken });
    s.wal.append([configMapMessage("a")]);
    await drain(s);
    expect(s.dispatcher.stats.unexpectedErrors).toBe(1);
    expect(s.dispatcher.stats.walErrors).toEqual({ read: 0, park: 0, ack: 0 });
    expect(await configMaps(s.sink)).toBe(1);
    r.wal.close();
    s.wal.close();
  });

  it("left no rejection unhandled", async () => {
    // Rejections surface on a later turn: give them one.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
  });
});
