// verifyGraph end to end against a fake cluster and a real embedded sink: scopes as the
// supervisor would observe them, failures that name the scope, and the settle loop.
import { afterEach, describe, expect, it } from "vitest";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { ApiError } from "../../../core/kube/errors.js";
import { scopeOps } from "../../../core/verify/expected-graph.js";
import { verifyGraph } from "../../../core/verify/verify.js";
import { actor, configMap, FakeKube, namespaceObject, plugins, testConfig } from "./helpers.js";

const sinks: SqliteGraphSink[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
});

/** An embedded graph holding what the agent would have written for these config maps. */
async function graphOf(byNamespace: Record<string, ReturnType<typeof configMap>[]>): Promise<SqliteGraphSink> {
  const sink = new SqliteGraphSink(":memory:");
  sinks.push(sink);
  const cm = plugins.get("configmap")!;
  for (const [ns, items] of Object.entries(byNamespace))
    await sink.apply(scopeOps({ cluster: "c1", namespace: ns, plugin: cm }, items, "2026-01-01T00:00:00Z").ops);
  return sink;
}

const world = () => ({
  "/api/v1/namespaces": [namespaceObject("shop"), namespaceObject("billing"), namespaceObject("kube-system")],
  "/api/v1/namespaces/shop/configmaps": [configMap("shop", "a"), configMap("shop", "b"), configMap("shop", "c")],
  "/api/v1/namespaces/billing/configmaps": [configMap("billing", "x")],
  "/api/v1/namespaces/kube-system/configmaps": [configMap("kube-system", "noise")],
  "/api/v1/configmaps": [configMap("shop", "a"), configMap("shop", "b"), configMap("shop", "c"), configMap("billing", "x"), configMap("kube-system", "noise")],
});

describe("verifyGraph", () => {
  it("finds a complete graph equal with one cluster-wide LIST for a '*' actor, its exclusions left out", async () => {
    const kube = new FakeKube(world());
    const sink = await graphOf({ shop: world()["/api/v1/namespaces/shop/configmaps"], billing: world()["/api/v1/namespaces/billing/configmaps"] });
    const report = await verifyGraph({
      config: testConfig([actor("configmap", "*", { exclude: ["kube-system"] })]),
      plugins,
      sink,
      settleSeconds: 0,
      clientFor: () => kube.client(),
    });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe("graph equals the cluster: 4 nodes, 0 edges");
    expect(report.scopes).toBe(1);
    expect(report.objects).toBe(4);
    expect(kube.lists.get("/api/v1/namespaces")).toBeUndefined();
    expect(kube.lists.get("/api/v1/configmaps")).toBe(3);

    // An object of an excluded namespace in the graph is stale.
    const withNoise = await graphOf({
      shop: world()["/api/v1/namespaces/shop/configmaps"],
      billing: world()["/api/v1/namespaces/billing/configmaps"],
      "kube-system": [configMap("kube-system", "noise")],
    });
    const stale = await verifyGraph({
      config: testConfig([actor("configmap", "*", { exclude: ["kube-system"] })]),
      plugins,
      sink: withNoise,
      settleSeconds: 0,
      clientFor: () => kube.client(),
    });
    expect(stale.nodes[0]).toMatchObject({ stale: 1, examples: { stale: ["c1/kube-system/ConfigMap/noise"] } });
  });

  it("finds a complete graph equal, listing the namespaces a per-namespace '*' actor covers minus exclusions, paged", async () => {
    const kube = new FakeKube(world());
    const sink = await graphOf({ shop: world()["/api/v1/namespaces/shop/configmaps"], billing: world()["/api/v1/namespaces/billing/configmaps"] });
    const report = await verifyGraph({
      config: testConfig([actor("configmap", "*", { exclude: ["kube-system"], topology: "namespace" })]),
      plugins,
      sink,
      settleSeconds: 0,
      clientFor: () => kube.client(),
    });
    expect(report.failures).toEqual([]);
    expect(report.equal).toBe(true);
    expect(report.verdict).toBe("graph equals the cluster: 4 nodes, 0 edges");
    expect(report.scopes).toBe(2);
    expect(report.objects).toBe(4);
    expect(report.attempts).toBe(1);
    expect(kube.lists.get("/api/v1/namespaces/kube-system/configmaps")).toBeUndefined();
    // Page size 2: three config maps take two requests.
    expect(kube.lists.get("/api/v1/namespaces/shop/configmaps")).toBe(2);
  });

  it("reports what the graph lacks and what it has too much of", async () => {
    const kube = new FakeKube(world());
    const sink = await graphOf({ shop: [configMap("shop", "a"), configMap("shop", "b"), configMap("shop", "zombie")] });
    const report = await verifyGraph({ config: testConfig([actor("configmap", "shop")]), plugins, sink, settleSeconds: 0, clientFor: () => kube.client() });
    expect(report.equal).toBe(false);
    expect(report.nodes).toEqual([
      {
        label: "ConfigMap",
        expected: 3,
        inGraph: 3,
        missing: 1,
        stale: 1,
        different: 0,
        examples: { missing: ["c1/shop/ConfigMap/c"], stale: ["c1/shop/ConfigMap/zombie"], different: [] },
      },
    ]);
    expect(report.verdict).toBe("graph differs from the cluster: 1 node missing, 1 stale node (expected 3 nodes, 0 edges)");
  });

  it("fails naming the scope that cannot be listed, without retrying a 403", async () => {
    const kube = new FakeKube(world(), {
      "/api/v1/namespaces/billing/configmaps": new ApiError(
        "forbidden",
        'configmaps is forbidden: User "x" cannot list resource "configmaps" in the namespace "billing"',
        403,
      ),
    });
    const sink = await graphOf({});
    const report = await verifyGraph({
      config: testConfig([actor("configmap", "shop"), actor("configmap", "billing")]),
      plugins,
      sink,
      settleSeconds: 5,
      clientFor: () => kube.client(),
    });
    expect(report.equal).toBe(false);
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({ scope: "c1/billing/configmap", cluster: "c1", namespace: "billing", resource: "configmap", kind: "forbidden" });
    expect(report.failures[0]!.message).toContain('configmap in namespace "billing" of cluster "c1"');
    expect(report.verdict).toMatch(/^could not verify: cannot list configmap in namespace "billing" of cluster "c1": forbidden: /);
    expect(report.attempts).toBe(1);
    expect(kube.lists.get("/api/v1/namespaces/billing/configmaps")).toBe(1);
  });

  it("names a resource the apiserver does not serve", async () => {
    const kube = new FakeKube(world(), {
      "/api/v1/namespaces/shop/configmaps": new ApiError("not-found", "the server could not find the requested resource", 404),
    });
    const report = await verifyGraph({
      config: testConfig([actor("configmap", "shop")]),
      plugins,
      sink: await graphOf({}),
      settleSeconds: 0,
      clientFor: () => kube.client(),
    });
    expect(report.failures[0]!.message).toBe(
      'cannot list configmap in namespace "shop" of cluster "c1": not served by the apiserver: the server could not find the requested resource',
    );
  });

  it("reports a cluster whose credentials cannot be loaded", async () => {
    const report = await verifyGraph({
      config: testConfig([actor("configmap", "shop")]),
      plugins,
      sink: await graphOf({}),
      settleSeconds: 0,
      clientFor: () => {
        throw new Error("no such kubeconfig");
      },
    });
    expect(report.failures).toEqual([
      { cluster: "c1", namespace: null, resource: "", scope: "c1", kind: "credentials", message: 'cannot reach cluster "c1": no such kubeconfig' },
    ]);
  });

  it("looks again while the graph catches up, and reports the last look", async () => {
    const kube = new FakeKube(world());
    const sink = await graphOf({ shop: [configMap("shop", "a")] });
    // The "agent" delivers the rest shortly after the first look.
    const timer = setTimeout(() => {
      void sink.apply(scopeOps({ cluster: "c1", namespace: "shop", plugin: plugins.get("configmap")! }, world()["/api/v1/namespaces/shop/configmaps"]).ops);
    }, 500);
    try {
      const report = await verifyGraph({ config: testConfig([actor("configmap", "shop")]), plugins, sink, settleSeconds: 6, clientFor: () => kube.client() });
      expect(report.equal).toBe(true);
      expect(report.attempts).toBe(2);
      expect(kube.lists.get("/api/v1/namespaces/shop/configmaps")).toBe(4);
    } finally {
      clearTimeout(timer);
    }
  });

  it("gives up after settleSeconds and reports the last difference", async () => {
    const kube = new FakeKube(world());
    const sink = await graphOf({ shop: [configMap("shop", "a")] });
    const started = Date.now();
    const report = await verifyGraph({ config: testConfig([actor("configmap", "shop")]), plugins, sink, settleSeconds: 3, clientFor: () => kube.client() });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
    expect(report.equal).toBe(false);
    expect(report.attempts).toBeGreaterThanOrEqual(2);
    expect(report.totals.missingNodes).toBe(2);
  });
});
