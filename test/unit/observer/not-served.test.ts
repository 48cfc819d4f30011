// A resource the apiserver does not serve (404 on LIST or WATCH: a CRD not installed) and
// reductions that cannot travel as JSON, against the fakes.
import { afterEach, describe, expect, it } from "vitest";
import { type ApiError, classifyStatus } from "../../../core/kube/errors.js";
import { Observer, type ObserverStatus } from "../../../core/observer/observer.js";
import type { ResourcePlugin } from "../../../core/plugin/types.js";
import { FakeClient, FakeOutlet, FakeWatchStream, event, obj, page, recordingPlugin, testConfig, until } from "./fakes.js";

const observers: Observer[] = [];
afterEach(() => {
  for (const o of observers.splice(0)) o.stop();
});

const notFound = (): ApiError => classifyStatus(404, { message: "HTTP 404: 404 page not found\n" });

function start(
  client: FakeClient,
  plugin: ResourcePlugin = recordingPlugin(),
  once = false,
  maxMs = 40,
): { outlet: FakeOutlet; done: Promise<ObserverStatus> } {
  const outlet = new FakeOutlet();
  const config = testConfig({ backoff: { initialMs: 1, factor: 2, maxMs, resetAfterMs: 60_000, jitter: 0, maxRetryAfterMs: 300_000 } });
  const observer = new Observer({ cluster: "c1", namespace: "default" }, plugin, client, outlet, { config, once });
  observers.push(observer);
  return { outlet, done: observer.run() };
}

describe("Observer: a resource the apiserver does not serve", () => {
  it("404 on list: phase not-served with a clear reason, retried after the backoff's maximum, then observed", async () => {
    const client = new FakeClient().scriptList(notFound(), notFound(), page([obj("a", "ua", "3")], "10"));
    const { outlet } = start(client);
    await until(() => outlet.messages.some((m) => m.action === "Restarted"), "the list once served");
    const notServed = outlet.statuses.filter((s) => s.phase === "not-served");
    expect(notServed.map((s) => s.failures)).toStrictEqual([1, 2]);
    expect(notServed[0]).toMatchObject({ errorKind: "not-found", retryInMs: 40, synced: false });
    expect(notServed[0]?.reason).toBe(
      'the apiserver does not serve example.com/v1/widgets (plugin "widget", kind Widget); is the CRD installed (and serving that version)? [HTTP 404: 404 page not found]',
    );
    // Slow from the first failure: the maximum (40 ms here), not the initial 1 ms.
    expect(notServed.every((s) => s.retryInMs === 40)).toBe(true);
    expect(outlet.phases()).not.toContain("backing-off");
    expect(outlet.messages.map((m) => `${m.action} ${m.name ?? ""}`)).toStrictEqual(["Applied a", "Restarted "]);
  });

  it("a core-group resource not served says to check version and plural instead", async () => {
    const plugin: ResourcePlugin = { ...recordingPlugin(), resource: { group: "", version: "v1", plural: "widgetz", kind: "Widget", namespaced: true } };
    const { outlet } = start(new FakeClient().scriptList(notFound()), plugin);
    await until(() => outlet.phases().includes("not-served"));
    expect(outlet.lastStatus()?.reason).toMatch(
      /^the apiserver does not serve v1\/widgetz \(plugin "widget", kind Widget\); check the plugin's resource\.version and resource\.plural/,
    );
  });

  it("404 on watch (the CRD deleted): not-served, and the next attempt lists afresh", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "ua", "3")], "10"), page([], "20")).scriptWatch(notFound());
    const { outlet } = start(client);
    await until(() => outlet.messages.filter((m) => m.action === "Restarted").length === 2, "the relist");
    expect(outlet.phases()).toContain("not-served");
    expect(client.listCalls).toHaveLength(2);
    // Never a re-watch from the old resourceVersion: the second watch follows the relist.
    await until(() => client.watchCalls.length === 2, "the watch after the relist");
    expect(client.watchCalls.map((w) => w.resourceVersion)).toStrictEqual(["10", "20"]);
    // The relist found nothing: its boundary lists nothing, and the sink sweeps a.
    expect(outlet.messages.map((m) => `${m.action} ${m.name ?? ""}`)).toStrictEqual(["Applied a", "Restarted ", "Restarted "]);
    expect(outlet.messages.at(-1)?.present).toStrictEqual([]);
  });

  it("once: fails at once with the reason, without retrying", async () => {
    const client = new FakeClient().scriptList(notFound());
    const { done } = start(client, recordingPlugin(), true);
    const final = await done;
    expect(final.phase).toBe("failed");
    expect(final.reason).toMatch(/^the apiserver does not serve example\.com\/v1\/widgets .*is the CRD installed/);
    expect(client.listCalls).toHaveLength(1);
  });
});

describe("Observer: reductions travel as JSON", () => {
  const plugin = (reduce: ResourcePlugin["reduce"]): ResourcePlugin => ({ ...recordingPlugin(), reduce });

  it("a reduction that is not JSON (a BigInt, a cycle) is that object's error; the rest flow", async () => {
    const client = new FakeClient().scriptList(page([obj("big", "u1", "1"), obj("cycle", "u2", "2"), obj("fine", "u3", "3")], "10"));
    const { outlet } = start(
      client,
      plugin((o) => {
        const name = o.metadata?.name;
        if (name === "big") return { n: 10n };
        if (name === "cycle") {
          const c: Record<string, unknown> = {};
          c.self = c;
          return c;
        }
        return { name };
      }),
    );
    await until(() => outlet.messages.some((m) => m.action === "Restarted"));
    const byName = Object.fromEntries(outlet.messages.filter((m) => m.name).map((m) => [m.name, m]));
    expect(byName.big).toMatchObject({ object: null, error: expect.stringMatching(/^plugin "widget" reduce returned a value that is not JSON: .*BigInt/) });
    expect(byName.cycle).toMatchObject({
      object: null,
      error: expect.stringMatching(/^plugin "widget" reduce returned a value that is not JSON: .*circular/i),
    });
    expect(byName.fine).toMatchObject({ object: { name: "fine" } });
    expect(byName.fine).not.toHaveProperty("error");
  });

  it("functions, Dates and undefined become what the WAL would store", async () => {
    const client = new FakeClient().scriptList(page([obj("a", "u1", "1"), obj("nothing", "u2", "2")], "10"));
    const { outlet } = start(
      client,
      plugin((o) => (o.metadata?.name === "nothing" ? undefined : { when: new Date(0), fn: () => 1, list: [1, undefined] })),
    );
    await until(() => outlet.messages.some((m) => m.action === "Restarted"));
    const [a, nothing] = outlet.messages;
    expect(a?.object).toStrictEqual({ when: "1970-01-01T00:00:00.000Z", list: [1, null] });
    expect(nothing).toMatchObject({ object: null, error: 'plugin "widget" reduce returned undefined, not a JSON value' });
  });

  it("watch events go the same way", async () => {
    const stream = new FakeWatchStream(event("ADDED", obj("big", "u1", "11")));
    const client = new FakeClient().scriptList(page([], "10")).scriptWatch(stream);
    const { outlet } = start(
      client,
      plugin(() => ({ n: 1n })),
    );
    await until(() => outlet.messages.some((m) => m.name === "big"));
    expect(outlet.messages.find((m) => m.name === "big")).toMatchObject({ action: "Applied", object: null, error: expect.stringContaining("not JSON") });
  });
});
