// The embedded graph after a realistic stream (tier XS's sync, then changes of every kind)
// is the same whether the ops come in one apply, one by one, or in uneven batches: the
// sink's per-apply shortcuts (skipping cleanup for new keys, placeholders and links
// already written in the apply, selector work when there are no selectors) change no
// result. Exports sorted and compared in full.
import { describe, expect, it } from "vitest";
import type { ExportLine, GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { comparisonStream } from "../../support/graph-stream.js";

async function exported(ops: readonly GraphOp[], batch: number[]): Promise<ExportLine[]> {
  const sink = new SqliteGraphSink(":memory:");
  let at = 0;
  for (let i = 0; at < ops.length; i++) {
    const size = batch[i % batch.length]!;
    await sink.apply(ops.slice(at, at + size));
    at += size;
  }
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  await sink.close();
  return lines;
}

describe("SQLite sink: one stream, any batching, one graph", () => {
  it("gives identical exports for one apply, one op per apply, and uneven batches", async () => {
    const ops = await comparisonStream();
    expect(ops.length).toBeGreaterThan(50);
    const whole = await exported(ops, [ops.length]);
    // The stream did what it is for: selected edges, demoted and observed placeholders.
    expect(whole.some((l) => l.type === "edge" && l.rel === "SELECTS")).toBe(true);
    expect(whole.some((l) => l.type === "node" && l.key.endsWith("/ConfigMap/cm-missing") && l.properties.observed === true)).toBe(true);
    expect(whole.some((l) => l.type === "node" && l.key.endsWith("/ConfigMap/cm-0000") && l.properties.observed === false)).toBe(true);
    expect(await exported(ops, [1])).toEqual(whole);
    expect(await exported(ops, [7, 1, 13, 2])).toEqual(whole);
  });
});
