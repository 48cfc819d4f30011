// desiredObservers / needsNamespaceDiscovery / actorTopology / coveredByOthers: actors ×
// the namespaces that exist, watched cluster-wide or per namespace.
import { describe, expect, it } from "vitest";
import type { ActorConfig } from "../../../core/config/model.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import { actorTopology, coveredByOthers, desiredObservers, needsNamespaceDiscovery, observerKey } from "../../../core/supervisor/desired.js";

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
  return { cluster: "c1", namespace, role: "observer", resource, exclude: [], topology: "auto", ...extra };
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

const perNamespace = { topology: "namespace" } as const;

describe("actorTopology", () => {
  it('"*" is one cluster-wide watch unless forced per namespace; a named namespace is always per namespace', () => {
    expect(actorTopology(actor("pod"), plugins.get("pod"))).toMatchObject({
      topology: "cluster",
      why: expect.stringContaining('namespace = "*" (topology "auto")'),
    });
    expect(actorTopology(actor("pod", "*", { topology: "cluster" }), plugins.get("pod"))).toMatchObject({ topology: "cluster" });
    expect(actorTopology(actor("pod", "*", perNamespace), plugins.get("pod"))).toMatchObject({
      topology: "namespace",
      why: expect.stringContaining('topology = "namespace"'),
    });
    expect(actorTopology(actor("pod", "shop"), plugins.get("pod"))).toMatchObject({ topology: "namespace", why: 'the actor names namespace "shop"' });
    expect(actorTopology(actor("node"), plugins.get("node"))).toMatchObject({ topology: "cluster", why: 'resource "node" is cluster-scoped' });
  });
});

describe("desiredObservers, cluster topology", () => {
  it('"*" is one cluster-wide observer whatever the namespaces, carrying its exclusions', () => {
    const desired = desiredObservers("c1", [actor("pod", "*", { exclude: ["kube-system", "billing"] })], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/*/pod"]);
    expect(desired.get("c1/*/pod")).toMatchObject({ namespace: null, exclude: ["billing", "kube-system"], sweepExcept: [] });
    expect(keysOf(desiredObservers("c1", [actor("pod")], new Set(), plugins))).toStrictEqual(["c1/*/pod"]);
  });

  it("leaves the namespaces that named actors cover out of its sweep", () => {
    const desired = desiredObservers(
      "c1",
      [actor("pod", "*", { exclude: ["kube-system"] }), actor("pod", "kube-system"), actor("secret", "shop")],
      namespaces,
      plugins,
    );
    expect(keysOf(desired)).toStrictEqual(["c1/*/pod", "c1/kube-system/pod", "c1/shop/secret"]);
    expect(desired.get("c1/*/pod")?.sweepExcept).toStrictEqual(["kube-system"]);
  });
});

describe("coveredByOthers", () => {
  const clusterWide = desiredObservers("c1", [actor("pod", "*", { exclude: ["kube-system"] })], namespaces, plugins);
  const perNs = desiredObservers("c1", [actor("pod", "*", { ...perNamespace, exclude: ["kube-system"] })], namespaces, plugins);

  it("a per-namespace observer hands over to the cluster-wide one covering its namespace, not to one excluding it", () => {
    expect(coveredByOthers(perNs.get("c1/shop/pod")!, clusterWide)).toBe(true);
    const kubeSystem = desiredObservers("c1", [actor("pod", "*", perNamespace)], namespaces, plugins).get("c1/kube-system/pod")!;
    expect(coveredByOthers(kubeSystem, clusterWide)).toBe(false);
    expect(coveredByOthers(perNs.get("c1/shop/pod")!, new Map())).toBe(false);
  });

  it("the cluster-wide observer hands over to per-namespace ones, not to a named actor it leaves alone", () => {
    expect(coveredByOthers(clusterWide.get("c1/*/pod")!, perNs)).toBe(true);
    const withNamed = desiredObservers("c1", [actor("pod", "*", { exclude: ["kube-system"] }), actor("pod", "kube-system")], namespaces, plugins);
    const onlyNamed = desiredObservers("c1", [actor("pod", "kube-system")], namespaces, plugins);
    expect(coveredByOthers(withNamed.get("c1/*/pod")!, onlyNamed)).toBe(false);
  });
});

describe("desiredObservers, namespace topology", () => {
  it('"*" expands to one observer per existing namespace, minus exclude', () => {
    const desired = desiredObservers("c1", [actor("pod", "*", { ...perNamespace, exclude: ["kube-system", "not-there"] })], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/billing/pod", "c1/default/pod", "c1/shop/pod"]);
    const shop = desired.get("c1/shop/pod")!;
    expect(shop.namespace).toBe("shop");
    expect(shop.key).toBe("c1/shop/pod");
    expect(shop.plugin).toBe(plugins.get("pod"));
  });

  it('"*" follows the namespace set: new namespaces add observers, deleted ones drop them', () => {
    const actors = [actor("pod", "*", perNamespace)];
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
    const desired = desiredObservers(
      "c1",
      [actor("pod", "shop"), actor("pod", "*", { cluster: "c2" }), actor("node", "*", { cluster: "c2" })],
      namespaces,
      plugins,
    );
    expect(keysOf(desired)).toStrictEqual(["c1/shop/pod"]);
  });

  it("ignores actors naming a plugin that is not loaded", () => {
    const desired = desiredObservers("c1", [actor("widget", "*"), actor("pod", "default")], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/default/pod"]);
  });

  it("overlapping actors yield one observer per key", () => {
    const desired = desiredObservers("c1", [actor("pod", "*", perNamespace), actor("pod", "shop"), actor("secret", "shop")], namespaces, plugins);
    expect(keysOf(desired)).toStrictEqual(["c1/billing/pod", "c1/default/pod", "c1/kube-system/pod", "c1/shop/pod", "c1/shop/secret"]);
  });
});

describe("needsNamespaceDiscovery", () => {
  it('is needed for "*" on a namespaced resource watched per namespace', () => {
    expect(needsNamespaceDiscovery([actor("pod", "*", perNamespace)], plugins)).toBe(true);
    expect(needsNamespaceDiscovery([actor("node", "*"), actor("secret", "*", { ...perNamespace, exclude: ["kube-system"] })], plugins)).toBe(true);
  });

  it("is not needed for cluster-wide watches", () => {
    expect(needsNamespaceDiscovery([actor("pod", "*"), actor("secret", "*", { topology: "cluster" })], plugins)).toBe(false);
  });

  it("is not needed for explicit namespaces, cluster-scoped resources or unknown plugins", () => {
    expect(needsNamespaceDiscovery([actor("pod", "shop")], plugins)).toBe(false);
    expect(needsNamespaceDiscovery([actor("node", "*"), actor("namespace", "*")], plugins)).toBe(false);
    expect(needsNamespaceDiscovery([actor("widget", "*")], plugins)).toBe(false);
    expect(needsNamespaceDiscovery([], plugins)).toBe(false);
  });
});
