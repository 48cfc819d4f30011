// Group commit: messages several observers append within the dispatcher's window, after it
// was idle, go into one sink transaction and one ack; without the window each append that
// finds the dispatcher idle is its own transaction.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Dispatcher } from "../../../core/dispatch/dispatcher.js";
import type { GraphOp, GraphSink } from "../../../core/graph/model.js";
import { loadPlugins } from "../../../core/plugin/registry.js";
import { Wal } from "../../../core/wal/wal.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-group-commit-"));
const backoff = { initialMs: 2, maxMs: 10, factor: 2, jitter: 0, resetAfterMs: 60_000, maxRetryAfterMs: 300_000 };

class CountingSink implements Partial<GraphSink> {
  readonly kind = "sqlite" as const;
  readonly batches: number[] = [];
  async apply(ops: readonly GraphOp[]): Promise<void> {
    this.batches.push(ops.length);
  }
}

/** Three appends 2 ms apart, as three observers' batches arriving together. */
async function appendThree(groupCommitMs: number): Promise<number[]> {
  const { plugins } = await loadPlugins([]);
  const wal = new Wal(join(dir, `wal-${groupCommitMs}.sqlite`));
  const sink = new CountingSink();
  const dispatcher = new Dispatcher(wal, sink as unknown as GraphSink, plugins, pino({ level: "silent" }), { batchSize: 100, backoff, groupCommitMs });
  dispatcher.start();
  await dispatcher.idle();
  for (const name of ["a", "b", "c"]) {
    wal.append([configMapMessage(name)]);
    dispatcher.notify();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await dispatcher.idle();
  await dispatcher.stop();
  expect(wal.status().depth).toBe(0);
  wal.close();
  return sink.batches;
}

describe("Dispatcher group commit", () => {
  it("takes what arrives within the window into one transaction", async () => {
    expect(await appendThree(50)).toEqual([3]);
  });

  it("without a window, commits each append that finds it idle on its own", async () => {
    expect(await appendThree(0)).toEqual([1, 1, 1]);
  });
});
