// The selector-resolution algorithm both sinks drive (core/graph/selector-resolution.ts),
// over an in-memory fake of the sink primitives: what it asks, what it creates, and that
// after random changes the incremental result equals the selected edges worked out from
// scratch, through the synchronous and the asynchronous driver alike.
import { describe, expect, it } from "vitest";
import { prng } from "../../support/prng.js";
import { canonicalJson } from "../../../core/graph/canonical.js";
import type { SelectorRequirement } from "../../../core/graph/model.js";
import { labelMap, parseSelectorSpec, selectorMatches, selectorSpec, selectorText } from "../../../core/graph/selector.js";
import {
  resolveSelections,
  resolveSelectionsAsync,
  selectionSteps,
  type AsyncSelectionPrimitives,
  type SelectionPrimitives,
  type StoredSelector,
} from "../../../core/graph/selector-resolution.js";

interface FakeNode {
  scope: string | null;
  observed: boolean;
  labels: string[];
}

const edgeId = (s: StoredSelector, to: string): string => JSON.stringify([s.type, s.from, to, s.owner, s.props]);

/** Nodes, selectors and selected edges in memory; every primitive call is recorded. */
class FakeGraph {
  readonly nodes = new Map<string, FakeNode>();
  selectors: StoredSelector[] = [];
  readonly edges = new Set<string>();
  readonly calls: string[] = [];

  readonly primitives: SelectionPrimitives = {
    anySelector: () => this.record("anySelector", this.selectors.length > 0),
    deleteSelectedInto: (keys) => {
      this.record("deleteSelectedInto", undefined);
      for (const id of [...this.edges]) if (keys.includes((JSON.parse(id) as string[])[2]!)) this.edges.delete(id);
    },
    selectorsOf: (owners) =>
      this.record(
        "selectorsOf",
        this.selectors.filter((s) => owners.includes(s.owner)),
      ),
    selectorsIn: (scopes) =>
      this.record(
        "selectorsIn",
        this.selectors.filter((s) => scopes.includes(s.scope)),
      ),
    observedIn: (scopes) =>
      this.record(
        "observedIn",
        [...this.nodes]
          .filter(([, n]) => n.observed && n.scope !== null && scopes.includes(n.scope))
          .map(([key, n]) => ({ key, scope: n.scope!, labels: n.labels })),
      ),
    observedNodes: (keys) =>
      this.record(
        "observedNodes",
        keys.flatMap((key) => {
          const n = this.nodes.get(key);
          return n && n.observed && n.scope !== null ? [{ key, scope: n.scope, labels: n.labels }] : [];
        }),
      ),
    createSelected: (edges) => {
      this.record("createSelected", undefined);
      for (const { selector, to } of edges) {
        const id = edgeId(selector, to);
        // The contract: no edge the graph already has, none twice.
        if (this.edges.has(id)) throw new Error(`created twice: ${id}`);
        this.edges.add(id);
      }
    },
  };

  /** The same primitives, answering a tick later. */
  readonly asyncPrimitives = Object.fromEntries(
    Object.entries(this.primitives).map(([name, call]) => [
      name,
      async (...args: unknown[]) => (await new Promise((r) => setImmediate(r)), (call as (...a: unknown[]) => unknown)(...args)),
    ]),
  ) as AsyncSelectionPrimitives;

  /** What the sink's own ops do to a touched key: its selectors' edges go with its edges. */
  dropEdgesOwnedBy(keys: ReadonlySet<string>): void {
    for (const id of [...this.edges]) if (keys.has((JSON.parse(id) as string[])[3]!)) this.edges.delete(id);
  }

  /** The selected edges by definition (docs/graph-semantics.md, "Selectors"). */
  fromScratch(): Set<string> {
    const all = new Set<string>();
    for (const s of this.selectors) {
      for (const [key, n] of this.nodes) {
        if (n.observed && n.scope === s.scope && selectorMatches(parseSelectorSpec(s.spec), labelMap(n.labels))) all.add(edgeId(s, key));
      }
    }
    return all;
  }

  private record<T>(name: string, answer: T): T {
    this.calls.push(name);
    return answer;
  }
}

function selector(
  owner: string,
  scope: string,
  matchLabels: Record<string, string>,
  requirements: SelectorRequirement[] = [],
  extra: Record<string, unknown> = {},
  from = owner,
): StoredSelector {
  const sel = { matchLabels, requirements };
  return { owner, from, type: "SELECTS", scope, spec: selectorSpec(sel), props: canonicalJson({ ...extra, selector: selectorText(sel) }) };
}

function pod(scope: string, labels: string[], observed = true): FakeNode {
  return { scope, observed, labels };
}

describe("selector resolution", () => {
  it("asks nothing when nothing was touched, and only whether a selector exists when none does", () => {
    const graph = new FakeGraph();
    graph.nodes.set("ns/Pod/a", pod("ns/Pod", ["app=web"]));
    expect(selectionSteps(new Set()).next().done).toBe(true);
    resolveSelections(new Set(["ns/Pod/a"]), graph.primitives);
    expect(graph.calls).toEqual(["anySelector"]);
  });

  it("matches a touched owner's selectors against the observed nodes of their scope only", () => {
    const graph = new FakeGraph();
    graph.nodes.set("ns/Pod/a", pod("ns/Pod", ["app=web", "tier=front"]));
    graph.nodes.set("ns/Pod/b", pod("ns/Pod", ["app=db"]));
    graph.nodes.set("ns/Pod/ghost", pod("ns/Pod", ["app=web"], false));
    graph.nodes.set("other/Pod/a", pod("other/Pod", ["app=web"]));
    graph.nodes.set("ns/Service/web", pod("ns/Service", []));
    const web = selector("ns/Service/web", "ns/Pod", { app: "web" });
    graph.selectors = [web];
    resolveSelections(new Set(["ns/Service/web"]), graph.primitives);
    expect([...graph.edges]).toEqual([edgeId(web, "ns/Pod/a")]);
    expect(graph.calls).toEqual(["anySelector", "deleteSelectedInto", "selectorsOf", "observedIn", "observedNodes", "selectorsIn", "createSelected"]);
  });

  it("matches a touched node against the other owners' selectors of its scope, and redoes the edges into it", () => {
    const graph = new FakeGraph();
    graph.nodes.set("ns/Pod/a", pod("ns/Pod", ["app=db"]));
    const web = selector("ns/Service/web", "ns/Pod", { app: "web" });
    const db = selector("ns/Service/db", "ns/Pod", { app: "db" });
    const anyPod = selector("ns/Service/all", "ns/Pod", {}, [{ key: "app", operator: "Exists", values: [] }]);
    const elsewhere = selector("other/Service/all", "other/Pod", {});
    graph.selectors = [web, db, anyPod, elsewhere];
    graph.edges.add(edgeId(web, "ns/Pod/a")); // from before its labels changed
    resolveSelections(new Set(["ns/Pod/a"]), graph.primitives);
    expect([...graph.edges].sort()).toEqual([edgeId(db, "ns/Pod/a"), edgeId(anyPod, "ns/Pod/a")].sort());
    // It owns no selector: no scope is read.
    expect(graph.calls).not.toContain("observedIn");
  });

  it("selects nothing for a touched key that is gone or a placeholder, but still removes the edges into it", () => {
    const graph = new FakeGraph();
    graph.nodes.set("ns/Pod/a", pod("ns/Pod", ["app=web"], false));
    const web = selector("ns/Service/web", "ns/Pod", { app: "web" });
    graph.selectors = [web];
    graph.edges.add(edgeId(web, "ns/Pod/a"));
    graph.edges.add(edgeId(web, "ns/Pod/gone"));
    resolveSelections(new Set(["ns/Pod/a", "ns/Pod/gone"]), graph.primitives);
    expect(graph.edges.size).toBe(0);
    expect(graph.calls).not.toContain("selectorsIn");
    expect(graph.calls).not.toContain("createSelected");
  });

  it("collapses exact duplicates only: same type, start, end, properties and owner", () => {
    const graph = new FakeGraph();
    graph.nodes.set("ns/Pod/a", pod("ns/Pod", ["app=web"]));
    const owner = "ns/Service/web";
    const sameTwice = [selector(owner, "ns/Pod", { app: "web" }), selector(owner, "ns/Pod", { app: "web" })];
    const otherProps = selector(owner, "ns/Pod", { app: "web" }, [], { port: 80 });
    const otherOwner = selector("ns/Service/web2", "ns/Pod", { app: "web" }, [], {}, owner);
    const otherText = selector(owner, "ns/Pod", {}, [{ key: "app", operator: "In", values: ["web"] }]);
    graph.selectors = [...sameTwice, otherProps, otherOwner, otherText];
    // Both owners touched, and the pod too: each pair is still found once per selector row.
    resolveSelections(new Set([owner, "ns/Service/web2", "ns/Pod/a"]), graph.primitives);
    expect([...graph.edges].sort()).toEqual([sameTwice[0]!, otherProps, otherOwner, otherText].map((s) => edgeId(s, "ns/Pod/a")).sort());
  });

  it("after random changes, equals the selected edges from scratch, through either driver", async () => {
    for (let seed = 1; seed <= 60; seed++) {
      // Two equal graphs, changed alike: one resolved by each driver.
      const sync = randomGraph(prng(seed));
      const async = randomGraph(prng(seed));
      for (let round = 0; round < 6; round++) {
        const touched = mutate(sync, prng(seed * 100 + round));
        mutate(async, prng(seed * 100 + round));
        resolveSelections(touched, sync.primitives);
        await resolveSelectionsAsync(touched, async.asyncPrimitives);
        const where = `seed ${seed}, round ${round}`;
        expect([...sync.edges].sort(), where).toEqual([...sync.fromScratch()].sort());
        expect([...async.edges].sort(), where).toEqual([...sync.edges].sort());
        expect(async.calls, where).toEqual(sync.calls);
      }
    }
  });
});

const SCOPES = ["a/Pod", "b/Pod"];
const LABELS = ["app=web", "app=db", "tier=front", "tier=back", "legacy=yes"];
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

function randomSelectors(random: () => number, owner: string): StoredSelector[] {
  const out: StoredSelector[] = [];
  const count = Math.floor(random() * 3);
  for (let i = 0; i < count; i++) {
    const scope = pick(random, SCOPES);
    const roll = random();
    if (roll < 0.4) out.push(selector(owner, scope, { app: pick(random, ["web", "db"]) }));
    else if (roll < 0.6) out.push(selector(owner, scope, {}, [{ key: "tier", operator: pick(random, ["In", "NotIn"] as const), values: ["front"] }]));
    else if (roll < 0.75) out.push(selector(owner, scope, {}, [{ key: "legacy", operator: "DoesNotExist", values: [] }], { port: 80 }));
    else out.push(selector(owner, scope, {}));
  }
  return out;
}

/** Objects that are selectable (pods in a scope), selecting (services), or both. */
function randomGraph(random: () => number): FakeGraph {
  const graph = new FakeGraph();
  for (let i = 0; i < 12; i++) {
    const key = `obj-${i}`;
    graph.nodes.set(key, { scope: pick(random, [...SCOPES, null]), observed: random() < 0.8, labels: LABELS.filter(() => random() < 0.4) });
    graph.selectors.push(...randomSelectors(random, key));
  }
  for (const id of graph.fromScratch()) graph.edges.add(id);
  return graph;
}

/** Changes a few objects as ops would (labels, scope, observed, selectors, deletion) and
 *  drops what those ops drop; returns the touched keys. */
function mutate(graph: FakeGraph, random: () => number): Set<string> {
  const touched = new Set<string>();
  const count = 1 + Math.floor(random() * 4);
  for (let i = 0; i < count; i++) {
    const key = `obj-${Math.floor(random() * 14)}`; // sometimes a new key
    touched.add(key);
    graph.selectors = graph.selectors.filter((s) => s.owner !== key);
    if (random() < 0.2) {
      graph.nodes.delete(key);
      continue;
    }
    graph.nodes.set(key, { scope: pick(random, [...SCOPES, null]), observed: random() < 0.85, labels: LABELS.filter(() => random() < 0.4) });
    graph.selectors.push(...randomSelectors(random, key));
  }
  graph.dropEdgesOwnedBy(touched);
  graph.calls.length = 0;
  return touched;
}
