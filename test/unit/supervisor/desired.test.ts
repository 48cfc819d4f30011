// desiredObservers / needsNamespaceDiscovery: actors × the namespaces that exist.
import { describe, expect, it } from "vitest";
import type { ActorConfig } from "../../../core/config/model.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import { desiredObservers, needsNamespaceDiscovery, observerKey } from "../../../core/supervisor/desired.js";

function loaded(name: string, namespaced: boolean, providesNamespaces = false): LoadedPlugin {
  return {
    plugin: {
      name,
      apiVersion: 1,
      resource: { group: "", version: "v1", plural: `${name}s`, kind: name[0]!.toUpperCase() + name.slice(1), namespaced },
      reduce: (o) => o,
      ...(providesNamespaces ? { providesNamespaces } : {}),
    },
    file: `/plugins/${name}.js`,
    builtin: true,
  };
}

const plugins: ReadonlyMap<string, LoadedPlugin> = new Map(
  [loaded("pod", true), loaded("secret", true), loaded("node", false), loaded("namespace", false, true)].map((p) => [p.plugin.name, p]),
);

function actor(resource: string, namespace = "*", extra: Partial<ActorConfig> = {}): ActorConfig {
  return { cluster: "c1", namespace, role: "observer", resource, exclude: [], ...extra };
}

const namespaces = new Set(["default", "kube-system", "shop", "billing"]);

function keysOf(desired: ReturnType<typeof desiredObservers>): string[] {
  return [...desired.keys()].sort();
}

describe("observerKey", () => {
  it("is cluster/namespace/resource with an empty segment for no namespace", () => {
    expect(observerKey("c1", "shop", "pod")).toBe("c1/shop/pod");
    expect(observerKey("c1", null, "node")).toBe("c1//node");
  });
});

describe("desiredObservers", () => {
  it('"*" expands to one observer per existing namespace, minus exclude', () => {
    const desired = desiredObservers("c1", [actor("pod", "*", { exclude: ["kube-system", "not-there"] })], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/billing/pod", "c1/default/pod", "c1/shop/pod"]);
    const shop = desired.get("c1/shop/pod")!;
    expect(shop.namespace).toBe("shop");
    expect(shop.key).toBe("c1/shop/pod");
    expect(shop.plugin).toBe(plugins.get("pod"));
  });

  it('"*" follows the namespace set: new namespaces add observers, deleted ones drop them', () => {
    const actors = [actor("pod")];
    expect(keysOf(desiredObservers("c1", actors, new Set(["a"]), plugins))).toStrictEqual(["c1/a/pod"]);
    expect(keysOf(desiredObservers("c1", actors, new Set(["a", "b"]), plugins))).toStrictEqual(["c1/a/pod", "c1/b/pod"]);
    expect(keysOf(desiredObservers("c1", actors, new Set(), plugins))).toStrictEqual([]);
  });

  it("an explicit namespace gives exactly that observer, whether or not it is in the namespace set", () => {
    expect(keysOf(desiredObservers("c1", [actor("secret", "shop")], namespaces, plugins))).toStrictEqual(["c1/shop/secret"]);
    expect(keysOf(desiredObservers("c1", [actor("secret", "future")], new Set(), plugins))).toStrictEqual(["c1/future/secret"]);
  });

  it("cluster-scoped resources get one observer with no namespace, whatever the actor's namespace", () => {
    const desired = desiredObservers("c1", [actor("node", "*"), actor("namespace", "shop")], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1//namespace", "c1//node"]);
    expect(desired.get("c1//node")?.namespace).toBeNull();
  });

  it("ignores other clusters' actors", () => {
    const desired = desiredObservers("c1", [actor("pod", "shop"), actor("pod", "*", { cluster: "c2" }), actor("node", "*", { cluster: "c2" })], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/shop/pod"]);
  });

  it("ignores actors naming a plugin that is not loaded", () => {
    const desired = desiredObservers("c1", [actor("widget", "*"), actor("pod", "default")], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/default/pod"]);
  });

  it("overlapping actors yield one observer per key", () => {
    const desired = desiredObservers("c1", [actor("pod", "*"), actor("pod", "shop"), actor("secret", "shop")], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/billing/pod", "c1/default/pod", "c1/kube-system/pod", "c1/shop/pod", "c1/shop/secret"]);
  });
});

describe("needsNamespaceDiscovery", () => {
  it('is needed for "*" on a namespaced resource', () => {
    expect(needsNamespaceDiscovery([actor("pod", "*")], plugins)).toBe(true);
    expect(needsNamespaceDiscovery([actor("node", "*"), actor("secret", "*", { exclude: ["kube-system"] })], plugins)).toBe(true);
  });

  it("is not needed for explicit namespaces, cluster-scoped resources or unknown plugins", () => {
    expect(needsNamespaceDiscovery([actor("pod", "shop")], plugins)).toBe(false);
    expect(needsNamespaceDiscovery([actor("node", "*"), actor("namespace", "*")], plugins)).toBe(false);
    expect(needsNamespaceDiscovery([actor("widget", "*")], plugins)).toBe(false);
    expect(needsNamespaceDiscovery([], plugins)).toBe(false);
  });
});
