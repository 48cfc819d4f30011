// The Neo4j sink's planner: how ops become runs (coalesced, cut where reordering would
// change the result). What it refuses is the graph contract's (contract.test.ts).
import { describe, expect, it } from "vitest";
import { del, pod } from "./ops.js";
import type { GraphOp } from "../../../core/graph/model.js";
import { planOps, sweepRun, type Run, type Step } from "../../../core/graph/neo4j-plan.js";

function runs(steps: Step[]): Run[] {
  return steps.map((s) => {
    if (s.kind !== "run") throw new Error("expected only runs");
    return s.run;
  });
}

describe("planOps", () => {
  it("puts independent ops in one run, one row list per label and type", () => {
    const [run, ...rest] = runs(planOps([pod("a", ["s"]), pod("b", ["s", "t"])]));
    expect(rest).toEqual([]);
    expect(run!.upserts.map((u) => u.key)).toEqual(["c/ns/Pod/a", "c/ns/Pod/b"]);
    expect(run!.nodes.get("Pod")!.map((r) => r.props)).toEqual([
      { name: "a", key: "c/ns/Pod/a", owner: "c/ns/Pod/a", observed: true, scope: "c/ns/Pod" },
      { name: "b", key: "c/ns/Pod/b", owner: "c/ns/Pod/b", observed: true, scope: "c/ns/Pod" },
    ]);
    // A shared reference is created once, from its first declaration.
    expect(run!.placeholders.get("Secret")!.map((r) => r.key)).toEqual(["c/ns/Secret/s", "c/ns/Secret/t"]);
    expect(run!.edges.get("USES_SECRET")!.map((e) => e.props.owner)).toEqual(["c/ns/Pod/a", "c/ns/Pod/b", "c/ns/Pod/b"]);
  });

  it("coalesces ops on one key: the last op wins, the first placeholder declaration wins", () => {
    const first = pod("a", ["s"], { v: 1 });
    const second = pod("a", [], { v: 2 });
    if (first.op !== "upsert") throw new Error("unreachable");
    first.placeholders[0]!.properties = { name: "s", from: "first" };
    const [run] = runs(planOps([first, second]));
    expect(run!.nodes.get("Pod")!.map((r) => r.props.v)).toEqual([2]);
    expect(run!.edges.size).toBe(0);
    expect(run!.placeholders.get("Secret")!.map((r) => r.props.from)).toEqual(["first"]);
    expect(run!.droppedTargets).toEqual(["c/ns/Secret/s"]);
  });

  it("turns upsert-then-delete into a delete that demotes to the upsert's label and trimmed properties", () => {
    const [run] = runs(planOps([pod("a", [], { namespace: "ns", cluster: "c", phase: "Running" }), del("c/ns/Pod/a")]));
    expect(run!.upserts).toEqual([]);
    expect(run!.deletes).toEqual([{ key: "c/ns/Pod/a", pos: 1, demoteTo: { label: "Pod", props: { namespace: "ns", cluster: "c", name: "a" } } }]);
  });

  it("cuts the run before deleting a key another op of the run names, and before naming a deleted key", () => {
    expect(runs(planOps([pod("a", ["s"]), del("c/ns/Secret/s")])).length).toBe(2);
    expect(runs(planOps([del("c/ns/Secret/s"), pod("a", ["s"])])).length).toBe(2);
    expect(runs(planOps([del("c/ns/Secret/x"), pod("a", ["s"]), del("c/ns/Pod/b")])).length).toBe(1);
  });

  it("makes a sweep a barrier", () => {
    const steps = planOps([pod("a"), { op: "sweep", scope: "c/ns/Pod", present: ["c/ns/Pod/a"] }, pod("b")]);
    expect(steps.map((s) => s.kind)).toEqual(["run", "sweep", "run"]);
  });

  it("sweeps as one set: every swept key at position 0", () => {
    const run = sweepRun(["k1", "k2"]);
    expect(run.deletes.map((d) => d.pos)).toEqual([0, 0]);
    expect([...run.firstPos]).toEqual([
      ["k1", 0],
      ["k2", 0],
    ]);
  });

  it("collapses exact duplicate edges, whatever the property order", () => {
    const op = pod("a", ["s"]);
    if (op.op !== "upsert") throw new Error("unreachable");
    op.edges = [
      { type: "USES_SECRET", from: op.node.key, to: "c/ns/Secret/s", properties: { a: 1, b: 2 } },
      { type: "USES_SECRET", from: op.node.key, to: "c/ns/Secret/s", properties: { b: 2, a: 1 } },
      { type: "USES_SECRET", from: op.node.key, to: "c/ns/Secret/s", properties: { a: 1, b: 3 } },
    ];
    const [run] = runs(planOps([op]));
    expect(run!.edges.get("USES_SECRET")!.length).toBe(2);
  });
});

describe("links and selectors in the plan", () => {
  const withImage = (name: string, extra: Partial<Extract<GraphOp, { op: "upsert" }>> = {}): GraphOp => {
    const key = `c/ns/Pod/${name}`;
    return {
      op: "upsert",
      node: { label: "Pod", key, scope: "c/ns/Pod", properties: {} },
      owned: [],
      placeholders: [
        { label: "Image", key: "img", properties: {} },
        { label: "Registry", key: "reg", properties: {} },
      ],
      edges: [{ type: "RUNS", from: key, to: "img", properties: {} }],
      links: [{ type: "FROM", from: "img", to: "reg", properties: {} }],
      ...extra,
    };
  };

  it("keeps one link row per distinct link, owned by its start", () => {
    const [run] = runs(planOps([withImage("a"), withImage("b")]));
    expect(run!.links.get("FROM")).toEqual([{ from: "img", to: "reg", props: { owner: "img" } }]);
  });

  it("stores the selectors of the run's final upserts with their text", () => {
    const selector = { type: "SELECTS", from: "c/ns/Pod/a", scope: "c/ns/Pod", matchLabels: { app: "web" }, requirements: [], properties: { port: 80 } };
    const [run] = runs(planOps([withImage("a", { selectors: [selector] }), withImage("b", { selectors: [selector] }), del("c/ns/Pod/b")]));
    expect(run!.selectors).toEqual([
      {
        owner: "c/ns/Pod/a",
        from: "c/ns/Pod/a",
        type: "SELECTS",
        scope: "c/ns/Pod",
        spec: '{"matchLabels":{"app":"web"},"requirements":[]}',
        props: '{"port":80,"selector":"app=web"}',
      },
    ]);
  });
});
