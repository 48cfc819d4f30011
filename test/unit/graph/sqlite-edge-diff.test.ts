// A change of an object rewrites only the declared edges that changed: those that stay
// keep their rows (and with them, the history's stamp of when they began); those that go
// are deleted and what they pointed at is collected when nothing else points at it.
import { describe, expect, it } from "vitest";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { pod } from "./ops.js";

describe("the embedded graph's edges of a changed object", () => {
  it("keeps the rows of the edges that stay, deletes those that go, adds the new ones", async () => {
    const sink = new SqliteGraphSink(":memory:");
    // Another pod's edge after web's: a rewritten row would get a new, higher rowid.
    await sink.apply([pod("web", ["a", "b"], { image: "x" }), pod("other", ["z"])]);
    const rows = () =>
      sink.database.prepare<[], { id: number; to_key: string }>("SELECT rowid AS id, to_key FROM edges WHERE owner = 'c/ns/Pod/web' ORDER BY to_key").all();
    const before = rows();
    expect(before.map((r) => r.to_key)).toEqual(["c/ns/Secret/a", "c/ns/Secret/b"]);

    await sink.apply([pod("web", ["a", "c"], { image: "y" })]);
    const after = rows();
    expect(after.map((r) => r.to_key)).toEqual(["c/ns/Secret/a", "c/ns/Secret/c"]);
    // The edge to a stayed as it was.
    expect(after[0]!.id).toBe(before[0]!.id);
    // b's placeholder went with its last reference.
    const keys = sink.database
      .prepare<[], { key: string }>("SELECT key FROM nodes ORDER BY key")
      .all()
      .map((r) => r.key);
    expect(keys).toEqual(["c/ns/Pod/other", "c/ns/Pod/web", "c/ns/Secret/a", "c/ns/Secret/c", "c/ns/Secret/z"]);
    await sink.close();
  });

  it("writes again an edge that stays declared when the owned node it touched is dropped with the same change", async () => {
    const sink = new SqliteGraphSink(":memory:");
    const key = "c/ns/Pod/web";
    const part = `${key}/container/app`;
    const edge = { type: "HAS_CONTAINER", from: key, to: part, properties: {} };
    // First web owns its container node and points at it.
    await sink.apply([
      {
        op: "upsert",
        node: { label: "Pod", key, scope: "c/ns/Pod", properties: { name: "web" } },
        owned: [{ label: "Container", key: part, properties: { name: "app" } }],
        placeholders: [],
        edges: [edge],
      },
    ]);
    // Then it no longer owns it (the owned node goes, and its edges with it), but still
    // declares the same edge to it, now a placeholder.
    await sink.apply([
      {
        op: "upsert",
        node: { label: "Pod", key, scope: "c/ns/Pod", properties: { name: "web", phase: "Running" } },
        owned: [],
        placeholders: [{ label: "Container", key: part, properties: { name: "app" } }],
        edges: [edge],
      },
    ]);
    const edges = sink.database.prepare<[], { from_key: string; to_key: string }>("SELECT from_key, to_key FROM edges").all();
    expect(edges).toEqual([{ from_key: key, to_key: part }]);
    const target = sink.database.prepare<[string], { observed: number; owner: string | null }>("SELECT observed, owner FROM nodes WHERE key = ?").get(part);
    expect(target).toEqual({ observed: 0, owner: null });
    await sink.close();
  });
});
