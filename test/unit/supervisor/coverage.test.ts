// Which graph scopes the running observers cover (a scope no observer covers, written
// before, is swept at start-up).
import { describe, expect, it } from "vitest";
import { scopeCluster, scopeIsObserved, type ObservedScope } from "../../../core/supervisor/coverage.js";

const observed: ObservedScope[] = [
  { cluster: "c1", namespace: "shop", label: "Secret", clusterWide: false },
  { cluster: "c1", namespace: null, label: "Pod", clusterWide: true },
  { cluster: "c1", namespace: null, label: "Node", clusterWide: false },
];

describe("scopeIsObserved", () => {
  it("matches a per-namespace observer's own scope only", () => {
    expect(scopeIsObserved("c1/shop/Secret", observed)).toBe(true);
    expect(scopeIsObserved("c1/billing/Secret", observed)).toBe(false);
    expect(scopeIsObserved("c2/shop/Secret", observed)).toBe(false);
  });

  it("counts every namespace's scope as covered by a cluster-wide observer (its own sweep keeps them right)", () => {
    expect(scopeIsObserved("c1/anything/Pod", observed)).toBe(true);
    expect(scopeIsObserved("c1//Pod", observed)).toBe(false);
  });

  it("matches cluster-scoped observers by their empty namespace", () => {
    expect(scopeIsObserved("c1//Node", observed)).toBe(true);
    expect(scopeIsObserved("c1/shop/Node", observed)).toBe(false);
    expect(scopeIsObserved("c1//ConfigMap", observed)).toBe(false);
  });

  it("reads a scope's cluster", () => {
    expect(scopeCluster("c1/shop/Secret")).toBe("c1");
  });
});
