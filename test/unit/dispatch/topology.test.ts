// The graph does not depend on the watch topology: an object's node scope comes from its
// own namespace, and a cluster-wide observer's relist boundary becomes a sweep of every
// namespace's scope of the label, except the namespaces other observers cover.
import { describe, expect, it } from "vitest";
import { toGraphOp } from "../../../core/dispatch/translate.js";
import { everyNamespaceScope, scopeCovers, sweepScopePrefix } from "../../../core/graph/keys.js";
import type { KubeMessage } from "../../../core/messages.js";
import { loadPlugins } from "../../../core/plugin/registry.js";

const { plugins } = await loadPlugins([]);
const configmap = plugins.get("configmap")!;
const node = plugins.get("node")!;

function message(observerNamespace: string | null, extra: Partial<KubeMessage> = {}): KubeMessage {
  return {
    cluster: "c1",
    namespace: observerNamespace,
    resource: "configmap",
    kind: "ConfigMap",
    action: "Applied",
    objectNamespace: "shop",
    uid: "u1",
    name: "app",
    resourceVersion: "7",
    observedAt: "2026-01-01T00:00:00Z",
    object: { metadata: { labels: {}, annotations: {} }, keys: [] },
    ...extra,
  };
}

describe("translation in both topologies", () => {
  it("gives an object the same node, scope included, whichever observer delivered it", () => {
    const perNamespace = toGraphOp(message("shop"), configmap);
    const clusterWide = toGraphOp(message(null), configmap);
    expect(clusterWide).toStrictEqual(perNamespace);
    expect(clusterWide).toMatchObject({ op: "upsert", node: { key: "c1/shop/ConfigMap/app", scope: "c1/shop/ConfigMap" } });
  });

  it("turns a cluster-wide boundary into a sweep of every namespace, with its exceptions", () => {
    const boundary = message(null, {
      action: "Restarted",
      objectNamespace: null,
      uid: null,
      name: null,
      object: null,
      present: [{ namespace: "shop", name: "app", uid: "u1" }],
      sweepExcept: ["kube-system"],
    });
    expect(toGraphOp(boundary, configmap)).toStrictEqual({ op: "sweep", scope: "c1/*/ConfigMap", present: ["c1/shop/ConfigMap/app"], except: ["kube-system"] });
    const perNamespace = message("shop", { action: "Restarted", objectNamespace: null, uid: null, name: null, object: null, present: [] });
    expect(toGraphOp(perNamespace, configmap)).toStrictEqual({ op: "sweep", scope: "c1/shop/ConfigMap", present: [] });
  });

  it("keeps cluster-scoped boundaries as they were", () => {
    const boundary = message(null, {
      resource: "node",
      kind: "Node",
      action: "Restarted",
      objectNamespace: null,
      uid: null,
      name: null,
      object: null,
      present: [],
    });
    expect(toGraphOp(boundary, node)).toStrictEqual({ op: "sweep", scope: "c1//Node", present: [] });
  });
});

describe("every-namespace sweep scopes", () => {
  const scope = everyNamespaceScope("c1", "Pod");

  it("cover the label's namespaced scopes in that cluster, but the exceptions", () => {
    expect(scope).toBe("c1/*/Pod");
    expect(scopeCovers(scope, [], "c1/shop/Pod")).toBe(true);
    expect(scopeCovers(scope, ["shop"], "c1/shop/Pod")).toBe(false);
    expect(scopeCovers(scope, [], "c1/shop/Secret")).toBe(false);
    expect(scopeCovers(scope, [], "c2/shop/Pod")).toBe(false);
    expect(scopeCovers(scope, [], "c1//Pod")).toBe(false);
    expect(scopeCovers("c1/shop/Pod", [], "c1/shop/Pod")).toBe(true);
    expect(scopeCovers("c1/shop/Pod", [], "c1/billing/Pod")).toBe(false);
  });

  it("are looked up by the cluster's prefix; single scopes by themselves", () => {
    expect(sweepScopePrefix(scope)).toBe("c1/");
    expect(sweepScopePrefix("c1/shop/Pod")).toBeUndefined();
  });
});
