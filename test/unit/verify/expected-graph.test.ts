// scopeOps / expectedGraph: a listed scope becomes the operations the agent would apply.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import type { ResourcePlugin } from "../../../core/plugin/types.js";
import { expectedGraph, scopeOps } from "../../../core/verify/expected-graph.js";
import { configMap, loaded, plugins } from "./helpers.js";

const cm = plugins.get("configmap")!;

describe("scopeOps", () => {
  it("makes an upsert per object and ends with the scope's sweep over exactly the listed keys", () => {
    const result = scopeOps({ cluster: "c1", namespace: "shop", plugin: cm }, [configMap("shop", "a", { x: "1" }), configMap("shop", "b")]);
    expect(result.objects).toBe(2);
    expect(result.untranslatable).toEqual([]);
    expect(result.ops.map((o) => o.op)).toEqual(["upsert", "upsert", "sweep"]);
    expect(result.ops[2]).toEqual({ op: "sweep", scope: "c1/shop/ConfigMap", present: ["c1/shop/ConfigMap/a", "c1/shop/ConfigMap/b"] });
    const first = result.ops[0]!;
    expect(first.op === "upsert" && first.node).toMatchObject({
      key: "c1/shop/ConfigMap/a",
      properties: { cluster: "c1", namespace: "shop", name: "a", keys: ["x"], resourceVersion: "1" },
    });
  });

  it("drops the last-applied annotation before reduce, as observers do", () => {
    const object = configMap("shop", "a");
    object.metadata!.annotations = { "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"hunter2"}}', team: "x" };
    const result = scopeOps({ cluster: "c1", namespace: "shop", plugin: cm }, [object]);
    expect(JSON.stringify(result.ops)).not.toContain("hunter2");
  });

  it("lists an object the plugin cannot translate as untranslatable, keeps it in the sweep, and goes on", () => {
    const broken = loaded({
      ...(cm.plugin as ResourcePlugin),
      reduce: (o) => {
        if (o.metadata?.name === "bad") throw new Error("cannot reduce this one");
        return cm.plugin.reduce(o);
      },
    } as ResourcePlugin);
    const result = scopeOps({ cluster: "c1", namespace: "shop", plugin: broken }, [configMap("shop", "bad"), configMap("shop", "good")]);
    expect(result.untranslatable).toEqual([
      {
        scope: "c1/shop/configmap",
        key: "c1/shop/ConfigMap/bad",
        reason: expect.stringMatching(/^plugin "configmap" reduce threw an Error at .*; its message \(22 characters\) is not shown/),
      },
    ]);
    expect(result.ops.map((o) => o.op)).toEqual(["upsert", "sweep"]);
    // Present at the boundary: the agent would not sweep its last known state either.
    expect(result.ops[1]).toMatchObject({ present: ["c1/shop/ConfigMap/bad", "c1/shop/ConfigMap/good"] });
  });

  it("holds a third-party plugin to the time budget: an object its toGraph or reduce loops on is untranslatable, the rest translate", async () => {
    const loopFile = fileURLToPath(new URL("../../fixtures/plugins/loop/loop.mjs", import.meta.url));
    const loop = ((await import(loopFile)) as { default: ResourcePlugin }).default;
    const thirdParty: LoadedPlugin = { plugin: loop, file: loopFile, builtin: false, version: "t" };
    const objects = [configMap("shop", "fine"), configMap("shop", "loop-1")];
    const result = scopeOps({ cluster: "c1", namespace: "shop", plugin: thirdParty }, objects, "", undefined, 100);
    expect(result.untranslatable).toEqual([
      {
        scope: "c1/shop/loop",
        key: "c1/shop/LoopConfig/loop-1",
        reason: 'plugin "loop" toGraph exceeded its time budget of 100 ms on ConfigMap shop/loop-1 (loop.mjs) and was interrupted',
      },
    ]);
    expect(result.ops.map((o) => (o.op === "upsert" ? o.node.key : o.op))).toEqual(["c1/shop/LoopConfig/fine", "sweep"]);

    const loopingReduce: LoadedPlugin = {
      ...thirdParty,
      plugin: { ...loop, reduce: (o) => ((o.metadata?.name ?? "").startsWith("loop-") ? reduceForever() : loop.reduce(o)) },
    };
    const reduced = scopeOps(
      { cluster: "c1", namespace: "shop", plugin: loopingReduce },
      [configMap("shop", "loop-2"), configMap("shop", "ok")],
      "",
      undefined,
      100,
    );
    expect(reduced.untranslatable.map((u) => u.reason)).toEqual([
      'plugin "loop" reduce exceeded its time budget of 100 ms on ConfigMap shop/loop-2 (loop.mjs) and was interrupted',
    ]);
    expect(reduced.objects).toBe(2);
  });
});

function reduceForever(): never {
  for (;;) {}
}

describe("expectedGraph", () => {
  it("exports the graph the operations make in a fresh embedded sink", async () => {
    const { ops } = scopeOps({ cluster: "c1", namespace: "shop", plugin: cm }, [configMap("shop", "b"), configMap("shop", "a")]);
    const lines = await expectedGraph(ops);
    expect(lines.map((l) => (l.type === "node" ? l.key : l.rel))).toEqual(["c1/shop/ConfigMap/a", "c1/shop/ConfigMap/b"]);
    expect(lines[0]).toMatchObject({ labels: ["ConfigMap"], properties: { observed: true, scope: "c1/shop/ConfigMap", owner: "c1/shop/ConfigMap/a" } });
  });
});
