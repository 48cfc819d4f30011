// Export, sort, compare: a realistic stream (tier XS's initial sync through the real
// plugins, then updates, deletes, a re-add, Services with selectors, a sweep, placeholders
// deleted and observed; test/support/graph-stream.ts) leaves the real Neo4j and the
// embedded SQLite graph with identical exports, in the dispatcher's batching and one op
// per apply. The SQLite sink skips statements that change nothing; Neo4j is the reference.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExportLine, GraphOp, GraphSink } from "../../../core/graph/model.js";
import { Neo4jSink } from "../../../core/graph/neo4j-sink.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { devEnv } from "../../support/cluster.js";
import { wipeNeo4j } from "../../support/graph.js";
import { builtinSchema, comparisonStream } from "../../support/graph-stream.js";

async function exportOf(sink: GraphSink): Promise<ExportLine[]> {
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  return lines;
}

async function applyIn(sink: GraphSink, ops: readonly GraphOp[], size: number): Promise<void> {
  for (let i = 0; i < ops.length; i += size) await sink.apply(ops.slice(i, i + size));
}

describe("one stream, both sinks, one graph", () => {
  let ops: GraphOp[];
  let neo4j: Neo4jSink;

  beforeAll(async () => {
    ops = await comparisonStream();
    const { boltUrl, user, password } = devEnv().neo4j;
    neo4j = await Neo4jSink.connect({ uri: boltUrl, username: user, password });
    await neo4j.init(await builtinSchema());
  }, 60_000);

  afterAll(async () => {
    await neo4j?.close();
  });

  it.each([
    ["the dispatcher's batches", 2_000],
    ["one op per apply", 1],
  ])(
    "gives identical exports: %s",
    async (_what, size) => {
      await wipeNeo4j();
      await applyIn(neo4j, ops, size);
      const sqlite = new SqliteGraphSink(":memory:");
      await sqlite.init(await builtinSchema());
      await applyIn(sqlite, ops, size);
      const [a, b] = [await exportOf(sqlite), await exportOf(neo4j)];
      await sqlite.close();
      expect(a.length).toBeGreaterThan(200);
      expect(a.some((l) => l.type === "edge" && l.rel === "SELECTS")).toBe(true);
      expect(a).toEqual(b);
    },
    120_000,
  );
});
