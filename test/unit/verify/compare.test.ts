// The comparison verify makes between the expected graph (from a LIST) and the sink's.
import { describe, expect, it } from "vitest";
import type { ExportLine } from "../../../core/graph/model.js";
import { compareGraphs, type CompareOptions } from "../../../core/verify/compare.js";

type NodeLine = Extract<ExportLine, { type: "node" }>;
type EdgeLine = Extract<ExportLine, { type: "edge" }>;

const node = (label: string, key: string, properties: Record<string, unknown> = {}): NodeLine => ({
  type: "node",
  labels: [label],
  key,
  properties: { observed: true, ...properties },
});
const obj = (cluster: string, ns: string, label: string, name: string, extra: Record<string, unknown> = {}): NodeLine =>
  node(label, `${cluster}/${ns}/${label}/${name}`, {
    cluster,
    namespace: ns,
    name,
    owner: `${cluster}/${ns}/${label}/${name}`,
    resourceVersion: "1",
    observedAt: "2026-01-01T00:00:00Z",
    ...extra,
  });
const edge = (rel: string, from: string, to: string, owner: string = from, properties: Record<string, unknown> = {}): EdgeLine => ({
  type: "edge",
  rel,
  from,
  to,
  properties: { owner, ...properties },
});

const options: CompareOptions = { clusters: new Set(["a"]), maxExamples: 3 };

/** A small graph of cluster "a": a Pod using a Secret, running an image from a registry. */
function base(): ExportLine[] {
  const pod = obj("a", "ns", "Pod", "web");
  const secret = obj("a", "ns", "Secret", "s");
  const image = node("ContainerImage", "docker.io/library/nginx:1", { observed: false, reference: "docker.io/library/nginx:1" });
  const registry = node("Registry", "docker.io", { observed: false, host: "docker.io" });
  return [
    pod,
    secret,
    image,
    registry,
    edge("USES_SECRET", pod.key, secret.key, pod.key, { via: "env" }),
    edge("RUNS_IMAGE", pod.key, image.key),
    edge("FROM_REGISTRY", image.key, registry.key, image.key),
  ];
}

describe("compareGraphs", () => {
  it("finds two equal graphs equal, ignoring observedAt", () => {
    const graph = base().map((l) => (l.type === "node" && l.properties.observedAt ? { ...l, properties: { ...l.properties, observedAt: "later" } } : l));
    const result = compareGraphs(base(), graph, options);
    expect(result.equal).toBe(true);
    expect(result.totals).toEqual({
      expectedNodes: 4,
      graphNodes: 4,
      missingNodes: 0,
      staleNodes: 0,
      differentNodes: 0,
      expectedEdges: 3,
      graphEdges: 3,
      missingEdges: 0,
      extraEdges: 0,
    });
    expect(result.nodes.map((r) => [r.label, r.expected, r.inGraph])).toEqual([
      ["ContainerImage", 1, 1],
      ["Pod", 1, 1],
      ["Registry", 1, 1],
      ["Secret", 1, 1],
    ]);
  });

  it("reports a node missing from the graph, and its edges missing", () => {
    const graph = base().filter((l) => !(l.type === "node" && l.key === "a/ns/Secret/s") && !(l.type === "edge" && l.rel === "USES_SECRET"));
    const result = compareGraphs(base(), graph, options);
    expect(result.equal).toBe(false);
    const secret = result.nodes.find((r) => r.label === "Secret")!;
    expect(secret).toMatchObject({ expected: 1, inGraph: 0, missing: 1, stale: 0, different: 0 });
    expect(secret.examples.missing).toEqual(["a/ns/Secret/s"]);
    const uses = result.edges.find((r) => r.rel === "USES_SECRET")!;
    expect(uses).toMatchObject({ expected: 1, inGraph: 0, missing: 1, extra: 0 });
    expect(uses.examples.missing).toEqual([{ rel: "USES_SECRET", from: "a/ns/Pod/web", to: "a/ns/Secret/s", owner: "a/ns/Pod/web" }]);
    expect(result.totals.missingNodes).toBe(1);
    expect(result.totals.missingEdges).toBe(1);
  });

  it("reports a node in the graph that the cluster does not have as stale", () => {
    const graph = [...base(), obj("a", "ns", "ConfigMap", "ghost")];
    const result = compareGraphs(base(), graph, options);
    expect(result.equal).toBe(false);
    expect(result.nodes.find((r) => r.label === "ConfigMap")).toMatchObject({
      expected: 0,
      inGraph: 1,
      stale: 1,
      examples: { stale: ["a/ns/ConfigMap/ghost"] },
    });
    expect(result.totals.staleNodes).toBe(1);
  });

  it("names the properties and labels that differ, never their values", () => {
    const graph = base().map((l) => {
      if (l.type !== "node") return l;
      if (l.key === "a/ns/Secret/s") return { ...l, properties: { ...l.properties, resourceVersion: "2", type: "Opaque-but-secret-value" } };
      if (l.key === "a/ns/Pod/web") return { ...l, labels: ["Deployment"] };
      return l;
    });
    const result = compareGraphs(base(), graph, options);
    expect(result.totals.differentNodes).toBe(2);
    const secret = result.nodes.find((r) => r.label === "Secret")!;
    expect(secret.examples.different).toEqual([{ key: "a/ns/Secret/s", properties: ["resourceVersion", "type"] }]);
    expect(JSON.stringify(result)).not.toContain("Opaque-but-secret-value");
    // Counted under the label the cluster says it has.
    const pod = result.nodes.find((r) => r.label === "Pod")!;
    expect(pod).toMatchObject({ expected: 1, inGraph: 1, different: 1 });
    expect(pod.examples.different).toEqual([{ key: "a/ns/Pod/web", properties: [], labels: { expected: ["Pod"], graph: ["Deployment"] } }]);
  });

  it("reports an edge the graph has but the cluster does not imply as extra, and one with other properties as missing + extra", () => {
    const graph = base().map((l) => (l.type === "edge" && l.rel === "USES_SECRET" ? { ...l, properties: { ...l.properties, via: "volume" } } : l));
    graph.push(edge("SCHEDULED_ON", "a/ns/Pod/web", "a/ns/Secret/s"));
    const result = compareGraphs(base(), graph, options);
    expect(result.edges.find((r) => r.rel === "USES_SECRET")).toMatchObject({ expected: 1, inGraph: 1, missing: 1, extra: 1 });
    expect(result.edges.find((r) => r.rel === "SCHEDULED_ON")).toMatchObject({
      expected: 0,
      inGraph: 1,
      missing: 0,
      extra: 1,
      examples: { extra: [{ rel: "SCHEDULED_ON", from: "a/ns/Pod/web", to: "a/ns/Secret/s", owner: "a/ns/Pod/web" }] },
    });
    expect(result.totals).toMatchObject({ missingEdges: 1, extraEdges: 2, missingNodes: 0, staleNodes: 0 });
  });

  it("counts a duplicated edge as one extra", () => {
    const graph = [...base(), edge("RUNS_IMAGE", "a/ns/Pod/web", "docker.io/library/nginx:1")];
    const result = compareGraphs(base(), graph, options);
    expect(result.edges.find((r) => r.rel === "RUNS_IMAGE")).toMatchObject({ expected: 1, inGraph: 2, missing: 0, extra: 1 });
  });

  it("ignores other clusters' nodes, their owned nodes and their edges, and counts them", () => {
    const other = obj("b", "ns", "Pod", "api");
    const volume = node("Volume", `${other.key}/volume/data`, { name: "data", owner: other.key });
    const graph = [...base(), other, volume, edge("USES_VOLUME", other.key, volume.key)];
    const result = compareGraphs(base(), graph, options);
    expect(result.equal).toBe(true);
    expect(result.ignored).toEqual({ nodes: 2, edges: 1 });
    expect(result.totals.graphNodes).toBe(4);
  });

  it("compares an owned node of a configured cluster through its owner's cluster", () => {
    const pod = "a/ns/Pod/web";
    const volume = node("Volume", `${pod}/volume/old`, { name: "old", owner: pod });
    const result = compareGraphs(base(), [...base(), volume, edge("USES_VOLUME", pod, volume.key)], options);
    expect(result.nodes.find((r) => r.label === "Volume")).toMatchObject({ stale: 1, examples: { stale: [volume.key] } });
    expect(result.edges.find((r) => r.rel === "USES_VOLUME")).toMatchObject({ extra: 1 });
  });

  it("scopes shared nodes: compared when expected, or when no other cluster reaches them", () => {
    const other = obj("b", "ns", "Pod", "api");
    // Another cluster runs the same image we expect (in scope), and one only it runs,
    // whose registry is reached only through that image (both out of scope).
    const theirs = node("ContainerImage", "quay.io/x/y:2", { observed: false, reference: "quay.io/x/y:2" });
    const theirRegistry = node("Registry", "quay.io", { observed: false, host: "quay.io" });
    // An image nothing of any cluster uses any more, though its registry (ours, and
    // another cluster's) still links it: ours to report.
    const orphan = node("ContainerImage", "docker.io/library/old:1", { observed: false, reference: "docker.io/library/old:1" });
    const theirsToo = node("ContainerImage", "docker.io/library/redis:7", { observed: false, reference: "docker.io/library/redis:7" });
    const graph = [
      ...base(),
      other,
      theirs,
      theirRegistry,
      orphan,
      theirsToo,
      edge("FROM_REGISTRY", orphan.key, "docker.io", orphan.key),
      edge("RUNS_IMAGE", other.key, theirsToo.key),
      edge("FROM_REGISTRY", theirsToo.key, "docker.io", theirsToo.key),
      edge("RUNS_IMAGE", other.key, "docker.io/library/nginx:1"),
      edge("RUNS_IMAGE", other.key, theirs.key),
      edge("FROM_REGISTRY", theirs.key, theirRegistry.key, theirs.key),
    ];
    const result = compareGraphs(base(), graph, options);
    // The other cluster's edge into our expected image is not "extra": its owner is theirs.
    expect(result.edges.find((r) => r.rel === "RUNS_IMAGE")).toMatchObject({ expected: 1, inGraph: 1, extra: 0 });
    // The orphan's link is ours (extra); the other cluster's image's link is not compared.
    expect(result.edges.find((r) => r.rel === "FROM_REGISTRY")).toMatchObject({
      expected: 1,
      inGraph: 2,
      extra: 1,
      examples: { extra: [{ rel: "FROM_REGISTRY", from: "docker.io/library/old:1", to: "docker.io", owner: "docker.io/library/old:1" }] },
    });
    const images = result.nodes.find((r) => r.label === "ContainerImage")!;
    expect(images).toMatchObject({ expected: 1, inGraph: 2, stale: 1, examples: { stale: ["docker.io/library/old:1"] } });
    expect(result.nodes.find((r) => r.label === "Registry")).toMatchObject({ expected: 1, inGraph: 1, stale: 0 });
    expect(result.ignored).toEqual({ nodes: 4, edges: 5 });
  });

  it("caps examples per cell and keeps the full counts", () => {
    const ghosts = Array.from({ length: 7 }, (_, i) => obj("a", "ns", "ConfigMap", `ghost-${i}`));
    const result = compareGraphs(base(), [...base(), ...ghosts], { ...options, maxExamples: 3 });
    const row = result.nodes.find((r) => r.label === "ConfigMap")!;
    expect(row.stale).toBe(7);
    expect(row.examples.stale).toEqual(["a/ns/ConfigMap/ghost-0", "a/ns/ConfigMap/ghost-1", "a/ns/ConfigMap/ghost-2"]);
    const missing = compareGraphs([...base(), ...ghosts], base(), { ...options, maxExamples: 2 }).nodes.find((r) => r.label === "ConfigMap")!;
    expect(missing.missing).toBe(7);
    expect(missing.examples.missing).toHaveLength(2);
  });

  it("leaves excluded keys (untranslatable objects) out on both sides", () => {
    const ghost = obj("a", "ns", "ConfigMap", "broken");
    const result = compareGraphs(base(), [...base(), ghost, edge("USES_CONFIGMAP", "a/ns/Pod/web", ghost.key)], {
      ...options,
      excludeKeys: new Set([ghost.key]),
    });
    expect(result.equal).toBe(true);
  });
});
