// The history's inbox (core/history/inbox.ts): entries keep their order, ops, origins and
// marks through serialization; what the copy recorded is dropped, at once and when the
// inbox is opened again; a replaced (empty) inbox never hands out a seq the copy took.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { HistoryInbox, type InboxEntry, InboxReader, inboxFile, waitingInInbox, writeRecorded } from "../../../core/history/inbox.js";
import { pod } from "../graph/ops.js";

const at = Date.parse("2026-12-01T10:00:00Z");
const entry = (name: string, ms: number | null): InboxEntry => ({
  kind: "ops",
  ops: [pod(name)],
  origins: [ms === null ? null : { resourceVersion: "7", observedAtMs: ms, scope: "c/ns/pod", relist: false }],
  conforming: [true],
});
const fresh = () => join(mkdtempSync(join(tmpdir(), "ko-inbox-")), "wal.history.sqlite");

describe("the history's inbox", () => {
  it("lies beside the history's file", () => {
    expect(inboxFile("/var/lib/ko/wal.history.sqlite")).toBe("/var/lib/ko/wal.history.inbox.sqlite");
    expect(inboxFile("/var/lib/ko/history.db")).toBe("/var/lib/ko/history.db.inbox");
  });

  it("hands the entries over in order, whole, and says how early the waiting ones were observed", () => {
    const path = inboxFile(fresh());
    const inbox = HistoryInbox.open(path, 0);
    expect([inbox.add(entry("a", at + 5)), inbox.add(entry("b", at)), inbox.add({ kind: "derived", sets: [], exclusive: "derived/x/", atMs: at })]).toEqual([
      1, 2, 3,
    ]);
    const reader = new InboxReader(path);
    try {
      const first = reader.next(0)!;
      expect(first.seq).toBe(1);
      expect(first.entry).toEqual(entry("a", at + 5));
      expect(reader.next(1)!.entry).toEqual(entry("b", at));
      expect(reader.next(2)!.entry).toMatchObject({ kind: "derived", exclusive: "derived/x/", atMs: at });
      expect(reader.next(3)).toBeUndefined();
      expect(reader.oldestWaiting(0)).toBe(at);
      expect(reader.oldestWaiting(2)).toBeNull();
      expect(inbox.backlog).toMatchObject({ entries: 3, lastSeq: 3 });
      inbox.recorded(2);
      expect(inbox.backlog).toMatchObject({ entries: 1, lastSeq: 3 });
      expect(reader.next(0)!.seq).toBe(3);
    } finally {
      reader.close();
      inbox.close();
    }
  });

  it("drops at opening what the copy recorded, and never reuses a seq it took, even when replaced", () => {
    const path = inboxFile(fresh());
    let inbox = HistoryInbox.open(path, 0);
    for (const name of ["a", "b", "c"]) inbox.add(entry(name, at));
    inbox.close();
    // The copy recorded 2 before the agent stopped: 3 waits.
    inbox = HistoryInbox.open(path, 2);
    expect(inbox.backlog).toMatchObject({ entries: 1, lastSeq: 3 });
    inbox.close();
    // Lost (a damaged inbox replaced by an empty one) while the copy had recorded up to 3.
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
    inbox = HistoryInbox.open(path, 3);
    try {
      expect(inbox.add(entry("d", at))).toBe(4);
    } finally {
      inbox.close();
    }
  });

  it("tells the commands what waits unrecorded beside a history (history watermarks)", () => {
    const history = fresh();
    expect(waitingInInbox(history)).toBeUndefined();
    const copy = new SqliteGraphSink(history, { history: true });
    writeRecorded(copy.database, 1);
    const inbox = HistoryInbox.open(inboxFile(history), 0);
    try {
      inbox.add(entry("a", at));
      inbox.add(entry("b", at + 20));
      inbox.add(entry("c", at + 10));
      expect(waitingInInbox(history)).toEqual({ entries: 2, oldestObservedMs: at + 10 });
    } finally {
      inbox.close();
      void copy.close();
    }
  });
});
