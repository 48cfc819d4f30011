// Retention and coverage heartbeats: versions that ended before the retention window go,
// open ones never; a bytes limit prunes the oldest; how far back the history is pruned is
// recorded; the heartbeat extends only the scopes being watched, and only up to the
// oldest message not yet in the history.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import pino from "pino";
import type { GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { coverageAt, HistoryKeeper, pruneChunk } from "../../../core/history/keeper.js";
import { HistoryReader } from "../../../core/history/reader.js";
import { parseTime } from "../../../core/history/time.js";
import { del, pod } from "../graph/ops.js";
import { stamped } from "./stamped.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-12-01T00:00:00Z");
const sinks: SqliteGraphSink[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
});

function open(): { sink: SqliteGraphSink; path: string } {
  const path = join(mkdtempSync(join(tmpdir(), "ko-history-keep-")), "graph.sqlite");
  const sink = new SqliteGraphSink(path, { history: true });
  sinks.push(sink);
  return { sink, path };
}

const seen = <T extends GraphOp>(op: T, atMs: number, action: "Applied" | "Restarted" = "Applied"): T => stamped(op, { rv: String(atMs), atMs, action });

const silent = pino({ level: "silent" });

function keeper(
  sink: SqliteGraphSink,
  config: { retentionDays: number; maxBytes: number },
  pending: () => string | null = () => null,
  watching = ["c/ns/pod"],
) {
  return new HistoryKeeper(
    { enabled: true, path: null, ...config },
    { target: () => ({ db: sink.database, recorder: sink.history! }), coverage: (nowMs) => coverageAt(watching, pending(), nowMs) },
    silent,
  );
}

/** Pods created and deleted `days` ago (versions that ended then), and one still there. */
async function fill(sink: SqliteGraphSink, endedDaysAgo: number[]): Promise<void> {
  for (const [i, days] of endedDaysAgo.entries()) {
    await sink.apply([seen(pod(`old-${i}`, ["s"]), NOW - days * DAY - 60_000)]);
    await sink.apply([seen(del(`c/ns/Pod/old-${i}`), NOW - days * DAY)]);
  }
  await sink.apply([seen(pod("kept"), NOW - 400 * DAY)]);
}

describe("history retention", () => {
  it("prunes versions that ended before retentionDays, keeps open ones however old, and records how far back", async () => {
    const { sink, path } = open();
    await fill(sink, [100, 95, 80, 10]);
    const pruned = await keeper(sink, { retentionDays: 90, maxBytes: 0 }).prune(NOW);
    // old-0 and old-1: the pod, its edge, the Secret placeholder each.
    expect(pruned).toBe(6);
    const r = HistoryReader.open(path);
    try {
      expect(r.versions("c/ns/Pod/old-0")).toEqual([]);
      expect(r.versions("c/ns/Pod/old-2")).toHaveLength(1);
      expect(r.versions("c/ns/Pod/kept").map((v) => v.toMs)).toEqual([null]);
      expect(r.prunedBeforeMs()).toBe(NOW - 90 * DAY);
    } finally {
      r.close();
    }
    // Nothing more to do the second time.
    expect(await keeper(sink, { retentionDays: 90, maxBytes: 0 }).prune(NOW)).toBe(0);
  });

  it("keeps everything with retentionDays 0 and no bytes limit", async () => {
    const { sink } = open();
    await fill(sink, [3_000, 1_000]);
    expect(await keeper(sink, { retentionDays: 0, maxBytes: 0 }).prune(NOW)).toBe(0);
  });

  it("prunes the oldest ended versions while the history is over maxBytes", async () => {
    const { sink, path } = open();
    await fill(
      sink,
      Array.from({ length: 400 }, (_, i) => 400 - i),
    );
    const total = HistoryReader.open(path);
    const before = total.size();
    total.close();
    const pruned = await keeper(sink, { retentionDays: 0, maxBytes: Math.floor(before.bytes / 2) }).prune(NOW);
    expect(pruned).toBeGreaterThan(0);
    const r = HistoryReader.open(path);
    try {
      // The oldest went first: what is left ended after what went.
      expect(r.versions("c/ns/Pod/old-0")).toEqual([]);
      expect(r.versions("c/ns/Pod/old-399")).toHaveLength(1);
      expect(r.prunedBeforeMs()).toBeGreaterThan(NOW - 400 * DAY);
      expect(r.size().nodeVersions + r.size().edgeVersions).toBeLessThan(before.nodeVersions + before.edgeVersions);
    } finally {
      r.close();
    }
  });

  it("prunes in chunks", async () => {
    const { sink } = open();
    await fill(sink, [50, 40, 30]);
    expect(pruneChunk(sink.database, NOW, 2)).toEqual({ nodeVersions: 2, edgeVersions: 2, coverage: 0 });
  });
});

describe("coverage heartbeat", () => {
  it("extends the watched scopes' coverage to now, or to just before the oldest message still on its way", async () => {
    const { sink, path } = open();
    await sink.apply([seen({ op: "sweep", scope: "c/ns/Pod", present: [] }, NOW - 60_000, "Restarted")]);
    keeper(sink, { retentionDays: 0, maxBytes: 0 }).heartbeat(NOW - 30_000);
    const coverage = () => {
      const r = HistoryReader.open(path);
      try {
        return r.coverage().map((c) => [c.scope, c.fromMs - NOW, c.toMs - NOW]);
      } finally {
        r.close();
      }
    };
    expect(coverage()).toEqual([["c/ns/pod", -60_000, -30_000]]);
    // A message observed 20 s ago is not in the history yet: complete only up to before it.
    keeper(sink, { retentionDays: 0, maxBytes: 0 }, () => new Date(NOW - 20_000).toISOString()).heartbeat(NOW);
    expect(coverage()).toEqual([["c/ns/pod", -60_000, -20_001]]);
    // Not watched (its observer backing off): not extended.
    keeper(sink, { retentionDays: 0, maxBytes: 0 }, () => null, []).heartbeat(NOW);
    expect(coverage()).toEqual([["c/ns/pod", -60_000, -20_001]]);
  });
});

describe("coverage heartbeat beside an open batch", () => {
  it("tries again shortly when a batch's transaction is open, instead of a whole period later", async () => {
    const { sink, path } = open();
    await sink.apply([seen({ op: "sweep", scope: "c/ns/Pod", present: [] }, Date.now() - 60_000, "Restarted")]);
    const k = keeper(sink, { retentionDays: 0, maxBytes: 0 });
    k.start();
    const toMs = () => {
      const r = HistoryReader.open(path);
      try {
        return r.coverage()[0]!.toMs;
      } finally {
        r.close();
      }
    };
    const before = toMs();
    // A batch as the Neo4j side holds it: its transaction open across an await.
    sink.database.exec("BEGIN IMMEDIATE");
    k.heartbeat();
    expect(sink.database.inTransaction).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    sink.database.exec("COMMIT");
    await new Promise((r) => setTimeout(r, 400));
    // Extended by the retry, well before the next periodic heartbeat (10 s).
    const after = toMs();
    k.stop();
    expect(after).toBeGreaterThan(before + 30_000);
  });
});

describe("history times", () => {
  it("reads ISO times (UTC without a zone), now, and times before now", () => {
    const now = Date.parse("2026-12-03T12:00:00Z");
    expect(parseTime("2026-12-01T09:30:00Z", now)).toBe(Date.parse("2026-12-01T09:30:00Z"));
    expect(parseTime("2026-12-01T09:30", now)).toBe(Date.parse("2026-12-01T09:30:00Z"));
    expect(parseTime("2026-12-01", now)).toBe(Date.parse("2026-12-01T00:00:00Z"));
    expect(parseTime("2026-12-01T09:30:00+02:00", now)).toBe(Date.parse("2026-12-01T07:30:00Z"));
    expect(parseTime("now", now)).toBe(now);
    expect(parseTime("-90m", now)).toBe(now - 90 * 60_000);
    expect(parseTime("2h ago", now)).toBe(now - 2 * 3_600_000);
    expect(parseTime("now-7d", now)).toBe(now - 7 * DAY);
    expect(() => parseTime("yesterday", now)).toThrow(/cannot read the time "yesterday": give an ISO 8601 time/);
    expect(() => parseTime("90m", now)).toThrow(/cannot read the time/);
  });
});
