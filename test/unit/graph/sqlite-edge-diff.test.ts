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
});
