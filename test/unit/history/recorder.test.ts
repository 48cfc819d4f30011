// The history recorded in the embedded graph's transactions: versions cut only on a real
// difference, stamped with the change that made them, kinds as the sink decided them
// (a deleted object kept as a placeholder, a placeholder collected), coverage per scope.
import Database from "better-sqlite3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { HistoryReader } from "../../../core/history/reader.js";
import { whoUsedBetween } from "../../../core/history/who-used.js";
import type { KubeMessage } from "../../../core/messages.js";
import { del, pod } from "../graph/ops.js";
import { stamped } from "./stamped.js";

const T0 = Date.parse("2026-12-01T10:00:00Z");
const sinks: SqliteGraphSink[] = [];
const readers: HistoryReader[] = [];

afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const s of sinks.splice(0)) await s.close();
});

function open(
  path = join(mkdtempSync(join(tmpdir(), "ko-history-")), "graph.sqlite"),
  history = true,
): { sink: SqliteGraphSink; read: () => HistoryReader; path: string } {
  const sink = new SqliteGraphSink(path, { history });
  sinks.push(sink);
  return {
    sink,
    path,
    read: () => {
      const r = HistoryReader.open(path);
      readers.push(r);
      return r;
    },
  };
}

/** The op as the dispatcher hands it over: with the change it came from, `atS` seconds after T0. */
const seen = <T extends GraphOp>(op: T, rv: string, atS: number, action: KubeMessage["action"] = "Applied", seq?: number): T =>
  stamped(op, { rv, atMs: T0 + atS * 1000, action, ...(seq === undefined ? {} : { seq }) });

const withObservedAt = (op: GraphOp, atS: number): GraphOp => {
  if (op.op !== "upsert") return op;
  return { ...op, node: { ...op.node, properties: { ...op.node.properties, observedAt: new Date(T0 + atS * 1000).toISOString() } } };
};

const P = "c/ns/Pod/web";
const S = "c/ns/Secret/db";
const secret = (props: Record<string, string> = {}): GraphOp => ({
  op: "upsert",
  node: { label: "Secret", key: S, scope: "c/ns/Secret", properties: { name: "db", ...props } },
  owned: [],
  placeholders: [],
  edges: [],
});

describe("the history in the embedded graph", () => {
  it("opens a version per change, stamped with its resourceVersion and observation time, and nothing for an unchanged relist", async () => {
    const { sink, read } = open();
    await sink.apply([seen(withObservedAt(pod("web", ["db"], { image: "a" }), 1), "10", 1)]);
    // The same object again, seen later (a relist): nothing new.
    await sink.apply([seen(withObservedAt(pod("web", ["db"], { image: "a" }), 5), "10", 5)]);
    await sink.apply([seen(withObservedAt(pod("web", ["db"], { image: "b" }), 7), "12", 7)]);
    await sink.apply([seen(del(P), "15", 9)]);

    const r = read();
    const versions = r.versions(P);
    expect(versions.map((v) => [v.fromKind, v.fromRv, v.fromMs - T0, v.toKind, v.toRv, v.toMs === null ? null : v.toMs - T0])).toEqual([
      ["created", "10", 1000, "changed", "12", 7000],
      ["changed", "12", 7000, "deleted", "15", 9000],
    ]);
    expect(versions[0]!.properties).toMatchObject({ image: "a", observed: true, scope: "c/ns/Pod" });
    expect(versions[0]!.properties).not.toHaveProperty("observedAt");
    // The Secret was a placeholder (referenced, never observed) and was collected with the pod.
    expect(r.versions(S).map((v) => [v.fromKind, v.toKind, v.toMs! - T0])).toEqual([["placeholder", "deleted", 9000]]);
    const { outgoing } = r.edgesOf(P);
    expect(outgoing.map((e) => [e.rel, e.to, e.fromMs - T0, e.toMs! - T0, e.fromRv, e.toRv])).toEqual([["USES_SECRET", S, 1000, 9000, "10", "15"]]);
  });

  it("records an object deleted while referenced as deleted, then a placeholder; observed again, created", async () => {
    const { sink, read } = open();
    await sink.apply([seen(secret(), "1", 1), seen(pod("web", ["db"]), "2", 2)]);
    await sink.apply([seen(del(S), "3", 3)]);
    await sink.apply([seen(secret({ type: "Opaque" }), "4", 4)]);
    expect(
      read()
        .versions(S)
        .map((v) => [v.fromKind, v.observed, v.fromMs - T0, v.toKind, v.toMs === null ? null : v.toMs - T0]),
    ).toEqual([
      ["created", true, 1000, "deleted", 3000],
      ["placeholder", false, 3000, "changed", 4000],
      ["created", true, 4000, null, null],
    ]);
  });

  it("records a change that came and went inside one batch (a pod that lived milliseconds)", async () => {
    const { sink, read } = open();
    await sink.apply([seen(pod("job-x", ["db"]), "1", 1), seen(del("c/ns/Pod/job-x"), "2", 1.2)]);
    const r = read();
    expect(r.versions("c/ns/Pod/job-x").map((v) => [v.fromKind, v.toKind, v.toMs! - v.fromMs])).toEqual([["created", "deleted", 200]]);
    const used = whoUsedBetween(r, S, T0, T0 + 60_000);
    expect(used.map((u) => [u.user.key, u.how.map((h) => h.rel), u.intervals.map((i) => [i.fromMs - T0, i.toMs! - T0])])).toEqual([
      ["c/ns/Pod/job-x", ["USES_SECRET"], [[1000, 1200]]],
    ]);
    // Asked about a window after it: nobody.
    expect(whoUsedBetween(r, S, T0 + 2_000, T0 + 60_000)).toEqual([]);
  });

  it("takes one key written by several ops of a batch: each op's version is kept", async () => {
    const { sink, read } = open();
    // Pods reference the Secret first (a placeholder), then it is observed, then changed:
    // each op's version is kept, the placeholder's too.
    await sink.apply([
      seen(pod("a", ["db"]), "1", 1),
      seen(pod("b", ["db"]), "2", 1.5),
      seen(secret(), "3", 2),
      seen(pod("a", ["db"], { image: "x" }), "4", 2.5),
      seen(secret({ type: "Opaque" }), "5", 3),
    ]);
    const r = read();
    expect(r.versions(S).map((v) => [v.fromKind, v.fromRv, v.toKind, v.toRv])).toEqual([
      ["placeholder", "1", "changed", "3"],
      ["created", "3", "changed", "5"],
      ["changed", "5", null, null],
    ]);
    expect(r.versions("c/ns/Pod/a").map((v) => [v.fromKind, v.fromRv])).toEqual([
      ["created", "1"],
      ["changed", "4"],
    ]);
  });

  it("applying a batch again (a crash before the ack) adds nothing", async () => {
    const { sink, read } = open();
    const batch = () => [
      seen(pod("a", ["db"]), "1", 1, "Applied", 1),
      seen(pod("b", ["db"]), "2", 2, "Applied", 2),
      seen(del("c/ns/Pod/a"), "3", 3, "Applied", 3),
    ];
    await sink.apply(batch());
    const before = read().size();
    expect(before.nodeVersions).toBe(3); // a, b and the Secret placeholder: a deletion closes a version
    // Delivered again, then with one message more: only that one's change is new.
    await sink.apply(batch());
    expect(read().size()).toEqual(before);
    await sink.apply([...batch(), seen(pod("d"), "4", 4, "Applied", 4)]);
    const after = read().size();
    expect(after.nodeVersions).toBe(before.nodeVersions + 1);
    expect(after.edgeVersions).toBe(before.edgeVersions);
    expect(read().versions("c/ns/Pod/a")).toHaveLength(1);
    // Without the WAL's word, a replay that re-creates a deleted object would record it twice:
    // the check above is what keeps it out.
    await sink.apply([seen(pod("a", ["db"]), "1", 1), seen(del("c/ns/Pod/a"), "3", 3)]);
    expect(read().versions("c/ns/Pod/a")).toHaveLength(2);
  });

  it("stamps a sweep's deletions with the relist, and keeps coverage per scope: a start, extended by changes, a relist", async () => {
    const { sink, read } = open();
    await sink.apply([seen(pod("a"), "1", 1), seen(pod("b"), "2", 1)]);
    await sink.apply([seen({ op: "sweep", scope: "c/ns/Pod", present: [P.replace("web", "a"), P.replace("web", "b")] }, "5", 2, "Restarted")]);
    await sink.apply([seen(pod("c"), "7", 4)]);
    await sink.apply([seen({ op: "sweep", scope: "c/ns/Pod", present: ["c/ns/Pod/a"] }, "9", 10, "Restarted")]);
    const r = read();
    expect(r.versions("c/ns/Pod/b").map((v) => [v.toKind, v.toRv, v.toMs! - T0])).toEqual([["deleted", "9", 10_000]]);
    expect(r.coverage().map((c) => [c.scope, c.reason, c.fromMs - T0, c.fromRv, c.toMs - T0, c.toRv])).toEqual([
      ["c/ns/pod", "start", 2000, "5", 4000, "7"],
      ["c/ns/pod", "relist", 10_000, "9", 10_000, "9"],
    ]);
  });

  it("gives the graph as it was at a moment, as the live graph exports it less observedAt", async () => {
    const { sink, read } = open();
    await sink.apply([seen(pod("web", ["db"], { image: "a" }), "1", 1)]);
    await sink.apply([seen(secret(), "2", 2)]);
    await sink.apply([seen(del(P), "3", 3)]);
    const r = read();
    const at = async (s: number) => {
      const lines = [];
      for await (const line of r.at(T0 + s * 1000).export()) lines.push(line);
      return lines.map((l) => (l.type === "node" ? `${l.key} observed=${String(l.properties.observed)}` : `${l.from} -${l.rel}-> ${l.to}`));
    };
    expect(await at(0.5)).toEqual([]);
    expect(await at(1.5)).toEqual([`${P} observed=true`, `${S} observed=false`, `${P} -USES_SECRET-> ${S}`]);
    expect(await at(2.5)).toEqual([`${P} observed=true`, `${S} observed=true`, `${P} -USES_SECRET-> ${S}`]);
    expect(await at(3.5)).toEqual([`${S} observed=true`]);
    const live = [];
    for await (const line of sink.export()) live.push(line);
    const past = [];
    for await (const line of r.at(Date.now() + 1).export()) past.push(line);
    expect(past).toEqual(live);
  });

  it("ends every version once when the agent goes on without history, and begins them again when it is back", async () => {
    const first = open();
    await first.sink.apply([seen(secret({ type: "A" }), "1", 1), seen(pod("web", ["db"]), "2", 2)]);
    await first.sink.close();
    sinks.splice(0);
    const pausedFrom = Date.now();
    // Without history: a change the history never sees.
    const off = open(first.path, false);
    await off.sink.apply([seen(secret({ type: "B" }), "3", 3)]);
    await off.sink.close();
    sinks.splice(0);
    // A second start without history ends nothing more.
    await open(first.path, false).sink.close();
    sinks.splice(0);
    const resumedFrom = Date.now();
    const back = open(first.path);
    const r = back.read();
    const versions = r.versions(S);
    expect(versions.map((v) => [v.fromKind, v.toKind, v.properties.type])).toEqual([
      ["created", "paused", "A"],
      ["resumed", null, "B"],
    ]);
    expect(versions[0]!.toMs).toBeGreaterThanOrEqual(pausedFrom);
    expect(versions[1]!.fromMs).toBeGreaterThanOrEqual(resumedFrom);
    expect(r.edgesOf(P).outgoing.map((e) => [e.to, e.fromMs - T0, e.toMs === null ? null : e.toMs >= pausedFrom])).toEqual([
      [S, 2000, true],
      [S, versions[1]!.fromMs - T0, null],
    ]);
    // Recording again: a change is a version of its own.
    await back.sink.apply([seen(secret({ type: "C" }), "4", Date.now() / 1000 - T0 / 1000 + 1)]);
    expect(
      back
        .read()
        .versions(S)
        .map((v) => v.properties.type),
    ).toEqual(["A", "B", "C"]);
  });

  it("migrates a history of version 1 (open versions in the history's tables) without changing what it says", async () => {
    const { sink, path, read } = open();
    await sink.apply([seen(secret(), "1", 1), seen(pod("web", ["db"]), "2", 2)]);
    await sink.apply([seen(pod("web", ["db"], { image: "b" }), "3", 3)]);
    const before = read();
    const expected = { pod: before.versions(P), secret: before.versions(S), edges: before.edgesOf(P) };
    before.close();
    readers.splice(0);
    await sink.close();
    sinks.splice(0);
    // Back to the layout of version 1: the open versions as rows with to_ms NULL, no stamp columns.
    const db = new Database(path);
    db.exec(`
      INSERT INTO history_nodes (key, label, observed, owner, scope, props, from_ms, from_rv, from_kind)
        SELECT key, label, observed, owner, scope, props, h_ms, h_rv, h_kind FROM nodes;
      INSERT INTO history_edges (type, from_key, to_key, owner, props, selected, from_ms, from_rv, from_kind)
        SELECT type, from_key, to_key, owner, props, selected, h_ms, h_rv, 'created' FROM edges;
      ALTER TABLE nodes DROP COLUMN h_ms; ALTER TABLE nodes DROP COLUMN h_rv; ALTER TABLE nodes DROP COLUMN h_kind;
      ALTER TABLE edges DROP COLUMN h_ms; ALTER TABLE edges DROP COLUMN h_rv;
      UPDATE history_meta SET value = '1' WHERE name = 'version';
      PRAGMA user_version = 1;
    `);
    db.close();
    expect(() => HistoryReader.open(path)).toThrow(/history of version 1; .* run the agent of this version once/);
    open(path);
    const r = read();
    expect(r.versions(P)).toEqual(expected.pod);
    expect(r.versions(S)).toEqual(expected.secret);
    expect(r.edgesOf(P)).toEqual(expected.edges);
    expect(r.size().nodeVersions).toBe(expected.pod.length + expected.secret.length);
  });
});
