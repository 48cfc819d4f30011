// The plugin time budget (core/plugin/budget.ts): a third-party toGraph that never returns
// is interrupted and loses only its own object; built-ins are called directly.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { translateMessages, type TranslateInput } from "../../../core/dispatch/translate.js";
import type { KubeMessage } from "../../../core/messages.js";
import { PluginBudgetError, runBudgeted, runBudgetedYielding } from "../../../core/plugin/budget.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import type { ResourcePlugin } from "../../../core/plugin/types.js";

const loopFile = fileURLToPath(new URL("../../fixtures/plugins/loop/loop.mjs", import.meta.url));
const loopPlugin = ((await import(loopFile)) as { default: ResourcePlugin }).default;

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* spin */
  }
}

const overrunOf = (item: string): PluginBudgetError => new PluginBudgetError(`over: ${item}`);

describe("runBudgeted", () => {
  it("interrupts the item that never returns and returns the others' results, in order", () => {
    const work = (item: string): string => {
      if (item.startsWith("loop")) for (;;) {}
      return item.toUpperCase();
    };
    const results = runBudgeted(["a", "loop-1", "b", "loop-2", "c"], work, 100, overrunOf);
    expect(results.map((r) => (r.ok ? r.value : (r.error as Error).message))).toEqual(["A", "over: loop-1", "B", "over: loop-2", "C"]);
    expect(results[1]!.ok === false && results[1]!.error).toBeInstanceOf(PluginBudgetError);
  });

  it("cannot be caught by the plugin: a loop inside try/catch is interrupted as well", () => {
    let caught = 0;
    const work = (): number => {
      for (;;) {
        try {
          while (caught >= 0) {} // endless (caught only grows), though not provably so: the catch stays reachable code
        } catch {
          caught += 1;
        }
      }
    };
    const results = runBudgeted([1], work, 50, () => new Error("over"));
    expect(results[0]).toEqual({ ok: false, error: new Error("over") });
    expect(caught).toBe(0);
  });

  it("interrupts a catastrophic regular expression", () => {
    const work = (text: string): boolean => /^(a+)+$/.test(text);
    const results = runBudgeted(["a".repeat(40) + "b", "aaa"], work, 100, () => "over");
    expect(results).toEqual([
      { ok: false, error: "over" },
      { ok: true, value: true },
    ]);
  });

  it("reports a throw as that item's error and goes on", () => {
    const failure = new TypeError("bad");
    const results = runBudgeted(
      ["x", "y"],
      (item) => {
        if (item === "x") throw failure;
        return item;
      },
      1000,
      () => "over",
    );
    expect(results).toEqual([
      { ok: false, error: failure },
      { ok: true, value: "y" },
    ]);
  });

  it("gives each item a budget of its own: several slow items under the budget all finish, each called once", () => {
    // Together (5 × 150 ms) they exceed one budget of 500 ms; each alone is well under it.
    const calls: number[] = [];
    const results = runBudgeted(
      [0, 1, 2, 3, 4],
      (i) => {
        calls.push(i);
        busyFor(150);
        return i;
      },
      500,
      () => "over",
    );
    expect(results).toEqual([0, 1, 2, 3, 4].map((value) => ({ ok: true, value })));
    expect(calls).toEqual([0, 1, 2, 3, 4]);
  });

  it("parks an item that runs a little over its budget, and only that one", () => {
    const results = runBudgeted(
      ["quick", "slow", "quick"],
      (item) => {
        busyFor(item === "slow" ? 400 : 1);
        return item;
      },
      200,
      () => "over",
    );
    expect(results).toEqual([
      { ok: true, value: "quick" },
      { ok: false, error: "over" },
      { ok: true, value: "quick" },
    ]);
  });

  it("yields to the event loop between overruns (the yielding variant)", async () => {
    const ticks: number[] = [];
    let loops = 0;
    const timer = setInterval(() => ticks.push(loops), 5);
    try {
      const results = await runBudgetedYielding(
        ["l1", "l2", "l3"],
        () => {
          loops += 1;
          for (;;) {}
        },
        60,
        () => "over",
      );
      expect(results.map((r) => r.ok)).toEqual([false, false, false]);
    } finally {
      clearInterval(timer);
    }
    // Timers ran while the batch was still in progress (between its overruns).
    expect(ticks.some((n) => n >= 1 && n < 3)).toBe(true);
  });
});

function message(name: string): KubeMessage {
  return {
    cluster: "c",
    namespace: "ns",
    resource: "loop",
    kind: "ConfigMap",
    action: "Applied",
    objectNamespace: "ns",
    uid: `uid-${name}`,
    name,
    resourceVersion: "1",
    observedAt: "2026-01-01T00:00:00.000Z",
    object: { name, keys: ["a"] },
  };
}

describe("translateMessages", () => {
  const thirdParty: LoadedPlugin = { plugin: loopPlugin, file: loopFile, builtin: false, version: "test" };

  it("parks only the objects an ES-module plugin's toGraph loops on, naming plugin, budget and object", async () => {
    const inputs: TranslateInput[] = ["fine-1", "loop-1", "fine-2", "loop-2"].map((name) => ({ message: message(name), loaded: thirdParty }));
    const results = await translateMessages(inputs, 100);
    expect(results.map((r) => r.ok)).toEqual([true, false, true, false]);
    const first = results[0]!;
    expect(first.ok && first.value).toMatchObject({ op: "upsert", node: { key: "c/ns/LoopConfig/fine-1", properties: { keys: ["a"] } } });
    const overrun = results[1]!;
    expect(overrun.ok ? null : overrun.error).toBeInstanceOf(PluginBudgetError);
    expect(overrun.ok ? "" : (overrun.error as Error).message).toBe(
      'plugin "loop" toGraph exceeded its time budget of 100 ms on ConfigMap ns/loop-1 (loop.mjs) and was interrupted',
    );
  });

  it("a plugin's later objects still get the budget after an overrun", async () => {
    const again = await translateMessages(
      [
        { message: message("loop-3"), loaded: thirdParty },
        { message: message("fine-3"), loaded: thirdParty },
      ],
      50,
    );
    expect(again.map((r) => r.ok)).toEqual([false, true]);
  });

  it("calls a built-in plugin's toGraph directly, a third-party one under the watchdog", async () => {
    const stacks: string[] = [];
    const probe: ResourcePlugin = {
      ...loopPlugin,
      graph: { ...loopPlugin.graph!, toGraph: () => (stacks.push(new Error("probe").stack ?? ""), {}) },
    };
    await translateMessages([{ message: message("a"), loaded: { plugin: probe, file: "/plugins/probe.js", builtin: true, version: "b" } }], 100);
    await translateMessages([{ message: message("a"), loaded: { plugin: probe, file: "/x/probe.mjs", builtin: false, version: "t" } }], 100);
    expect(stacks[0]).not.toContain("kube-observer:plugin-budget");
    expect(stacks[1]).toContain("kube-observer:plugin-budget");
  });

  it("holds what toGraph returns to the budget too: a getter that never returns is interrupted", async () => {
    const sly: ResourcePlugin = {
      ...loopPlugin,
      graph: {
        ...loopPlugin.graph!,
        toGraph: () => ({
          get properties(): Record<string, never> {
            for (;;) {}
          },
        }),
      },
    };
    const [result] = await translateMessages([{ message: message("a"), loaded: { plugin: sly, file: loopFile, builtin: false, version: "t" } }], 50);
    expect(result!.ok ? null : result!.error).toBeInstanceOf(PluginBudgetError);
  });

  it("keeps a plugin's throw as a PluginFailureError, without its message", async () => {
    const thrower: ResourcePlugin = {
      ...loopPlugin,
      graph: {
        ...loopPlugin.graph!,
        toGraph: () => {
          throw new Error("secret-ish text");
        },
      },
    };
    const [result] = await translateMessages([{ message: message("a"), loaded: { plugin: thrower, file: loopFile, builtin: false, version: "t" } }], 100);
    expect(result!.ok).toBe(false);
    const text = result!.ok ? "" : (result!.error as Error).message;
    expect(text).toMatch(/^plugin "loop" toGraph threw an Error at .*; its message \(15 characters\) is not shown/);
    expect(text).not.toContain("secret-ish");
  });
});
