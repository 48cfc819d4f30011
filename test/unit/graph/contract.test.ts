// The graph contract (core/graph/contract.ts): what either sink refuses, with one error
// class, and the marked ops that translation built under it, which no sink checks again.
import { describe, expect, it } from "vitest";
import { del, pod } from "./ops.js";
import { GraphContract, GraphContractError, isConforming, markConforming } from "../../../core/graph/contract.js";
import { MAX_KEY_BYTES, MAX_PROPERTY_BYTES, SinkLimitError } from "../../../core/graph/limits.js";
import type { GraphOp } from "../../../core/graph/model.js";
import { planOps } from "../../../core/graph/neo4j-plan.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";

function contractFor(labels: string[], relationships: string[]): GraphContract {
  const contract = new GraphContract();
  contract.declare({ labels, relationships });
  return contract;
}
const contract = contractFor(["Pod", "Secret", "Volume"], ["USES_SECRET", "USES_VOLUME"]);

describe("GraphContract.check", () => {
  const refuses = (op: GraphOp, message: RegExp): void => {
    expect(() => contract.check([op])).toThrow(GraphContractError);
    expect(() => contract.check([op])).toThrow(message);
  };

  it("refuses undeclared labels and relationship types, naming the op", () => {
    const op = pod("a");
    if (op.op !== "upsert") throw new Error("unreachable");
    refuses({ ...op, node: { ...op.node, label: "Deployment" } }, /op #0 \(upsert "c\/ns\/Pod\/a"\).*label "Deployment" is not declared/);
    refuses({ ...op, edges: [{ type: "RUNS_AS", from: op.node.key, to: op.node.key, properties: {} }] }, /relationship type "RUNS_AS" is not declared/);
  });

  it("refuses edges that do not start at the object or an owned node, or end elsewhere", () => {
    const op = pod("a");
    if (op.op !== "upsert") throw new Error("unreachable");
    refuses({ ...op, edges: [{ type: "USES_SECRET", from: "c/ns/Pod/b", to: op.node.key, properties: {} }] }, /neither the object nor a node it owns/);
    refuses(
      { ...op, edges: [{ type: "USES_SECRET", from: op.node.key, to: "c/ns/Secret/x", properties: {} }] },
      /not the object, a node it owns or one of its placeholders/,
    );
  });

  it("refuses managed property names, maps, mixed lists and non-finite numbers; nulls are dropped when written", () => {
    refuses(pod("a", [], { owner: "x" }), /property "owner" is managed by the sink/);
    refuses(pod("a", [], { bad: { nested: 1 } as unknown as string }), /an object is not a string/);
    refuses(pod("a", [], { bad: [1, "x"] }), /one type/);
    refuses(pod("a", [], { bad: Number.NaN }), /NaN is not/);
    refuses(pod("a", [], { "not-an-identifier": 1 }), /is not an identifier/);
    expect(() => contract.check([pod("a", [], { gone: null as unknown as string })])).not.toThrow();
    const [step] = planOps([pod("a", [], { gone: null as unknown as string })]);
    if (step?.kind !== "run") throw new Error("expected a run");
    expect(step.run.nodes.get("Pod")![0]!.props).not.toHaveProperty("gone");
  });

  it("allows `key` as an edge property but not as a node property", () => {
    const op = pod("a", ["s"]);
    if (op.op !== "upsert") throw new Error("unreachable");
    op.edges[0]!.properties = { key: "password" };
    expect(() => contract.check([op])).not.toThrow();
    refuses(pod("a", [], { key: "x" }), /property "key" is managed/);
  });

  it("refuses keys too long to index and empty ones", () => {
    refuses(del("k".repeat(MAX_KEY_BYTES + 1)), new RegExp(`${MAX_KEY_BYTES + 1} bytes is longer than the ${MAX_KEY_BYTES} a key may have`));
    expect(() => contract.check([del("k".repeat(MAX_KEY_BYTES))])).not.toThrow();
    refuses(del(""), /non-empty string/);
  });

  it("refuses a property value no sink stores with the sink-limit error", () => {
    expect(() => contract.check([pod("a", [], { big: "x".repeat(MAX_PROPERTY_BYTES + 1) })])).toThrow(SinkLimitError);
  });

  it("refuses links that do not join two placeholders of the op, and selectors from elsewhere", () => {
    const links = contractFor(["Pod", "Image", "Registry"], ["RUNS", "FROM", "SELECTS"]);
    const withImage = (extra: Partial<Extract<GraphOp, { op: "upsert" }>>): GraphOp => ({
      op: "upsert",
      node: { label: "Pod", key: "c/ns/Pod/a", scope: "c/ns/Pod", properties: {} },
      owned: [],
      placeholders: [
        { label: "Image", key: "img", properties: {} },
        { label: "Registry", key: "reg", properties: {} },
      ],
      edges: [{ type: "RUNS", from: "c/ns/Pod/a", to: "img", properties: {} }],
      ...extra,
    });
    expect(() => links.check([withImage({ links: [{ type: "FROM", from: "img", to: "reg", properties: {} }] })])).not.toThrow();
    expect(() => links.check([withImage({ links: [{ type: "FROM", from: "c/ns/Pod/a", to: "reg", properties: {} }] })])).toThrow(
      /link #0: a link starts and ends at placeholders/,
    );
    expect(() =>
      links.check([withImage({ selectors: [{ type: "SELECTS", from: "img", scope: "c/ns/Pod", matchLabels: {}, requirements: [], properties: {} }] })]),
    ).toThrow(/selector #0: starts at "img"/);
    expect(() => links.check([withImage({ links: [{ type: "FROM", from: "img", to: "reg", properties: { owner: "x" } }] })])).toThrow(
      /"owner" is managed by the sink/,
    );
  });

  it("refuses declaring names that are not labels or types, or a label the sink uses itself", () => {
    const c = new GraphContract();
    expect(() => c.declare({ labels: ["Pod`) DETACH DELETE n //"], relationships: [] })).toThrow(GraphContractError);
    expect(() => c.declare({ labels: [], relationships: ["uses"] })).toThrow(/not a valid relationship type/);
    expect(() => c.declare({ labels: ["Entity"], relationships: [] }, ["Entity"])).toThrow(/a label the sink itself uses/);
  });
});

describe("marked ops", () => {
  it("are not checked again: only the unmarked op of a batch is refused", () => {
    const bad = pod("a", [], { owner: "x" });
    expect(() => contract.check([bad])).toThrow(GraphContractError);
    // Marking is the translator's promise; the contract takes it (this op breaks it on purpose).
    expect(() => contract.check([markConforming(pod("b", [], { owner: "x" }))])).not.toThrow();
    expect(isConforming(bad)).toBe(false);
    expect(() => contract.check([markConforming(pod("c")), bad])).toThrow(/graph op #1/);
  });

  it("a sink checks unmarked ops against the schema it was given", async () => {
    const sink = new SqliteGraphSink(":memory:");
    await sink.init({ labels: ["Pod", "Secret"], relationships: ["USES_SECRET"] });
    await expect(
      sink.apply([{ ...(pod("a") as Extract<GraphOp, { op: "upsert" }>), node: { label: "Deployment", key: "c/ns/Deployment/a", properties: {} } }]),
    ).rejects.toThrow(/label "Deployment" is not declared/);
    await sink.apply([pod("a", ["s"])]);
    expect((await sink.stats()).nodes).toEqual({ Pod: 1, Secret: 1 });
    await sink.close();
  });
});
