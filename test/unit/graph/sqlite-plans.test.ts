// The embedded graph keeps only the indexes its queries use, and every query it prepares
// finds its rows through an index (EXPLAIN QUERY PLAN), in a new graph file and in one
// written by the earlier schema (migrated to the same tables and indexes: sqlite-schema.ts).
import Database from "better-sqlite3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BEFORE_SELECTORS } from "./old-schemas.js";
import type { GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-plans-"));

interface Internals {
  db: Database.Database;
  q: Record<string, Database.Statement>;
}

/** Each prepared statement's plan, one line per step. */
function plans(sink: SqliteGraphSink): Map<string, string[]> {
  const { db, q } = sink as unknown as Internals;
  const out = new Map<string, string[]>();
  for (const [name, statement] of Object.entries(q)) {
    const params = (statement.source.match(/\?/g) ?? []).map(() => null);
    const rows = db.prepare(`EXPLAIN QUERY PLAN ${statement.source}`).all(...params) as Array<{ detail: string }>;
    out.set(
      name,
      rows.map((r) => r.detail),
    );
  }
  return out;
}

function indexes(sink: SqliteGraphSink): string[] {
  const { db } = sink as unknown as Internals;
  return (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name").all() as Array<{ name: string }>
  ).map((r) => r.name);
}

const pod: GraphOp = {
  op: "upsert",
  node: { label: "Pod", key: "c/ns/Pod/a", scope: "c/ns/Pod", properties: { name: "a" } },
  owned: [],
  placeholders: [{ label: "Secret", key: "c/ns/Secret/s", properties: { name: "s" } }],
  edges: [
    { type: "USES_SECRET", from: "c/ns/Pod/a", to: "c/ns/Secret/s", properties: { via: "env" } },
    { type: "USES_SECRET", from: "c/ns/Pod/a", to: "c/ns/Secret/s", properties: { via: "env" } },
  ],
};

describe("SQLite sink query plans", () => {
  it("finds every row through an index, and every index serves a query", async () => {
    const sink = new SqliteGraphSink(join(dir, "new.sqlite"));
    const found = plans(sink);
    // Only whole-table reads: none among the statements an apply runs, but the existence
    // probe of any selector (it stops at the first row).
    for (const [name, steps] of found) {
      const scans = steps.filter((s) => /^SCAN (nodes|edges|selectors)\b/.test(s) && !/USING (COVERING )?INDEX/.test(s));
      if (name === "anySelector") continue;
      expect(scans, `${name}: ${steps.join(" | ")}`).toEqual([]);
    }
    const used = new Set([...found.values()].flat().flatMap((s) => [...s.matchAll(/INDEX (\w+)/g)].map((m) => m[1]!)));
    for (const index of indexes(sink)) expect(used.has(index), `index ${index} is used by no query`).toBe(true);
    expect(indexes(sink)).toEqual([
      "edges_identity",
      "edges_owner",
      "edges_selected_to",
      "edges_to",
      "nodes_owner",
      "nodes_scope",
      "selectors_owner",
      "selectors_scope",
    ]);
    await sink.apply([pod, pod]);
    expect((await sink.stats()).edges).toEqual({ USES_SECRET: 1 });
    await sink.close();
  });

  it("migrates a graph written by the earlier schema to the current indexes (storage version 0 -> 1)", async () => {
    const path = join(dir, "old.sqlite");
    const old = new Database(path);
    old.exec(BEFORE_SELECTORS);
    old.close();
    const sink = new SqliteGraphSink(path);
    expect(indexes(sink)).toEqual([
      "edges_identity",
      "edges_owner",
      "edges_selected_to",
      "edges_to",
      "nodes_owner",
      "nodes_scope",
      "selectors_owner",
      "selectors_scope",
    ]);
    await sink.apply([pod, pod]);
    expect((await sink.stats()).edges).toEqual({ USES_SECRET: 1 });
    await sink.close();
  });
});
