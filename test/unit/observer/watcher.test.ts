// The list/watch state machine, driven step by step against a scripted client.
// Case numbers refer to /work/shared/notes/list-watch.md.
import { describe, expect, it } from "vitest";
import { ApiError } from "../../../core/kube/errors.js";
import { ListGate } from "../../../core/observer/list-gate.js";
import { Watcher, type WatcherEvent, type WatcherOptions } from "../../../core/observer/watcher.js";
import { FakeClient, FakeWatchStream, bookmark, errorEvent, event, obj, page } from "./fakes.js";

interface Harness {
  client: FakeClient;
  watcher: Watcher;
  clock: { now: number };
}

function harness(options: Partial<WatcherOptions> = {}): Harness {
  const client = new FakeClient();
  const clock = { now: 1_000_000 };
  const watcher = new Watcher(client, {
    pageSize: 2,
    watchTimeoutSeconds: () => 300,
    inactivityMarginSeconds: 30,
    now: () => clock.now,
    ...options,
  });
  return { client, watcher, clock };
}

const names = (events: WatcherEvent[]): string[] => events.flatMap((e) => (e.type === "initPage" ? e.objects.map((o) => o.metadata?.name ?? "?") : []));

function errorOf(events: WatcherEvent[]): Extract<WatcherEvent, { type: "error" }> {
  expect(events).toHaveLength(1);
  const [only] = events;
  if (only?.type !== "error") throw new Error(`expected an error event, got ${JSON.stringify(events)}`);
  return only;
}

/** Lists one page at rv and opens the watch (the stream the test supplies). */
async function listThenWatch(h: Harness, rv: string, stream: FakeWatchStream): Promise<void> {
  h.client.scriptList(page([obj("a", "ua", "5")], rv)).scriptWatch(stream);
  await h.watcher.step();
  expect(await h.watcher.step()).toStrictEqual([{ type: "watchStarted", resourceVersion: rv }]);
}

describe("Watcher: paged list (case 1)", () => {
  it("pages with continue tokens: init only on the first page, initDone with the last page's RV", async () => {
    const h = harness({ pageSize: 2 });
    h.client.scriptList(
      page([obj("a", "ua", "1"), obj("b", "ub", "2")], "100", "token-1"),
      page([obj("c", "uc", "3"), obj("d", "ud", "4")], "100", "token-2"),
      page([obj("e", "ue", "5")], "101"),
    );
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });

    const first = await h.watcher.step();
    expect(first.map((e) => e.type)).toStrictEqual(["init", "initPage"]);
    expect(names(first)).toStrictEqual(["a", "b"]);
    expect(h.watcher.state).toStrictEqual({ kind: "listing", continueToken: "token-1" });

    const second = await h.watcher.step();
    expect(second.map((e) => e.type)).toStrictEqual(["initPage"]);
    expect(names(second)).toStrictEqual(["c", "d"]);
    expect(h.watcher.state).toStrictEqual({ kind: "listing", continueToken: "token-2" });

    const third = await h.watcher.step();
    expect(third.map((e) => e.type)).toStrictEqual(["initPage", "initDone"]);
    expect(names(third)).toStrictEqual(["e"]);
    expect(third[1]).toStrictEqual({ type: "initDone", resourceVersion: "101" });
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "101" });

    // limit on every page; no token on the first, then each page's token in turn.
    expect(h.client.listCalls).toStrictEqual([
      { limit: 2, continueToken: undefined },
      { limit: 2, continueToken: "token-1" },
      { limit: 2, continueToken: "token-2" },
    ]);
    expect(h.client.watchCalls).toHaveLength(0);
  });

  it("a single page without a continue token is a complete list", async () => {
    const h = harness();
    h.client.scriptList(page([], "7"));
    expect(await h.watcher.step()).toStrictEqual([{ type: "init" }, { type: "initPage", objects: [] }, { type: "initDone", resourceVersion: "7" }]);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "7" });
  });

  it("an empty-string continue token counts as the last page", async () => {
    const h = harness();
    h.client.scriptList(page([obj("a", "ua", "1")], "9", ""));
    const events = await h.watcher.step();
    expect(events.map((e) => e.type)).toStrictEqual(["init", "initPage", "initDone"]);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "9" });
  });

  it("a failed first page emits no init and stays empty; the retry starts the list afresh", async () => {
    const h = harness();
    h.client.scriptList(new ApiError("server", "etcd unavailable", 503), page([obj("a", "ua", "1")], "3"));
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("server");
    expect(failed.relist).toBe(false);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });

    const retried = await h.watcher.step();
    expect(retried.map((e) => e.type)).toStrictEqual(["init", "initPage", "initDone"]);
    expect(h.client.listCalls.map((c) => c.continueToken)).toStrictEqual([undefined, undefined]);
  });

  it("a failed later page keeps its continue token and resumes there without a new init", async () => {
    const h = harness();
    h.client.scriptList(page([obj("a", "ua", "1")], "50", "tok"), new ApiError("server", "internal error", 500), page([obj("b", "ub", "2")], "50"));
    await h.watcher.step();
    const failed = errorOf(await h.watcher.step());
    expect(failed.relist).toBe(false);
    expect(h.watcher.state).toStrictEqual({ kind: "listing", continueToken: "tok" });

    const resumed = await h.watcher.step();
    expect(resumed.map((e) => e.type)).toStrictEqual(["initPage", "initDone"]);
    expect(names(resumed)).toStrictEqual(["b"]);
    expect(h.client.listCalls.map((c) => c.continueToken)).toStrictEqual([undefined, "tok", "tok"]);
  });

  it("410 on a continue page drops the partial list and relists from the start (case 2)", async () => {
    const h = harness();
    h.client.scriptList(
      page([obj("a", "ua", "1")], "50", "old-token"),
      new ApiError("expired", "The provided continue parameter is too old", 410),
      page([obj("a", "ua", "1"), obj("b", "ub", "2")], "80"),
    );
    await h.watcher.step();
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("expired");
    expect(failed.relist).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });

    const again = await h.watcher.step();
    // A new init tells the consumer that what follows is a whole new list.
    expect(again.map((e) => e.type)).toStrictEqual(["init", "initPage", "initDone"]);
    expect(again[2]).toStrictEqual({ type: "initDone", resourceVersion: "80" });
    expect(h.client.listCalls.map((c) => c.continueToken)).toStrictEqual([undefined, "old-token", undefined]);
  });

  it("a list rejected with 'too large resource version' also starts over", async () => {
    const h = harness();
    h.client.scriptList(page([], "1", "t"), new ApiError("too-large-rv", "Too large resource version", 504));
    await h.watcher.step();
    expect(errorOf(await h.watcher.step()).relist).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });
  });

  it("non-ApiError failures become ApiError kind other", async () => {
    const h = harness();
    h.client.scriptList(() => Promise.reject("boom as a string"));
    const failed = errorOf(await h.watcher.step());
    expect(failed.error).toBeInstanceOf(ApiError);
    expect(failed.error.kind).toBe("other");
    expect(failed.error.message).toBe("boom as a string");
    expect(failed.relist).toBe(false);
  });
});

describe("Watcher: watch", () => {
  it("opens the watch at the list's resourceVersion with the configured timeouts", async () => {
    let draws = 0;
    const h = harness({
      watchTimeoutSeconds: () => {
        draws += 1;
        return draws * 100 + 200;
      },
      inactivityMarginSeconds: 15,
    });
    h.client.scriptList(page([obj("a", "ua", "40")], "42"));
    await h.watcher.step();
    expect(await h.watcher.step()).toStrictEqual([{ type: "watchStarted", resourceVersion: "42" }]);
    expect(h.client.watchCalls).toStrictEqual([{ resourceVersion: "42", timeoutSeconds: 300, inactivityTimeoutMs: 315_000 }]);
    expect(h.watcher.state).toMatchObject({ kind: "watching", resourceVersion: "42", events: 0 });
  });

  it("ADDED, MODIFIED and DELETED yield applied/deleted and advance the resourceVersion", async () => {
    const h = harness();
    const stream = new FakeWatchStream(
      event("ADDED", obj("b", "ub", "11")),
      event("MODIFIED", obj("b", "ub", "12", "default", { spec: { note: "x" } })),
      event("DELETED", obj("b", "ub", "13")),
    );
    await listThenWatch(h, "10", stream);

    const added = await h.watcher.step();
    expect(added).toStrictEqual([{ type: "applied", object: obj("b", "ub", "11"), resourceVersion: "11" }]);
    expect(h.watcher.state).toMatchObject({ kind: "watching", resourceVersion: "11" });

    const modified = await h.watcher.step();
    expect(modified).toMatchObject([{ type: "applied", resourceVersion: "12", object: { spec: { note: "x" } } }]);
    expect(h.watcher.state).toMatchObject({ resourceVersion: "12" });

    const deleted = await h.watcher.step();
    expect(deleted).toStrictEqual([{ type: "deleted", object: obj("b", "ub", "13"), resourceVersion: "13" }]);
    expect(h.watcher.state).toMatchObject({ kind: "watching", resourceVersion: "13", events: 3 });
  });

  it("an event without a resourceVersion keeps the last one", async () => {
    const h = harness();
    const noRv = obj("b", "ub", "");
    delete noRv.metadata?.resourceVersion;
    await listThenWatch(h, "10", new FakeWatchStream(event("ADDED", obj("a", "ua", "11")), event("MODIFIED", noRv)));
    await h.watcher.step();
    expect(await h.watcher.step()).toStrictEqual([{ type: "applied", object: noRv, resourceVersion: "11" }]);
    expect(h.watcher.state).toMatchObject({ resourceVersion: "11" });
  });

  it("BOOKMARK advances the resourceVersion without an event, and the next watch starts there (case 7)", async () => {
    const h = harness();
    const stream = new FakeWatchStream(bookmark("500"), bookmark("900")).end();
    await listThenWatch(h, "10", stream);

    expect(await h.watcher.step()).toStrictEqual([]);
    expect(h.watcher.state).toMatchObject({ kind: "watching", resourceVersion: "500" });
    expect(await h.watcher.step()).toStrictEqual([]);
    expect(h.watcher.state).toMatchObject({ kind: "watching", resourceVersion: "900" });

    // The server ends the watch: resume from the bookmark's RV, not the list's.
    h.clock.now += 300_000;
    expect(await h.watcher.step()).toStrictEqual([]);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "900" });
    expect(await h.watcher.step()).toStrictEqual([{ type: "watchStarted", resourceVersion: "900" }]);
    expect(h.client.watchCalls.map((c) => c.resourceVersion)).toStrictEqual(["10", "900"]);
    expect(h.client.listCalls).toHaveLength(1);
  });

  it("a watch the server ends normally is re-opened from the last RV, without a relist (case 3)", async () => {
    const h = harness();
    await listThenWatch(h, "10", new FakeWatchStream(event("ADDED", obj("b", "ub", "17"))).end());
    await h.watcher.step();
    expect(await h.watcher.step()).toStrictEqual([]);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "17" });

    expect(await h.watcher.step()).toStrictEqual([{ type: "watchStarted", resourceVersion: "17" }]);
    expect(h.client.listCalls).toHaveLength(1);
    expect(h.client.watchCalls.map((c) => c.resourceVersion)).toStrictEqual(["10", "17"]);
  });

  it("a quiet watch that ends after a while with no event is not an error", async () => {
    const h = harness();
    const stream = new FakeWatchStream();
    await listThenWatch(h, "10", stream);
    h.clock.now += 5_000;
    stream.end();
    expect(await h.watcher.step()).toStrictEqual([]);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "10" });
  });

  it("a watch that closes instantly with no event is reported as an error, not silently reopened (case 12)", async () => {
    const h = harness();
    const stream = new FakeWatchStream().end();
    await listThenWatch(h, "10", stream);
    h.clock.now += 10;
    const failed = errorOf(await h.watcher.step());
    expect(failed.relist).toBe(false);
    expect(failed.error.message).toMatch(/closed immediately/);
    // Still resumes from the same RV (after the caller's backoff), no relist.
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "10" });
  });

  it("in-stream ERROR 410 closes the stream and relists from scratch (case 4)", async () => {
    const h = harness();
    const stream = new FakeWatchStream(errorEvent({ code: 410, reason: "Expired", message: "too old resource version: 10 (20)" }));
    await listThenWatch(h, "10", stream);
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("expired");
    expect(failed.error.status).toBe(410);
    expect(failed.relist).toBe(true);
    expect(stream.closed).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });

    h.client.scriptList(page([], "30"));
    const relisted = await h.watcher.step();
    expect(relisted.map((e) => e.type)).toStrictEqual(["init", "initPage", "initDone"]);
    expect(h.client.listCalls.map((c) => c.continueToken)).toStrictEqual([undefined, undefined]);
  });

  it("in-stream ERROR 'too large resource version' relists (case 11)", async () => {
    const h = harness();
    const stream = new FakeWatchStream(
      errorEvent({
        code: 504,
        reason: "Timeout",
        message: "Too large resource version: 1000010, current: 10",
        details: { causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }], retryAfterSeconds: 1 },
      }),
    );
    await listThenWatch(h, "10", stream);
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("too-large-rv");
    expect(failed.relist).toBe(true);
    expect(stream.closed).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });
  });

  it("another in-stream ERROR (500) closes the stream and re-watches from the last RV, no relist (case 12)", async () => {
    const h = harness();
    const stream = new FakeWatchStream(event("ADDED", obj("b", "ub", "12")), errorEvent({ code: 500, reason: "InternalError", message: "boom" }));
    await listThenWatch(h, "10", stream);
    await h.watcher.step();
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("server");
    expect(failed.relist).toBe(false);
    expect(stream.closed).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "12" });
  });

  it("an ERROR event without a code is treated as a server error", async () => {
    const h = harness();
    await listThenWatch(h, "10", new FakeWatchStream(errorEvent({ message: "something odd" })));
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("server");
    expect(failed.relist).toBe(false);
  });

  it("a watch open rejected as forbidden is an error without relist; the state stays watch-pending", async () => {
    const h = harness();
    h.client.scriptList(page([], "10")).scriptWatch(new ApiError("forbidden", 'pods is forbidden: User "x" cannot watch', 403));
    await h.watcher.step();
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("forbidden");
    expect(failed.relist).toBe(false);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "10" });
    // The retry is another watch at the same RV, never a list.
    await h.watcher.step();
    expect(h.client.watchCalls.map((c) => c.resourceVersion)).toStrictEqual(["10", "10"]);
    expect(h.client.listCalls).toHaveLength(1);
  });

  it("a watch open answered with HTTP 410 relists", async () => {
    const h = harness();
    h.client.scriptList(page([], "10")).scriptWatch(new ApiError("expired", "too old resource version", 410));
    await h.watcher.step();
    expect(errorOf(await h.watcher.step()).relist).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });
  });

  it("a stream that fails mid-way (e.g. stalled, case 9) re-watches from the last RV", async () => {
    const h = harness();
    const stream = new FakeWatchStream(event("MODIFIED", obj("a", "ua", "14"))).fail(new ApiError("stalled", "watch sent nothing for 330 s"));
    await listThenWatch(h, "10", stream);
    await h.watcher.step();
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.kind).toBe("stalled");
    expect(failed.relist).toBe(false);
    expect(h.watcher.state).toStrictEqual({ kind: "watch-pending", resourceVersion: "14" });
  });

  it("an unknown event type is an error and does not move the resourceVersion", async () => {
    const h = harness();
    const weird = { type: "SURPRISE", object: obj("a", "ua", "99") } as unknown as Parameters<FakeWatchStream["push"]>[0];
    await listThenWatch(h, "10", new FakeWatchStream(weird));
    const failed = errorOf(await h.watcher.step());
    expect(failed.error.message).toMatch(/SURPRISE/);
    expect(failed.relist).toBe(false);
    expect(h.watcher.state).toMatchObject({ resourceVersion: "10" });
  });

  it("close() ends a pending read: the step waiting on the stream resolves", async () => {
    const h = harness();
    const stream = new FakeWatchStream();
    await listThenWatch(h, "10", stream);
    const pending = h.watcher.step();
    await new Promise((r) => setTimeout(r, 5));
    expect(stream.reading).toBe(true);
    h.watcher.close();
    expect(stream.closed).toBe(true);
    await expect(pending).resolves.toBeInstanceOf(Array);
    expect(h.watcher.state.kind).toBe("watch-pending");
  });

  it("relist() closes the open stream and the next step lists from scratch", async () => {
    const h = harness();
    const stream = new FakeWatchStream();
    await listThenWatch(h, "10", stream);
    h.watcher.relist();
    expect(stream.closed).toBe(true);
    expect(h.watcher.state).toStrictEqual({ kind: "empty" });
    h.client.scriptList(page([], "20"));
    expect((await h.watcher.step())[0]).toStrictEqual({ type: "init" });
  });
});

describe("Watcher: the shared list gate", () => {
  it("holds one slot from a LIST's first page to its last; a second LIST waits for it", async () => {
    const gate = new ListGate(1);
    const a = harness({ listGate: gate });
    const b = harness({ listGate: gate });
    a.client.scriptList(page([obj("a1", "u1", "1")], "10", "more"), page([obj("a2", "u2", "2")], "10"));
    b.client.scriptList(page([obj("b1", "u3", "3")], "11"));
    await a.watcher.step(); // first page: a holds the slot
    expect(gate.inUse).toBe(1);
    let bDone = false;
    const bStep = b.watcher.step().then((events) => {
      bDone = true;
      return events;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(bDone).toBe(false);
    expect(b.client.listCalls).toHaveLength(0);
    const last = await a.watcher.step(); // last page: the slot passes to b
    expect(last.map((e) => e.type)).toStrictEqual(["initPage", "initDone"]);
    expect(names(await bStep)).toStrictEqual(["b1"]);
    expect(gate.inUse).toBe(0);
  });

  it("a failed page gives the slot back; closing while waiting for one ends the step", async () => {
    const gate = new ListGate(1);
    const a = harness({ listGate: gate });
    a.client.scriptList(new ApiError("network", "down"));
    expect(errorOf(await a.watcher.step()).error.kind).toBe("network");
    expect(gate.inUse).toBe(0);
    const held = await gate.acquire();
    const b = harness({ listGate: gate });
    const waiting = b.watcher.step();
    b.watcher.close();
    expect(await waiting).toStrictEqual([]);
    expect(b.client.listCalls).toHaveLength(0);
    held();
    expect(gate.inUse).toBe(0);
  });
});
