// Findings over time: what appeared and what cleared since the last evaluation, and which
// change caused it (a change to one of the nodes on the finding's path).
import type { Finding } from "./model.js";

export interface FindingChange {
  change: "appeared" | "cleared";
  finding: Finding;
  /** The changes to nodes on the finding's path; empty when none is on it (then the cause
   *  is indirect, e.g. a binding to a group; `others` lists the window's changes). */
  cause: string[];
  others: string[];
}

export const findingId = (f: Finding): string => `${f.rule}\u0000${f.object.key}\u0000${f.message}`;

const MAX_OTHERS = 5;

export class FindingTracker {
  private current = new Map<string, Finding>();

  get findings(): readonly Finding[] {
    return [...this.current.values()];
  }

  /** Replaces the findings; `changes`: graph key → what happened to it since last time. */
  update(findings: readonly Finding[], changes: ReadonlyMap<string, string>): FindingChange[] {
    const next = new Map(findings.map((f) => [findingId(f), f]));
    const others = [...changes.values()].slice(0, MAX_OTHERS);
    if (changes.size > MAX_OTHERS) others.push(`… and ${changes.size - MAX_OTHERS} more`);
    const explain = (change: FindingChange["change"], finding: Finding): FindingChange => {
      const cause = finding.keys.flatMap((k) => (changes.has(k) ? [changes.get(k)!] : []));
      return { change, finding, cause, others: cause.length > 0 ? [] : others };
    };
    const out: FindingChange[] = [];
    for (const [id, f] of next) if (!this.current.has(id)) out.push(explain("appeared", f));
    for (const [id, f] of this.current) if (!next.has(id)) out.push(explain("cleared", f));
    this.current = next;
    return out;
  }

  /** Findings per rule and severity. */
  counts(): Map<string, { rule: string; severity: string; count: number }> {
    const counts = new Map<string, { rule: string; severity: string; count: number }>();
    for (const f of this.current.values()) {
      const key = `${f.rule}\u0000${f.severity}`;
      const entry = counts.get(key) ?? { rule: f.rule, severity: f.severity, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    return counts;
  }
}
