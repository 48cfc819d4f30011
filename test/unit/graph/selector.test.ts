// Label-selector matching and text (core/graph/selector.ts), and how the dispatcher's
// translation turns a plugin's selectors and reference edges into GraphOp fields.
import { describe, expect, it } from "vitest";
import { labelMap, selectorMatches, selectorText } from "../../../core/graph/selector.js";
import { toGraphOp } from "../../../core/dispatch/translate.js";
import { GraphContractError } from "../../../core/graph/contract.js";
import type { KubeMessage } from "../../../core/messages.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import { definePlugin, type GraphFragment } from "../../../core/plugin/types.js";

const req = (key: string, operator: "In" | "NotIn" | "Exists" | "DoesNotExist", values: string[] = []) => ({ key, operator, values });

describe("selectorMatches", () => {
  const labels = labelMap(["app=web", "tier=front", "empty=", "url=a=b"]);

  it("splits labels at the first '=' and ignores what is not a key=value string", () => {
    expect([...labels]).toEqual([
      ["app", "web"],
      ["tier", "front"],
      ["empty", ""],
      ["url", "a=b"],
    ]);
    expect(labelMap(undefined).size).toBe(0);
    expect(labelMap(["=x", 3, "noequals"]).size).toBe(0);
  });

  it("needs every matchLabel", () => {
    expect(selectorMatches({ matchLabels: { app: "web" }, requirements: [] }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: "web", tier: "back" }, requirements: [] }, labels)).toBe(false);
    expect(selectorMatches({ matchLabels: { url: "a=b", empty: "" }, requirements: [] }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { missing: "" }, requirements: [] }, labels)).toBe(false);
  });

  it("treats an empty selector as matching everything", () => {
    expect(selectorMatches({ matchLabels: {}, requirements: [] }, labelMap([]))).toBe(true);
  });

  it("implements In, NotIn, Exists and DoesNotExist as Kubernetes does", () => {
    const m = (r: ReturnType<typeof req>) => selectorMatches({ matchLabels: {}, requirements: [r] }, labels);
    expect(m(req("tier", "In", ["front", "edge"]))).toBe(true);
    expect(m(req("tier", "In", ["back"]))).toBe(false);
    expect(m(req("missing", "In", ["x"]))).toBe(false);
    expect(m(req("tier", "NotIn", ["back"]))).toBe(true);
    expect(m(req("tier", "NotIn", ["front"]))).toBe(false);
    expect(m(req("missing", "NotIn", ["x"]))).toBe(true); // absent keys satisfy NotIn
    expect(m(req("empty", "Exists"))).toBe(true);
    expect(m(req("missing", "Exists"))).toBe(false);
    expect(m(req("missing", "DoesNotExist"))).toBe(true);
    expect(m(req("app", "DoesNotExist"))).toBe(false);
  });

  it("writes selectors the way kubectl does, in a stable order", () => {
    expect(
      selectorText({
        matchLabels: { tier: "front", app: "web" },
        requirements: [req("z", "In", ["b", "a"]), req("legacy", "DoesNotExist"), req("env", "NotIn", ["test"]), req("app", "Exists")],
      }),
    ).toBe("app=web,tier=front,!legacy,app,env notin (test),z in (a,b)");
    expect(selectorText({ matchLabels: {}, requirements: [] })).toBe("");
  });
});

describe("translating selectors and reference edges", () => {
  const plugin = (fragment: GraphFragment): LoadedPlugin => ({
    file: "/plugins/thing.js",
    builtin: false,
    plugin: definePlugin({
      name: "thing",
      apiVersion: 1,
      resource: { group: "", version: "v1", plural: "things", kind: "Thing", namespaced: true },
      reduce: (o) => o,
      graph: { schema: { labels: ["Thing", "Pod", "Image", "Registry"], relationships: ["SELECTS", "RUNS", "FROM"] }, toGraph: () => fragment },
    }) as LoadedPlugin["plugin"],
  });
  const message: KubeMessage = {
    cluster: "c1",
    namespace: "ns",
    resource: "thing",
    kind: "Thing",
    action: "Applied",
    objectNamespace: "ns",
    uid: "u",
    name: "t",
    resourceVersion: "1",
    observedAt: "now",
    object: {},
  };

  it("gives a selector its target scope, its requirements and its start", () => {
    const op = toGraphOp(
      message,
      plugin({
        selectors: [
          {
            type: "SELECTS",
            label: "Pod",
            namespace: "ns",
            matchLabels: { app: "web" },
            matchExpressions: [{ key: "tier", operator: "In", values: ["a"] }],
            properties: { port: 80, none: null },
          },
        ],
      }),
    );
    expect(op).toMatchObject({
      op: "upsert",
      selectors: [
        {
          type: "SELECTS",
          from: "c1/ns/Thing/t",
          scope: "c1/ns/Pod",
          matchLabels: { app: "web" },
          requirements: [{ key: "tier", operator: "In", values: ["a"] }],
          properties: { port: 80 },
        },
      ],
    });
  });

  it("puts an edge that starts at a reference into links, and keeps the rest as edges", () => {
    const image = { label: "Image", key: "img", properties: {} };
    const registry = { label: "Registry", key: "reg", properties: {} };
    const op = toGraphOp(
      message,
      plugin({
        references: [image, registry],
        edges: [
          { type: "RUNS", to: "img" },
          { type: "FROM", from: "img", to: "reg" },
        ],
      }),
    );
    expect(op).toMatchObject({ edges: [{ type: "RUNS", from: "c1/ns/Thing/t", to: "img" }], links: [{ type: "FROM", from: "img", to: "reg" }] });
  });

  it.each<[string, GraphFragment, RegExp]>([
    ["an undeclared selector type", { selectors: [{ type: "NOPE", label: "Pod", namespace: "ns" }] }, /selector type "NOPE" is not declared/],
    ["an undeclared selector label", { selectors: [{ type: "SELECTS", label: "Node", namespace: null }] }, /label "Node"/],
    ["a selector from a node it does not own", { selectors: [{ type: "SELECTS", from: "elsewhere", label: "Pod", namespace: "ns" }] }, /starts at elsewhere/],
    [
      "an unknown operator",
      { selectors: [{ type: "SELECTS", label: "Pod", namespace: "ns", matchExpressions: [{ key: "a", operator: "Gt" as "In", values: ["1"] }] }] },
      /operator "Gt"/,
    ],
    [
      "In without values",
      { selectors: [{ type: "SELECTS", label: "Pod", namespace: "ns", matchExpressions: [{ key: "a", operator: "In" }] }] },
      /In needs at least one value/,
    ],
    [
      "Exists with values",
      { selectors: [{ type: "SELECTS", label: "Pod", namespace: "ns", matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] }] },
      /Exists takes no values/,
    ],
    [
      "a non-string matchLabel",
      { selectors: [{ type: "SELECTS", label: "Pod", namespace: "ns", matchLabels: { a: 1 as unknown as string } }] },
      /matchLabels.a must be a string/,
    ],
    [
      "a reserved selector edge property",
      { selectors: [{ type: "SELECTS", label: "Pod", namespace: "ns", properties: { selector: "x" } }] },
      /"selector" is managed by the sink/,
    ],
    [
      "a link that ends at the object",
      { references: [{ label: "Image", key: "img" }], edges: [{ type: "FROM", from: "img", to: "c1/ns/Thing/t" }] },
      /starts at the reference img but ends at/,
    ],
  ])("refuses %s", (_what, fragment, error) => {
    expect(() => toGraphOp(message, plugin(fragment))).toThrow(GraphContractError);
    expect(() => toGraphOp(message, plugin(fragment))).toThrow(error);
  });
});
