// Text for a VerifyReport: the verdict line, and the table `verify` prints (one row per
// node label and per relationship type, then examples, then the verdict). Keys,
// labels and property names only: never a property value (Secrets).
import type { EdgeRef } from "./compare.js";
import type { VerifyReport } from "./verify.js";

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The one-line answer. */
export function verdict(report: Omit<VerifyReport, "verdict">): string {
  if (report.failures.length > 0) {
    const first = report.failures[0]!.message;
    return report.failures.length === 1 ? `could not verify: ${first}` : `could not verify: ${report.failures.length} scopes cannot be listed; first: ${first}`;
  }
  const t = report.totals;
  if (report.equal) return `graph equals the cluster: ${plural(t.expectedNodes, "node")}, ${plural(t.expectedEdges, "edge")}`;
  const parts = [
    [t.missingNodes, plural(t.missingNodes, "node") + " missing"],
    [t.staleNodes, plural(t.staleNodes, "stale node")],
    [t.differentNodes, plural(t.differentNodes, "node") + " different"],
    [t.missingEdges, plural(t.missingEdges, "edge") + " missing"],
    [t.extraEdges, plural(t.extraEdges, "extra edge")],
    [report.untranslatable.count, plural(report.untranslatable.count, "object") + " the plugins cannot translate"],
  ] as const;
  const what = parts.filter(([n]) => n > 0).map(([, text]) => text);
  return `graph differs from the cluster: ${what.join(", ")} (expected ${plural(t.expectedNodes, "node")}, ${plural(t.expectedEdges, "edge")})`;
}

/** Columns after the first are numbers: right-aligned. */
function table(header: string[], rows: Array<Array<string | number>>): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) =>
    c
      .map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

function edgeText(e: EdgeRef): string {
  return `${e.from} -> ${e.to}${e.owner !== null && e.owner !== e.from ? ` (owner ${e.owner})` : ""}`;
}

/** The examples of one cell, and how many more there are. */
function exampleLines(what: string, name: string, count: number, shown: string[]): string[] {
  if (count === 0) return [];
  const lines = shown.map((text) => `  ${what} ${name}: ${text}`);
  if (count > shown.length) lines.push(`  ${what} ${name}: … and ${count - shown.length} more`);
  return lines;
}

export function formatReport(report: VerifyReport): string {
  const out: string[] = [];
  if (report.failures.length > 0) {
    for (const f of report.failures) out.push(`cannot list: ${f.message}`);
    out.push("", report.verdict);
    return `${out.join("\n")}\n`;
  }
  out.push(
    ...table(
      ["NODE LABEL", "EXPECTED", "IN GRAPH", "MISSING", "STALE", "DIFFERENT"],
      report.nodes.map((r) => [r.label, r.expected, r.inGraph, r.missing, r.stale, r.different]),
    ),
  );
  out.push("");
  out.push(
    ...table(
      ["RELATIONSHIP", "EXPECTED", "IN GRAPH", "MISSING", "EXTRA"],
      report.edges.map((r) => [r.rel, r.expected, r.inGraph, r.missing, r.extra]),
    ),
  );
  const examples: string[] = [];
  for (const r of report.nodes) {
    examples.push(...exampleLines("missing", r.label, r.missing, r.examples.missing));
    examples.push(...exampleLines("stale", r.label, r.stale, r.examples.stale));
    examples.push(
      ...exampleLines(
        "different",
        r.label,
        r.different,
        r.examples.different.map((d) => {
          const what = [
            ...(d.labels ? [`labels ${d.labels.graph.join(",")} instead of ${d.labels.expected.join(",")}`] : []),
            ...(d.properties.length ? [`properties ${d.properties.join(", ")}`] : []),
          ];
          return `${d.key} (${what.join("; ")})`;
        }),
      ),
    );
  }
  for (const r of report.edges) {
    examples.push(...exampleLines("missing", r.rel, r.missing, r.examples.missing.map(edgeText)));
    examples.push(...exampleLines("extra", r.rel, r.extra, r.examples.extra.map(edgeText)));
  }
  examples.push(
    ...exampleLines(
      "untranslatable",
      "object",
      report.untranslatable.count,
      report.untranslatable.examples.map((u) => `${u.key} (${u.reason})`),
    ),
  );
  if (examples.length > 0) out.push("", "examples:", ...examples);
  out.push("");
  if (report.ignored.nodes > 0 || report.ignored.edges > 0) {
    out.push(`not compared: ${plural(report.ignored.nodes, "graph node")} and ${plural(report.ignored.edges, "edge")} outside the configured clusters`);
  }
  const looks = report.attempts > 1 ? `; ${report.attempts} looks in ${(report.elapsedMs / 1000).toFixed(1)} s` : "";
  out.push(`${plural(report.scopes, "scope")} listed, ${plural(report.objects, "object")}, ${report.sink} graph${looks}`);
  out.push(report.verdict);
  return `${out.join("\n")}\n`;
}
