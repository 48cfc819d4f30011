// AgentMetrics: counters move by what changed between two statuses of one observer, and
// the scrape-time gauges read their sources.
import { describe, expect, it } from "vitest";
import { AgentMetrics } from "../../../core/ops/metrics.js";
import type { ObserverStatus } from "../../../core/observer/observer.js";

const status = (over: Partial<ObserverStatus>): ObserverStatus => ({ phase: "watching", objects: 0, synced: true, relists: 0, watchRestarts: 0, ...over });
const value = async (m: AgentMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
  const metric = await m.registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l) && Object.keys(v.labels).length === Object.keys(labels).length)
    ?.value;
};
const who = { cluster: "c", resource: "pod" };

describe("AgentMetrics", () => {
  it("adds the relists and watch restarts an observer reports since its previous status", async () => {
    const m = new AgentMetrics();
    m.observerStatus(who, undefined, status({ watchRestarts: 2 }));
    m.observerStatus(who, status({ watchRestarts: 2 }), status({ watchRestarts: 3, relists: 1 }));
    // A new incarnation starts from zero again: nothing is subtracted.
    m.observerStatus(who, status({ watchRestarts: 3, relists: 1 }), status({ watchRestarts: 0 }));
    expect(await value(m, "kube_observer_watch_restarts_total", who)).toBe(3);
    expect(await value(m, "kube_observer_relists_total", who)).toBe(1);
  });

  it("counts one observer error per failed attempt, by kind", async () => {
    const m = new AgentMetrics();
    const failing = (failures: number) => status({ phase: "forbidden", errorKind: "forbidden", failures });
    m.observerStatus(who, status({}), failing(1));
    m.observerStatus(who, failing(1), failing(2));
    m.observerStatus(who, failing(2), failing(2)); // the same attempt reported again
    m.observerStatus(who, failing(2), status({ phase: "backing-off", errorKind: "network", failures: 1 }));
    expect(await value(m, "kube_observer_errors_total", { where: "observer", kind: "forbidden" })).toBe(2);
    expect(await value(m, "kube_observer_errors_total", { where: "observer", kind: "network" })).toBe(1);
  });

  it("reads observers per phase and the WAL at scrape time", async () => {
    const m = new AgentMetrics();
    m.setSources({
      phases: () => ({ watching: 5, forbidden: 1 }),
      wal: () => ({ depth: 7, bytes: 700, oldestObservedAt: new Date(Date.now() - 10_000).toISOString(), parked: 2 }),
      synced: () => true,
    });
    expect(await value(m, "kube_observer_observers", { phase: "watching" })).toBe(5);
    expect(await value(m, "kube_observer_observers", { phase: "listing" })).toBe(0);
    expect(await value(m, "kube_observer_wal_depth")).toBe(7);
    expect(await value(m, "kube_observer_wal_parked")).toBe(2);
    const age = (await value(m, "kube_observer_wal_oldest_unacked_seconds"))!;
    expect(age).toBeGreaterThanOrEqual(10);
    expect(age).toBeLessThan(60);
    expect(await value(m, "kube_observer_initial_sync_complete")).toBe(1);
  });
});
