// Runs the rules over one view of the graph. A rule that throws is reported as such and the
// others still run: one bad rule must not hide every other finding.
import { SEVERITIES, type AuditOptions, type AuditRule, type AuditView, type Finding, type Severity } from "./model.js";

export interface AuditResult {
  findings: Finding[];
  /** Rules that threw, with the error. */
  failedRules: Array<{ rule: string; error: string }>;
}

const rank = (s: Severity): number => SEVERITIES.indexOf(s);

export function compareFindings(a: Finding, b: Finding): number {
  return (
    rank(a.severity) - rank(b.severity) ||
    (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0) ||
    (a.object.key < b.object.key ? -1 : a.object.key > b.object.key ? 1 : 0) ||
    (a.message < b.message ? -1 : a.message > b.message ? 1 : 0)
  );
}

export function runAudit(view: AuditView, rules: readonly AuditRule[], options: AuditOptions): AuditResult {
  const findings: Finding[] = [];
  const failedRules: AuditResult["failedRules"] = [];
  for (const rule of rules) {
    try {
      findings.push(...rule.find(view, options));
    } catch (error) {
      failedRules.push({ rule: rule.id, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { findings: findings.sort(compareFindings), failedRules };
}

/** At least as severe as `floor`. */
export function atLeast(severity: Severity, floor: Severity): boolean {
  return rank(severity) <= rank(floor);
}
