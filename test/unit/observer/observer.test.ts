// The Observer end to end against fakes: what KubeMessages come out, in what order, for
// lists, relists, watch events, errors, stops, once mode and backpressure.
// Case numbers refer to /work/shared/notes/list-watch.md.
import { afterEach, describe, expect, it } from "vitest";
import type { ObserverConfig } from "../../../core/config/model.js";
import { ApiError } from "../../../core/kube/errors.js";
import type { OversizedObject } from "../../../core/kube/oversize.js";
import type { KubeMessage } from "../../../core/messages.js";
import { Observer, type ObserverStatus, type StopReason } from "../../../core/observer/observer.js";
import { LAST_APPLIED_ANNOTATION } from "../../../core/plugin/sdk.js";
import {
  FakeClient,
  FakeOutlet,
  FakeWatchStream,
  errorEvent,
  event,
  obj,
  page,
  recordingPlugin,
  sleep,
  testConfig,
  until,
  type RecordingPlugin,
} from "./fakes.js";

interface Running {
  client: FakeClient;
  outlet: FakeOutlet;
  plugin: RecordingPlugin;
  observer: Observer;
  done: Promise<ObserverStatus>;
  finished: () => boolean;
  stop: (reason?: StopReason) => Promise<ObserverStatus>;
}

const running: Running[] = [];

afterEach(async () => {
  // Never leave an observer looping into the next test.
  for (const r of running.splice(0)) {
    r.outlet.ackAll();
    r.observer.stop();
    r.outlet.ackAll();
  }
});

function start(
  client: FakeClient,
  options: {
    config?: Partial<ObserverConfig>;
    once?: boolean;
    maxInFlight?: number;
    autoAck?: boolean;
    namespace?: string | null;
    exclude?: string[];
    sweepExcept?: string[];
  } = {},
): Running {
  const outlet = new FakeOutlet(options.autoAck ?? true);
  const plugin = recordingPlugin();
  const observer = new Observer({ cluster: "c1", namespace: options.namespace === undefined ? "default" : options.namespace }, plugin, client, outlet, {
    config: testConfig(options.config),
    once: options.once ?? false,
    maxInFlight: options.maxInFlight,
    exclude: options.exclude,
    sweepExcept: options.sweepExcept,
  });
  let finished = false;
  const done = observer.run().finally(() => (finished = true));
  const r: Running = {
    client,
    outlet,
    plugin,
    observer,
    done,
    finished: () => finished,
    stop: async (reason) => {
      observer.stop(reason);
      return done;
    },
  };
  running.push(r);
  return r;
}

/** A compact view of a message: action, name, uid (and present names for Restarted). */
function brief(m: KubeMessage): string {
  if (m.action === "Restarted") return `Restarted[${(m.present ?? []).map((p) => `${p.name}:${p.uid}`).join(",")}]`;
  return `${m.action} ${m.name}:${m.uid}`;
}

const briefs = (outlet: FakeOutlet): string[] => outlet.messages.map(brief);
const restarts = (outlet: FakeOutlet): KubeMessage[] => outlet.messages.filter((m) => m.action === "Restarted");

describe("Observer: initial list", () => {
  it("emits Applied per object, then one Restarted listing every object present", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "9", "next"), page([obj("c", "uc", "5")], "9"));
    const r = start(client);
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Applied b:ub", "Applied c:uc", "Restarted[a:ua,b:ub,c:uc]"]);

    const [a] = r.outlet.messages;
    expect(a).toMatchObject({
      cluster: "c1",
      namespace: "default",
      resource: "widget",
      kind: "Widget",
      action: "Applied",
      objectNamespace: "default",
      uid: "ua",
      name: "a",
      resourceVersion: "3",
      object: { name: "a", uid: "ua", note: null },
    });
    expect(a?.error).toBeUndefined();
    expect(Number.isNaN(Date.parse(a?.observedAt ?? ""))).toBe(false);

    const restarted = restarts(r.outlet)[0]!;
    expect(restarted).toMatchObject({ action: "Restarted", resourceVersion: "9", object: null, uid: null, name: null, objectNamespace: null });
    expect(restarted.present).toStrictEqual([
      { namespace: "default", name: "a", uid: "ua" },
      { namespace: "default", name: "b", uid: "ub" },
      { namespace: "default", name: "c", uid: "uc" },
    ]);

    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching");
    expect(r.outlet.lastStatus()).toMatchObject({ phase: "watching", synced: true, objects: 3 });
    expect(client.watchCalls[0]?.resourceVersion).toBe("9");
    expect((await r.stop()).phase).toBe("stopped");
  });

  it("reports starting → listing → watching with synced only after the list completes", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "9"));
    const r = start(client);
    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching");
    const listing = r.outlet.statuses.find((s) => s.phase === "listing");
    expect(listing?.synced).toBe(false);
    expect(r.outlet.statuses.some((s) => s.phase === "listing" && s.synced)).toBe(true);
    await r.stop();
  });
});

describe("Observer: relists (cases 4, 5, 6, 14)", () => {
  it("after a 410 relist, an object that vanished is left out of the new Restarted (the sink sweeps it), with no second delete path", async () => {
    const firstWatch = new FakeWatchStream(errorEvent({ code: 410, reason: "Expired", message: "too old resource version" }));
    const client = new FakeClient()
      .scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "10"), page([obj("a", "ua", "3")], "20"))
      .scriptWatch(firstWatch);
    const r = start(client);
    await until(() => restarts(r.outlet).length === 2, "second Restarted");
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Applied b:ub", "Restarted[a:ua,b:ub]", "Applied a:ua", "Restarted[a:ua]"]);
    expect(restarts(r.outlet)[1]).toMatchObject({ resourceVersion: "20" });
    // Reported (the supervisor logs it), not sent as a message.
    expect(r.outlet.statuses.map((s) => s.goneAtRelist ?? 0)).toContain(1);
    expect(client.listCalls).toHaveLength(2);
    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching again");
    expect(r.outlet.lastStatus()).toMatchObject({ relists: 1, objects: 1 });
    await r.stop();
  });

  it("same name with a new uid on relist: Deleted(old uid) before Applied(new uid), no Deleted of the new one", async () => {
    const client = new FakeClient()
      .scriptList(page([obj("a", "u-old", "3"), obj("b", "ub", "4")], "10"), page([obj("a", "u-new", "15"), obj("b", "ub", "4")], "20"))
      .scriptWatch(new FakeWatchStream(errorEvent({ code: 410, message: "gone" })));
    const r = start(client);
    await until(() => restarts(r.outlet).length === 2, "second Restarted");
    const afterRelist = briefs(r.outlet).slice(3);
    expect(afterRelist).toStrictEqual(["Deleted a:u-old", "Applied a:u-new", "Applied b:ub", "Restarted[a:u-new,b:ub]"]);
    expect(r.outlet.messages.filter((m) => m.action === "Deleted" && m.uid === "u-new")).toHaveLength(0);
    await r.stop();
  });

  it("a 410 mid-list discards the partial list: the restarted list alone decides what is present", async () => {
    const client = new FakeClient()
      .scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "10"))
      .scriptWatch(new FakeWatchStream(errorEvent({ code: 410, message: "gone" })))
      // The relist's first page, then an expired continue token, then a fresh list.
      .scriptList(page([obj("a", "ua", "3")], "20", "tok"), new ApiError("expired", "continue token too old", 410), page([obj("b", "ub", "4")], "30"));
    const r = start(client);
    await until(() => restarts(r.outlet).length === 2, "second Restarted");
    const second = restarts(r.outlet)[1]!;
    expect(second.present?.map((p) => p.name)).toStrictEqual(["b"]);
    // a was seen on the abandoned page but not in the complete list: it is gone (the
    // boundary leaves it out; no Deleted message besides).
    const tail = briefs(r.outlet).slice(briefs(r.outlet).indexOf("Restarted[a:ua,b:ub]") + 1);
    expect(tail).toStrictEqual(["Applied a:ua", "Applied b:ub", "Restarted[b:ub]"]);
    expect(client.listCalls.map((c) => c.continueToken)).toStrictEqual([undefined, undefined, "tok", undefined]);
    await r.stop();
  });

  it("a relist landing while messages are still unacknowledged diffs against them too (case 13)", async () => {
    const stream = new FakeWatchStream();
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "10"), page([obj("a", "ua", "3")], "20")).scriptWatch(stream);
    const r = start(client, { autoAck: false, maxInFlight: 100 });
    await until(() => stream.reading, "watch read");
    // c is added and its message is still waiting for the sink when the relist lands.
    stream.push(event("ADDED", obj("c", "uc", "11")), errorEvent({ code: 410, message: "gone" }));
    await until(() => restarts(r.outlet).length === 2, "second Restarted");
    expect(r.outlet.pendingAcks).toBeGreaterThan(0);
    expect(briefs(r.outlet).slice(2)).toStrictEqual(["Applied c:uc", "Applied a:ua", "Restarted[a:ua]"]);
    expect(r.outlet.statuses.map((s) => s.goneAtRelist ?? 0)).toContain(1);
    r.outlet.ackAll();
    await r.stop();
  });

  it("a cluster-wide observer keys objects by namespace and name: same name in two namespaces are distinct", async () => {
    const client = new FakeClient()
      .scriptList(page([obj("a", "u1", "3", "ns1"), obj("a", "u2", "4", "ns2")], "10"), page([obj("a", "u2", "4", "ns2")], "20"))
      .scriptWatch(new FakeWatchStream(errorEvent({ code: 410, message: "gone" })));
    const r = start(client, { namespace: null });
    await until(() => restarts(r.outlet).length === 2, "second Restarted");
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:u1", "Applied a:u2", "Restarted[a:u1,a:u2]", "Applied a:u2", "Restarted[a:u2]"]);
    expect(restarts(r.outlet)[1]?.present).toStrictEqual([{ namespace: "ns2", name: "a", uid: "u2" }]);
    await r.stop();
  });

  it("a watch that ends normally is resumed from the last RV: no relist, no second Restarted (case 3)", async () => {
    const client = new FakeClient()
      .scriptList(page([obj("a", "ua", "3")], "10"))
      .scriptWatch(new FakeWatchStream(event("MODIFIED", obj("a", "ua", "11"))).end());
    const r = start(client);
    await until(() => client.watchCalls.length === 2, "second watch");
    expect(client.watchCalls.map((c) => c.resourceVersion)).toStrictEqual(["10", "11"]);
    expect(client.listCalls).toHaveLength(1);
    expect(restarts(r.outlet)).toHaveLength(1);
    await r.stop();
  });
});

describe("Observer: watch events", () => {
  it("ADDED/MODIFIED become Applied, DELETED becomes Deleted with the reduced object", async () => {
    const stream = new FakeWatchStream();
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "10")).scriptWatch(stream);
    const r = start(client);
    await until(() => stream.reading, "watch read");
    stream.push(
      event("ADDED", obj("b", "ub", "11")),
      event("MODIFIED", obj("b", "ub", "12", "default", { spec: { note: "edited" } })),
      event("DELETED", obj("a", "ua", "13")),
    );
    await until(() => r.outlet.messages.length === 5, "3 watch messages");
    const [added, modified, deleted] = r.outlet.messages.slice(2);
    expect(added).toMatchObject({ action: "Applied", name: "b", uid: "ub", resourceVersion: "11" });
    expect(modified).toMatchObject({ action: "Applied", name: "b", resourceVersion: "12", object: { note: "edited" } });
    expect(deleted).toMatchObject({ action: "Deleted", name: "a", uid: "ua", resourceVersion: "13", object: { name: "a", uid: "ua" } });
    await r.stop();
  });

  it("a watched ADDED with a known name but a new uid emits Deleted(old) first (case 6)", async () => {
    const stream = new FakeWatchStream(event("ADDED", obj("a", "u2", "11")));
    const client = new FakeClient().scriptList(page([obj("a", "u1", "3")], "10")).scriptWatch(stream);
    const r = start(client);
    await until(() => r.outlet.messages.length === 4, "4 messages");
    expect(briefs(r.outlet).slice(2)).toStrictEqual(["Deleted a:u1", "Applied a:u2"]);
    await r.stop();
  });
});

describe("Observer: stop", () => {
  it('stop("scope-deleted") emits one Restarted with present [] (the sink sweeps the whole scope)', async () => {
    const stream = new FakeWatchStream(event("ADDED", obj("c", "uc", "11")), event("DELETED", obj("a", "ua", "12")));
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "10")).scriptWatch(stream);
    const r = start(client);
    await until(() => r.outlet.messages.length === 5 && stream.reading, "watch messages");
    const before = r.outlet.messages.length;
    const status = await r.stop("scope-deleted");
    expect(status.phase).toBe("stopped");
    const tail = r.outlet.messages.slice(before);
    expect(tail).toHaveLength(1);
    expect(tail[0]).toMatchObject({ action: "Restarted", present: [] });
    expect(stream.closed).toBe(true);
  });

  it('stop("shutdown") emits nothing more and resolves with phase stopped', async () => {
    const stream = new FakeWatchStream();
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "10")).scriptWatch(stream);
    const r = start(client);
    await until(() => stream.reading, "watch read");
    const before = r.outlet.messages.length;
    expect((await r.stop("shutdown")).phase).toBe("stopped");
    expect(r.outlet.messages.length).toBe(before);
    expect(r.outlet.lastStatus()?.phase).toBe("stopped");
  });

  it("stop() during a backoff wakes the observer at once", async () => {
    const client = new FakeClient().scriptList(new ApiError("server", "down", 503));
    const r = start(client, { config: { backoff: { initialMs: 60_000, factor: 2, maxMs: 60_000, resetAfterMs: 1, jitter: 0, maxRetryAfterMs: 300_000 } } });
    await until(() => r.outlet.lastStatus()?.phase === "backing-off", "backing-off");
    const t0 = Date.now();
    await r.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});

describe("Observer: coming back after an outage", () => {
  it("a 410 relists at once, without waiting out a backoff (even a long one)", async () => {
    const client = new FakeClient()
      .scriptList(page([obj("a", "ua", "3")], "10"), page([obj("a", "ua", "3"), obj("b", "ub", "4")], "20"))
      .scriptWatch(new FakeWatchStream(errorEvent({ code: 410, reason: "Expired", message: "too old resource version: 10 (30)" })));
    const r = start(client, { config: { backoff: { initialMs: 60_000, factor: 2, maxMs: 60_000, resetAfterMs: 60_000, jitter: 0 } } });
    await until(() => restarts(r.outlet).length === 2, "the relist's Restarted");
    expect(r.outlet.statuses.some((s) => s.phase === "backing-off")).toBe(false);
    await r.stop();
  });

  it("a network error waits for the apiserver to be back, not for the whole backoff", async () => {
    let cameBack: (back: boolean) => void = () => undefined;
    const client = Object.assign(new FakeClient().scriptList(new ApiError("network", "connect ECONNREFUSED"), page([obj("a", "ua", "3")], "10")), {
      whenBack: () => new Promise<boolean>((resolve) => (cameBack = resolve)),
    });
    const r = start(client, { config: { backoff: { initialMs: 60_000, factor: 2, maxMs: 60_000, resetAfterMs: 60_000, jitter: 0 } } });
    await until(() => r.outlet.lastStatus()?.phase === "backing-off", "backing-off");
    cameBack(true);
    await until(() => restarts(r.outlet).length === 1, "the list after the server came back", 3_000);
    await r.stop();
  });

  it("keeps its backoff when the server was not down (the probe answered at once)", async () => {
    const client = Object.assign(new FakeClient().scriptList(new ApiError("network", "no response within 120000 ms"), page([obj("a", "ua", "3")], "10")), {
      whenBack: () => Promise.resolve(false),
    });
    const r = start(client, { config: { backoff: { initialMs: 60_000, factor: 2, maxMs: 60_000, resetAfterMs: 60_000, jitter: 0 } } });
    await until(() => r.outlet.lastStatus()?.phase === "backing-off", "backing-off");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(client.listCalls).toHaveLength(1);
    await r.stop();
  });
});

describe("Observer: plugin reduce", () => {
  it("a reduce that throws yields a message with object null and an error naming the plugin; the rest flows", async () => {
    const client = new FakeClient().scriptList(
      page([obj("a", "ua", "3"), obj("bad", "ubad", "4", "default", { metadata: { labels: { explode: "yes" } } }), obj("c", "uc", "5")], "10"),
    );
    const r = start(client);
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    const byName = new Map(r.outlet.messages.map((m) => [m.name, m]));
    expect(byName.get("bad")).toMatchObject({ action: "Applied", uid: "ubad", object: null });
    expect(byName.get("bad")?.error).toMatch(/plugin "widget"/);
    // Where it threw, not what it said (the message may quote the object).
    expect(byName.get("bad")?.error).toMatch(/reduce threw an Error at .*:\d+:\d+; its message \(\d+ characters\) is not shown/);
    expect(byName.get("bad")?.error).not.toMatch(/cannot reduce bad/);
    expect(byName.get("a")).toMatchObject({ object: { name: "a" } });
    expect(byName.get("a")?.error).toBeUndefined();
    expect(byName.get("c")).toMatchObject({ object: { name: "c" } });
    expect(restarts(r.outlet)[0]?.present?.map((p) => p.name)).toStrictEqual(["a", "bad", "c"]);
    await r.stop();
  });

  it("the plugin never sees metadata.managedFields or the last-applied annotation; other annotations pass", async () => {
    const raw = obj("a", "ua", "3", "default", {
      metadata: {
        annotations: { [LAST_APPLIED_ANNOTATION]: '{"data":{"password":"hunter2"}}', "example.com/keep": "yes" },
        managedFields: [{ manager: "kubectl", operation: "Apply", fieldsV1: { "f:data": { "f:password": {} } } }],
      },
      spec: { note: "n" },
    });
    const watched = structuredClone(raw);
    watched.metadata!.resourceVersion = "11";
    const client = new FakeClient().scriptList(page([raw], "10")).scriptWatch(new FakeWatchStream(event("MODIFIED", watched)));
    const r = start(client);
    await until(() => r.plugin.seen.length === 2, "two reductions");
    for (const seen of r.plugin.seen) {
      expect(seen.metadata).not.toHaveProperty("managedFields");
      expect(seen.metadata?.annotations).toStrictEqual({ "example.com/keep": "yes" });
      expect(JSON.stringify(seen)).not.toContain("hunter2");
      expect(seen.spec).toStrictEqual({ note: "n" });
    }
    await r.stop();
  });
});

describe("Observer: errors and backoff (cases 10, 12)", () => {
  it("403 on list: phase forbidden, no Restarted, then retried after the backoff", async () => {
    const client = new FakeClient().scriptList(new ApiError("forbidden", 'widgets is forbidden: User "x" cannot list', 403), page([obj("a", "ua", "3")], "10"));
    const r = start(client);
    await until(() => restarts(r.outlet).length === 1, "Restarted after retry");
    const forbidden = r.outlet.statuses.find((s) => s.phase === "forbidden");
    expect(forbidden).toMatchObject({ phase: "forbidden", errorKind: "forbidden", failures: 1, synced: false });
    expect(forbidden?.reason).toMatch(/forbidden/);
    expect(forbidden?.retryInMs).toBeGreaterThanOrEqual(1);
    // Nothing was emitted while forbidden; the only Restarted follows the successful retry.
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Restarted[a:ua]"]);
    expect(client.listCalls).toHaveLength(2);
    await r.stop();
  });

  it("a 403 never sweeps: forbidden watch and forbidden relist leave known objects alone (case 12)", async () => {
    const client = new FakeClient()
      .scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "10"))
      .scriptWatch(new ApiError("forbidden", "cannot watch", 403), new FakeWatchStream(errorEvent({ code: 410, message: "gone" })))
      .scriptList(new ApiError("forbidden", "cannot list", 403), page([obj("a", "ua", "3"), obj("b", "ub", "4")], "30"));
    const r = start(client);
    await until(() => restarts(r.outlet).length === 2, "second Restarted");
    expect(r.outlet.messages.filter((m) => m.action === "Deleted")).toStrictEqual([]);
    expect(r.outlet.statuses.filter((s) => s.phase === "forbidden").length).toBeGreaterThanOrEqual(2);
    expect(client.watchCalls.map((c) => c.resourceVersion).slice(0, 2)).toStrictEqual(["10", "10"]);
    await r.stop();
  });

  it("errors are never silent: each failure reports a status with a growing failure count", async () => {
    const client = new FakeClient().scriptList(
      new ApiError("network", "connect ECONNREFUSED", undefined),
      new ApiError("server", "etcdserver: leader changed", 500),
      page([], "10"),
    );
    const r = start(client);
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    const backingOff = r.outlet.statuses.filter((s) => s.phase === "backing-off");
    expect(backingOff.map((s) => [s.errorKind, s.failures])).toStrictEqual([
      ["network", 1],
      ["server", 2],
    ]);
    await r.stop();
  });

  it("a completed list proves health: the next failure counts (and backs off) from the start again", async () => {
    // Backoff.reset() runs after a complete list: "failures" counts consecutive failures.
    const client = new FakeClient()
      .scriptList(new ApiError("forbidden", "cannot list", 403), page([obj("a", "ua", "3")], "10"))
      .scriptWatch(new ApiError("server", "watch failed", 500));
    const r = start(client, { config: { backoff: { initialMs: 10, factor: 4, maxMs: 1_000, resetAfterMs: 60_000, jitter: 0, maxRetryAfterMs: 300_000 } } });
    await until(() => r.outlet.statuses.some((s) => s.phase === "backing-off"), "watch failure");
    const afterSuccess = r.outlet.statuses.find((s) => s.phase === "backing-off")!;
    expect({ failures: afterSuccess.failures, retryInMs: afterSuccess.retryInMs }).toStrictEqual({ failures: 1, retryInMs: 10 });
    await r.stop();
  });

  it("a Retry-After makes the backoff at least that long", async () => {
    const client = new FakeClient().scriptList(new ApiError("throttled", "Too many requests", 429, 3));
    const r = start(client, { config: { backoff: { initialMs: 1, factor: 2, maxMs: 4, resetAfterMs: 60_000, jitter: 0.5, maxRetryAfterMs: 300_000 } } });
    await until(() => r.outlet.lastStatus()?.phase === "backing-off", "backing-off");
    expect(r.outlet.lastStatus()).toMatchObject({ errorKind: "throttled" });
    expect(r.outlet.lastStatus()?.retryInMs).toBeGreaterThanOrEqual(3_000);
    // And it really waits: no second LIST within a short while.
    await sleep(30);
    expect(client.listCalls).toHaveLength(1);
    await r.stop();
  });

  it("a watch that closes instantly is backed off, not hot-looped (case 12)", async () => {
    const client = new FakeClient()
      .scriptList(page([], "10"))
      .scriptWatch(new FakeWatchStream().end(), new FakeWatchStream().end(), new FakeWatchStream().end());
    const r = start(client, { config: { backoff: { initialMs: 20, factor: 1, maxMs: 20, resetAfterMs: 60_000, jitter: 0, maxRetryAfterMs: 300_000 } } });
    await until(() => client.watchCalls.length >= 3, "three watches");
    const failures = r.outlet.statuses.filter((s) => s.phase === "backing-off");
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures[0]?.reason).toMatch(/closed immediately/);
    expect(client.listCalls).toHaveLength(1);
    await r.stop();
  });
});

describe("Observer: once mode", () => {
  it("run() resolves only after the first complete list is acknowledged, without opening a watch", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "10", "t"), page([obj("b", "ub", "4")], "10"));
    const r = start(client, { once: true, autoAck: false });
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    await sleep(20);
    expect(r.finished()).toBe(false);
    r.outlet.ackAll();
    const status = await r.done;
    expect(status).toMatchObject({ phase: "stopped", synced: true, objects: 2 });
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Applied b:ub", "Restarted[a:ua,b:ub]"]);
    expect(client.watchCalls).toHaveLength(0);
  });

  it("once + forbidden: status failed and run() resolves without retrying", async () => {
    const client = new FakeClient().scriptList(new ApiError("forbidden", "cannot list", 403), page([], "10"));
    const r = start(client, { once: true });
    const status = await r.done;
    expect(status).toMatchObject({ phase: "failed", errorKind: "forbidden", synced: false });
    expect(r.outlet.lastStatus()?.phase).toBe("failed");
    expect(client.listCalls).toHaveLength(1);
    expect(restarts(r.outlet)).toHaveLength(0);
  });

  it("once mode retries a transient error and then completes", async () => {
    const client = new FakeClient().scriptList(new ApiError("server", "boom", 500), page([obj("a", "ua", "3")], "10"));
    const r = start(client, { once: true });
    expect((await r.done).phase).toBe("stopped");
    expect(restarts(r.outlet)).toHaveLength(1);
  });
});

describe("Observer: backpressure (case 15)", () => {
  it("stops reading the watch after maxInFlight unacknowledged batches and resumes as acks arrive", async () => {
    const stream = new FakeWatchStream();
    for (let i = 1; i <= 20; i++) stream.push(event("MODIFIED", obj("a", "ua", String(10 + i))));
    const client = new FakeClient().scriptList(page([], "10")).scriptWatch(stream);
    // One message per batch, so each watch event is one batch in flight.
    const r = start(client, { autoAck: false, maxInFlight: 2, config: { batchMaxMessages: 1 } });

    // The Restarted batch plus one event batch fill the two slots.
    await until(() => r.outlet.batches.length === 2, "two batches");
    await sleep(30);
    expect(stream.nextCalls).toBe(1);
    expect(r.outlet.batches).toHaveLength(2);
    expect(r.outlet.pendingAcks).toBe(2);

    r.outlet.ack(1);
    await until(() => r.outlet.batches.length === 3, "third batch");
    await sleep(30);
    expect(stream.nextCalls).toBe(2);
    expect(r.outlet.batches).toHaveLength(3);

    r.outlet.ackAll();
    await until(() => r.outlet.batches.length === 5, "fifth batch");
    await sleep(30);
    expect(stream.nextCalls).toBe(4);

    // Never more than maxInFlight waiting, however many events the server has ready.
    expect(r.outlet.pendingAcks).toBe(2);
    r.outlet.ackAll();
    await r.stop();
  });

  it("with acks flowing, every event is delivered in order", async () => {
    const stream = new FakeWatchStream();
    for (let i = 1; i <= 50; i++) stream.push(event("MODIFIED", obj(`o${i}`, `u${i}`, String(10 + i))));
    const client = new FakeClient().scriptList(page([], "10")).scriptWatch(stream);
    const r = start(client, { maxInFlight: 1, config: { batchMaxMessages: 7 } });
    await until(() => r.outlet.messages.length === 51, "all messages");
    expect(r.outlet.messages.slice(1).map((m) => m.resourceVersion)).toStrictEqual(Array.from({ length: 50 }, (_, i) => String(11 + i)));
    expect(Math.max(...r.outlet.batches.map((b) => b.length))).toBeLessThanOrEqual(7);
    await r.stop();
  });
});

describe("Observer: a batch the agent did not take", () => {
  it("backs off and relists, so what was read is delivered again rather than lost", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "9"), page([obj("a", "ua", "3"), obj("b", "ub", "4")], "10"));
    const r = start(client);
    r.outlet.refusals.push(new Error("WAL append failed: disk full"));
    await until(() => restarts(r.outlet).length === 1, "the relisted boundary");
    expect(client.listCalls).toHaveLength(2);
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Applied b:ub", "Restarted[a:ua,b:ub]"]);
    const backingOff = r.outlet.statuses.find((s) => s.phase === "backing-off");
    expect(backingOff).toMatchObject({ errorKind: "delivery" });
    expect(backingOff?.reason).toContain("WAL append failed: disk full");
    await r.stop();
  });

  it("notices a refusal at once, on a quiet watch too, and relists", async () => {
    const stream = new FakeWatchStream();
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "9"), page([obj("a", "ua", "3"), obj("b", "ub", "10")], "11")).scriptWatch(stream);
    const r = start(client);
    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching");
    r.outlet.refusals.push(new Error("disk I/O error"));
    stream.push(event("ADDED", obj("b", "ub", "10")));
    // No further watch event: the refusal alone must end the wait on the stream.
    await until(() => client.listCalls.length === 2, "the relist");
    await until(() => restarts(r.outlet).length === 2, "the relisted boundary");
    expect(stream.closed).toBe(true);
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Restarted[a:ua]", "Applied a:ua", "Applied b:ub", "Restarted[a:ua,b:ub]"]);
    await r.stop();
  });

  it("backs off longer after each refused relist, though every LIST succeeds, and resets once a batch is taken", async () => {
    const listed = page([obj("a", "ua", "3")], "9");
    const stream = new FakeWatchStream();
    const client = new FakeClient().scriptList(listed, listed, listed, listed, listed).scriptWatch(stream);
    const r = start(client, { config: { backoff: { initialMs: 1, factor: 2, maxMs: 16, resetAfterMs: 60_000, jitter: 0 } } });
    r.outlet.refusals.push(new Error("disk I/O error"), new Error("disk I/O error"), new Error("disk I/O error"));
    await until(() => restarts(r.outlet).length === 1, "the boundary of the fourth list");
    expect(client.listCalls).toHaveLength(4);
    const backingOff = r.outlet.statuses.filter((s) => s.phase === "backing-off");
    expect(backingOff.map((s) => [s.failures, s.retryInMs])).toStrictEqual([
      [1, 1],
      [2, 2],
      [3, 4],
    ]);
    expect(backingOff.every((s) => s.errorKind === "delivery")).toBe(true);
    // Batches taken since: the next refusal starts from the initial delay again.
    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching");
    r.outlet.refusals.push(new Error("disk I/O error"));
    stream.push(event("MODIFIED", obj("a", "ua", "12")));
    await until(() => r.outlet.statuses.filter((s) => s.phase === "backing-off").length === 4, "the fourth backing-off");
    expect(r.outlet.statuses.filter((s) => s.phase === "backing-off").at(-1)).toMatchObject({ failures: 1, retryInMs: 1 });
    await r.stop();
  });

  it("in once mode, fails its scope instead of reporting it delivered", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "9"));
    const r = start(client, { once: true });
    r.outlet.refusals.push(new Error("WAL append failed: disk full"));
    const final = await r.done;
    expect(final.phase).toBe("failed");
    expect(final.errorKind).toBe("delivery");
    expect(final.reason).toContain("disk full");
  });
});

describe("Observer: one cluster-wide watch of a namespaced resource", () => {
  it("drops excluded namespaces from the list and the watch, and tells the sweep which namespaces to leave alone", async () => {
    const stream = new FakeWatchStream();
    const client = new FakeClient()
      .scriptList(page([obj("a", "ua", "3", "shop"), obj("n", "un", "4", "kube-system"), obj("b", "ub", "5", "billing")], "9"))
      .scriptWatch(stream);
    const r = start(client, { namespace: null, exclude: ["kube-system"], sweepExcept: ["payments"] });
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Applied b:ub", "Restarted[a:ua,b:ub]"]);
    const boundary = restarts(r.outlet)[0]!;
    expect(boundary).toMatchObject({ namespace: null, sweepExcept: ["payments"] });
    expect(boundary.present?.map((p) => p.namespace)).toStrictEqual(["shop", "billing"]);

    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching");
    stream.push(
      event("ADDED", obj("n2", "un2", "10", "kube-system")),
      event("ADDED", obj("c", "uc", "11", "shop")),
      event("DELETED", obj("n", "un", "12", "kube-system")),
    );
    await until(() => r.outlet.messages.length === 4, "the watched object");
    expect(briefs(r.outlet).slice(3)).toStrictEqual(["Applied c:uc"]);
    expect(r.outlet.lastStatus()?.objects ?? 0).toBeLessThanOrEqual(3);
    await r.stop();
  });

  it("per-namespace boundaries carry no sweep exceptions", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "9"));
    const r = start(client);
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    expect(restarts(r.outlet)[0]!.sweepExcept).toBeUndefined();
    await r.stop();
  });
});

describe("Observer: objects over the size cap", () => {
  const oversized = (name: string, source: "list" | "watch", rv = "12"): OversizedObject => ({
    source,
    kind: "Widget",
    namespace: "default",
    name,
    uid: `u${name}`,
    resourceVersion: rv,
    bytes: 9_000_000,
    capBytes: 8_388_608,
    ...(source === "watch" ? { eventType: "MODIFIED" } : {}),
  });

  it("a LIST item over the cap is reported, not applied, and not in the relist boundary", async () => {
    const client = new FakeClient().scriptList({ ...page([obj("a", "ua", "3")], "9"), skipped: [oversized("big", "list")] });
    const r = start(client);
    await until(() => restarts(r.outlet).length === 1, "Restarted");
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Restarted[a:ua]"]);
    expect(r.outlet.skips.map((s) => s.name)).toStrictEqual(["big"]);
    await r.stop();
  });

  it("a known object that grows past the cap on the watch leaves the graph (Deleted) rather than staying stale", async () => {
    const stream = new FakeWatchStream();
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3"), obj("b", "ub", "4")], "9")).scriptWatch(stream);
    const r = start(client);
    await until(() => r.outlet.lastStatus()?.phase === "watching", "watching");
    stream.push(
      { type: "OVERSIZED", oversized: oversized("a", "watch") },
      { type: "OVERSIZED", oversized: oversized("never-seen", "watch", "13") },
      event("MODIFIED", obj("b", "ub", "14")),
    );
    await until(() => briefs(r.outlet).includes("Applied b:ub") && r.outlet.messages.length === 5, "later events");
    expect(briefs(r.outlet)).toStrictEqual(["Applied a:ua", "Applied b:ub", "Restarted[a:ua,b:ub]", "Deleted a:ua", "Applied b:ub"]);
    expect(r.outlet.messages[3]).toMatchObject({ action: "Deleted", name: "a", resourceVersion: "12", object: null });
    expect(r.outlet.skips.map((s) => s.name)).toStrictEqual(["a", "never-seen"]);
    // The watch resumes after what it skipped.
    stream.end();
    await until(() => client.watchCalls.length === 2, "re-watch");
    expect(client.watchCalls[1]?.resourceVersion).toBe("14");
    await r.stop();
  });
});
