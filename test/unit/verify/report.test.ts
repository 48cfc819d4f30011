// formatReport / verdict: the table, examples (capped, keys and property names only), verdict.
import { describe, expect, it } from "vitest";
import type { ExportLine } from "../../../core/graph/model.js";
import { compareGraphs } from "../../../core/verify/compare.js";
import { formatReport, verdict } from "../../../core/verify/report.js";
import type { VerifyReport } from "../../../core/verify/verify.js";

const node = (label: string, key: string, properties: Record<string, unknown> = {}): ExportLine => ({
  type: "node",
  labels: [label],
  key,
  properties: { cluster: "a", ...properties },
});

function report(expected: ExportLine[], graph: ExportLine[], extra: Partial<VerifyReport> = {}): VerifyReport {
  const comparison = compareGraphs(expected, graph, { clusters: new Set(["a"]), maxExamples: 3 });
  const r: VerifyReport = {
    ...comparison,
    sink: "sqlite",
    clusters: ["a"],
    scopes: 2,
    objects: expected.length,
    attempts: 1,
    settleSeconds: 0,
    elapsedMs: 5,
    graphReadAtMs: 4,
    previousGraphReadAtMs: null,
    failures: [],
    untranslatable: { count: 0, examples: [] },
    verdict: "",
    ...extra,
  };
  r.equal = extra.equal ?? (comparison.equal && r.untranslatable.count === 0);
  r.verdict = verdict(r);
  return r;
}

const secrets = Array.from({ length: 5 }, (_, i) => node("Secret", `a/ns/Secret/s${i}`, { type: "Opaque" }));

describe("formatReport", () => {
  it("prints a row per label and relationship type, capped examples, and the verdict", () => {
    const expected = [
      ...secrets,
      node("Pod", "a/ns/Pod/web", { image: "x" }),
      { type: "edge", rel: "USES_SECRET", from: "a/ns/Pod/web", to: "a/ns/Secret/s0", properties: { owner: "a/ns/Pod/web" } } as ExportLine,
    ];
    const graph = [node("Pod", "a/ns/Pod/web", { image: "top-secret-value" }), node("Secret", "a/ns/Secret/zombie")];
    const text = formatReport(report(expected, graph));
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^NODE LABEL\s+EXPECTED\s+IN GRAPH\s+MISSING\s+STALE\s+DIFFERENT$/);
    expect(lines[1]).toMatch(/^Pod\s+1\s+1\s+0\s+0\s+1$/);
    expect(lines[2]).toMatch(/^Secret\s+5\s+1\s+5\s+1\s+0$/);
    expect(text).toMatch(/\nRELATIONSHIP\s+EXPECTED\s+IN GRAPH\s+MISSING\s+EXTRA\nUSES_SECRET\s+1\s+0\s+1\s+0\n/);
    expect(text).toContain(
      "  missing Secret: a/ns/Secret/s0\n  missing Secret: a/ns/Secret/s1\n  missing Secret: a/ns/Secret/s2\n  missing Secret: … and 2 more\n",
    );
    expect(text).toContain("  stale Secret: a/ns/Secret/zombie\n");
    expect(text).toContain("  different Pod: a/ns/Pod/web (properties image)\n");
    expect(text).toContain("  missing USES_SECRET: a/ns/Pod/web -> a/ns/Secret/s0\n");
    expect(text).not.toContain("top-secret-value");
    expect(text.trimEnd().split("\n").at(-1)).toBe(
      "graph differs from the cluster: 5 nodes missing, 1 stale node, 1 node different, 1 edge missing (expected 6 nodes, 1 edge)",
    );
  });

  it("says the graph equals the cluster when it does, and what was not compared", () => {
    const text = formatReport(report(secrets, [...secrets, node("Pod", "b/ns/Pod/other", { cluster: "b" })]));
    expect(text).toContain("not compared: 1 graph node and 0 edges outside the configured clusters\n");
    expect(text).not.toContain("examples:");
    expect(text.trimEnd().split("\n").at(-1)).toBe("graph equals the cluster: 5 nodes, 0 edges");
  });

  it("prints only the failure when a scope cannot be listed", () => {
    const failure = {
      cluster: "a",
      namespace: "ns",
      resource: "secret",
      scope: "a/ns/secret",
      kind: "forbidden",
      message: 'cannot list secret in namespace "ns" of cluster "a": forbidden: nope',
    };
    const text = formatReport(report([], [], { failures: [failure], equal: false }));
    expect(text).toBe(`cannot list: ${failure.message}\n\ncould not verify: ${failure.message}\n`);
  });

  it("counts untranslatable objects as a difference", () => {
    const r = report(secrets, secrets, { untranslatable: { count: 1, examples: [{ scope: "a/ns/pod", key: "a/ns/Pod/bad", reason: "reduce threw" }] } });
    expect(r.equal).toBe(false);
    expect(r.verdict).toBe("graph differs from the cluster: 1 object the plugins cannot translate (expected 5 nodes, 0 edges)");
    expect(formatReport(r)).toContain("  untranslatable object: a/ns/Pod/bad (reduce threw)\n");
  });
});
