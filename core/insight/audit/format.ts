// The audit's outputs: a table for people, JSON for scripts, and SARIF 2.1.0 for code
// scanning dashboards (each finding a result, located by the object's graph key).
import type { AuditResult } from "./audit.js";
import type { AuditRule, Finding, Severity } from "./model.js";
import { step } from "./model.js";

export function formatTable(result: AuditResult): string {
  if (result.findings.length === 0) return "no findings\n";
  const rows = result.findings.map((f) => [f.severity.toUpperCase(), f.rule, step(f.object), f.message]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), ["SEVERITY", "RULE", "OBJECT"][i]!.length));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join("  ");
  const out = [line(["SEVERITY", "RULE", "OBJECT", "FINDING"])];
  for (const [i, f] of result.findings.entries()) {
    out.push(line(rows[i]!));
    out.push(`${" ".repeat(widths[0]! + 2)}path: ${f.path.join(" ")}`);
  }
  return `${out.join("\n")}\n`;
}

const SARIF_LEVEL: Record<Severity, "error" | "warning" | "note"> = { critical: "error", high: "error", medium: "warning", low: "note", info: "note" };
// GitHub code scanning reads security-severity (0.1–10) to rank findings.
const SECURITY_SEVERITY: Record<Severity, string> = { critical: "9.5", high: "8.0", medium: "5.5", low: "3.0", info: "0.5" };

export function toSarif(result: AuditResult, rules: readonly AuditRule[], tool: { version: string }): object {
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "kube-observer",
            version: tool.version,
            rules: rules.map((r) => ({
              id: r.id,
              name: r.title.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : "")),
              shortDescription: { text: r.title },
              help: { text: r.help },
              defaultConfiguration: { level: SARIF_LEVEL[r.severity] },
              properties: { "security-severity": SECURITY_SEVERITY[r.severity], tags: ["security", "kubernetes"] },
            })),
          },
        },
        results: result.findings.map((f: Finding) => ({
          ruleId: f.rule,
          ruleIndex: rules.findIndex((r) => r.id === f.rule),
          level: SARIF_LEVEL[f.severity],
          message: { text: `${f.message}. Path: ${f.path.join(" ")}` },
          locations: [{ logicalLocations: [{ fullyQualifiedName: f.object.key, name: f.object.name, kind: f.object.label }] }],
          partialFingerprints: { objectKey: `${f.rule}:${f.object.key}:${f.message}` },
        })),
      },
    ],
  };
}
