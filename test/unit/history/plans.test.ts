// The history's statements run after every op: each must be driven by the rows the op
// touched (the temporary tables, `t`), never scan the history or the graph. SQLite has no
// statistics for the temporary tables; without the forced join order it chose to scan
// history_edges on every op, and a tier M sync took minutes instead of seconds.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";

const sink = new SqliteGraphSink(join(mkdtempSync(join(tmpdir(), "ko-history-plans-")), "graph.sqlite"), { history: true });
afterAll(() => sink.close());

describe("the history's query plans", () => {
  it("scan only the rows the op touched", () => {
    const recorder = sink.history!;
    const statements = [...recorder.unstamped, ...recorder.perBatch];
    expect(statements).toHaveLength(8);
    for (const statement of statements) {
      const plan = sink.database
        .prepare<Record<string, unknown>, { detail: string }>(`EXPLAIN QUERY PLAN ${statement.source}`)
        .all({ ms: 1, rv: "1" })
        .map((r) => r.detail);
      const scans = plan.filter((d) => d.startsWith("SCAN "));
      // The noted rows (the temporary tables, read DISTINCT as `t`) and nothing else.
      expect(scans.length, plan.join("\n")).toBeGreaterThan(0);
      expect(
        scans.filter((d) => !/^SCAN (t|ko_h_nodes|ko_h_edges)( |$)/.test(d)),
        `${statement.source}\n${plan.join("\n")}`,
      ).toEqual([]);
    }
  });
});
