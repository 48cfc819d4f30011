// What appeared and cleared between two evaluations, and the change that caused each.
import { describe, expect, it } from "vitest";
import type { Finding } from "../../../core/insight/audit/model.js";
import { FindingTracker } from "../../../core/insight/audit/tracker.js";

const f = (rule: string, key: string, keys: string[] = [key]): Finding => ({
  rule,
  severity: "high",
  object: { label: "Pod", key, namespace: "ns", name: key, observed: true },
  message: `${rule} on ${key}`,
  path: [],
  keys,
});

describe("FindingTracker", () => {
  it("reports appeared and cleared findings once, with the changes on their path as the cause", () => {
    const t = new FindingTracker();
    expect(t.update([f("A", "p1")], new Map()).map((c) => [c.change, c.finding.object.key])).toEqual([["appeared", "p1"]]);
    expect(t.update([f("A", "p1")], new Map([["p1", "Applied Pod ns/p1"]]))).toEqual([]);
    const next = t.update([f("A", "p1"), f("B", "p2", ["p2", "binding"])], new Map([["binding", "Applied ClusterRoleBinding b"]]));
    expect(next).toEqual([{ change: "appeared", finding: f("B", "p2", ["p2", "binding"]), cause: ["Applied ClusterRoleBinding b"], others: [] }]);
    const cleared = t.update([f("B", "p2", ["p2", "binding"])], new Map([["other", "Applied Secret ns/x"]]));
    // Nothing on its path changed: the window's changes are listed instead.
    expect(cleared).toEqual([{ change: "cleared", finding: f("A", "p1"), cause: [], others: ["Applied Secret ns/x"] }]);
    expect([...t.counts().values()]).toEqual([{ rule: "B", severity: "high", count: 1 }]);
  });
});
