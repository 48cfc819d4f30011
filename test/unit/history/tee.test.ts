// The history beside a sink that is not SQLite (Neo4j): written while the sink works on
// the same batch, committed only after the sink committed. A batch the sink fails or
// refuses leaves no trace in the history; one it commits is there once.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { GraphOp, GraphSink } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { HistoryReader } from "../../../core/history/reader.js";
import { HistoryTeeSink } from "../../../core/history/tee-sink.js";
import { pod } from "../graph/ops.js";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A sink that answers after a while, or fails, as told. */
function slowSink(outcome: () => Error | undefined): GraphSink & { applied: number } {
  const sink = {
    kind: "neo4j" as const,
    applied: 0,
    async apply() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const error = outcome();
      if (error) throw error;
      sink.applied += 1;
    },
    async init() {},
    async close() {},
  };
  return sink as unknown as GraphSink & { applied: number };
}

function tee(outcome: () => Error | undefined): { sink: HistoryTeeSink; versions: (key: string) => number } {
  const path = join(mkdtempSync(join(tmpdir(), "ko-history-tee-")), "history.sqlite");
  const history = new SqliteGraphSink(path, { history: true });
  const sink = new HistoryTeeSink(slowSink(outcome), history);
  closers.push(() => sink.close());
  return {
    sink,
    versions: (key) => {
      const r = HistoryReader.open(path);
      try {
        return r.versions(key).length;
      } finally {
        r.close();
      }
    },
  };
}

describe("the history beside another sink", () => {
  it("keeps no trace of a batch the sink refused or failed, and records one it committed", async () => {
    let fail: Error | undefined = Object.assign(new Error("refused"), { code: "Neo.ClientError.Schema.ConstraintValidationFailed" });
    const { sink, versions } = tee(() => fail);
    const ops: GraphOp[] = [pod("a", ["db"]), pod("b")];
    await expect(sink.apply(ops)).rejects.toThrow("refused");
    expect(versions("c/ns/Pod/a")).toBe(0);
    fail = undefined;
    await sink.apply(ops);
    expect(versions("c/ns/Pod/a")).toBe(1);
    expect(versions("c/ns/Pod/b")).toBe(1);
  });

  it("takes batches one at a time, in order, when they come together", async () => {
    const { sink, versions } = tee(() => undefined);
    await Promise.all([sink.apply([pod("a", [], { v: 1 })]), sink.apply([pod("a", [], { v: 2 })]), sink.apply([pod("a", [], { v: 3 })])]);
    expect(versions("c/ns/Pod/a")).toBe(3);
  });
});

describe("when both fail", () => {
  it("throws the sink's error, not the history's: the sink's verdict on the rows decides parking or retrying", async () => {
    const refused = Object.assign(new Error("a row Neo4j refuses"), { deterministic: true });
    const history = {
      init: async () => undefined,
      applyPending: async () => {
        throw Object.assign(new Error("the history could not record the batch: disk full"), { name: "HistoryRecordError" });
      },
      replaceDerived: async () => undefined,
      close: async () => undefined,
    };
    const sink = new HistoryTeeSink(
      slowSink(() => refused),
      history,
    );
    await expect(sink.apply([pod("a")])).rejects.toBe(refused);
  });
});
