// The history's statements must search, never scan, what grows with the graph or the
// history: the lookup each written edge makes among the deleted ones (a trigger, on every
// edge the sink writes), and the readers' lookups through the views that join the ended
// versions (history tables) with the open ones (graph rows).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { HistoryReader } from "../../../core/history/reader.js";
import { GONE_MATCH } from "../../../core/history/recorder.js";

const path = join(mkdtempSync(join(tmpdir(), "ko-history-plans-")), "graph.sqlite");
const sink = new SqliteGraphSink(path, { history: true });
await sink.apply([]);
const reader = HistoryReader.open(path);
afterAll(async () => {
  reader.close();
  await sink.close();
});

function plan(db: import("better-sqlite3").Database, sql: string, params: Record<string, unknown>): string[] {
  return db
    .prepare<Record<string, unknown>, { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
    .all(params)
    .map((r) => r.detail);
}

describe("the history's query plans", () => {
  it("a written edge finds itself among the deleted ones by the index", () => {
    const sql = GONE_MATCH.replace(/new\.(\w+)/g, ":$1");
    const steps = plan(sink.database, sql, { from_key: "a", type: "T", to_key: "b", owner: "a", props: "{}" });
    expect(steps.join("\n")).toMatch(/SEARCH g USING COVERING INDEX ko_h_gone_identity/);
    expect(steps.filter((d) => d.startsWith("SCAN"))).toEqual([]);
  });

  it("an object's timeline and its edges are searched in both the history and the graph", () => {
    const db = (reader as unknown as { db: import("better-sqlite3").Database }).db;
    const lookups = [
      ["SELECT * FROM h_nodes WHERE key = :key ORDER BY from_ms, id", {}],
      ["SELECT * FROM h_edges WHERE to_key = :key ORDER BY from_ms, id", {}],
      ["SELECT * FROM h_edges WHERE from_key = :key ORDER BY from_ms, id", {}],
      ["SELECT * FROM h_edges WHERE to_key = :key AND from_ms <= :to AND (to_ms IS NULL OR to_ms > :from) ORDER BY from_ms, id", { from: 1, to: 2 }],
    ] as const;
    for (const [sql, params] of lookups) {
      const steps = plan(db, sql, { key: "c/ns/Secret/s", ...params });
      const scans = steps.filter((d) => /^SCAN (main\.)?(nodes|edges|history_nodes|history_edges)\b/.test(d));
      expect(scans, `${sql}\n${steps.join("\n")}`).toEqual([]);
      expect(steps.filter((d) => d.startsWith("SEARCH")).length, steps.join("\n")).toBeGreaterThanOrEqual(2);
    }
  });
});
