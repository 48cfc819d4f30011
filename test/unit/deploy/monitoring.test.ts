// The dashboard and the alerts ask only for metrics the agent exports, with labels those
// metrics have (plus namespace and pod, which Prometheus adds when it scrapes a pod), and
// for phases and outcomes the agent reports. promtool checks and unit-tests the rules in
// test/integration/deploy/promtool.test.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AgentMetrics } from "../../../core/ops/metrics.js";

const root = join(import.meta.dirname, "../../..");
const SCRAPE_LABELS = new Set(["namespace", "pod", "le", "job", "instance"]);
const PHASES = ["starting", "listing", "watching", "backing-off", "forbidden", "not-served", "stopped", "failed"];

interface Exported {
  labels: Set<string>;
  type: string;
}

async function exported(): Promise<Map<string, Exported>> {
  const m = new AgentMetrics();
  m.setSources({ phases: () => ({}), wal: () => undefined, synced: () => true });
  const out = new Map<string, Exported>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    const labels = new Set<string>();
    for (const v of metric.values) for (const k of Object.keys(v.labels)) labels.add(k);
    // Labels declared but not yet seen (a counter nobody incremented).
    for (const k of (m.registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? []) labels.add(k);
    const names = metric.type === ("histogram" as typeof metric.type) ? ["_bucket", "_count", "_sum"].map((s) => metric.name + s) : [metric.name];
    for (const name of names) out.set(name, { labels, type: String(metric.type) });
  }
  return out;
}

/** Every `metric{label="..."...}` or bare `metric` in a PromQL expression. */
function selectors(expr: string): Array<{ name: string; matchers: Array<[string, string]> }> {
  const found: Array<{ name: string; matchers: Array<[string, string]> }> = [];
  for (const m of expr.matchAll(/(kube_observer_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
    const matchers = [...(m[3] ?? "").matchAll(/([a-z_]+)\s*(?:=~|!=|=)\s*"([^"]*)"/g)].map((x) => [x[1]!, x[2]!] as [string, string]);
    found.push({ name: m[1]!, matchers });
  }
  return found;
}

function dashboardExprs(): string[] {
  const dashboard = JSON.parse(readFileSync(join(root, "deploy/monitoring/grafana-dashboard.json"), "utf8")) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
  };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

function alertExprs(): Array<{ alert: string; expr: string }> {
  const rules = parse(readFileSync(join(root, "deploy/monitoring/alerts.yaml"), "utf8")) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  return rules.groups.flatMap((g) => g.rules);
}

describe("deploy/monitoring", () => {
  it("asks only for exported metrics, by their labels and values", async () => {
    const metrics = await exported();
    const exprs = [...dashboardExprs(), ...alertExprs().map((r) => r.expr)];
    expect(exprs.length).toBeGreaterThan(20);
    for (const expr of exprs) {
      const found = selectors(expr);
      expect(found.length, expr).toBeGreaterThan(0);
      for (const { name, matchers } of found) {
        const metric = metrics.get(name);
        expect(metric, `${name} in ${expr}`).toBeDefined();
        for (const [label, value] of matchers) {
          if (SCRAPE_LABELS.has(label)) continue;
          expect([...metric!.labels], `${name}{${label}} in ${expr}`).toContain(label);
          if (label === "phase" && !value.includes("$")) expect(PHASES, expr).toContain(value);
          if (label === "outcome") expect(["committed", "failed", "refused", "parked"], expr).toContain(value);
        }
      }
    }
  });

  it("covers what an operator watches: phases, lag, WAL, parked, sink latency and errors, relists, memory", () => {
    const all = dashboardExprs().join("\n");
    for (const name of [
      "kube_observer_observers",
      "kube_observer_wal_oldest_unacked_seconds",
      "kube_observer_wal_depth",
      "kube_observer_wal_parked",
      "kube_observer_sink_batch_seconds_bucket",
      "kube_observer_errors_total",
      "kube_observer_relists_total",
      "kube_observer_watch_restarts_total",
      "kube_observer_process_resident_memory_bytes",
    ])
      expect(all, name).toContain(name);
    expect(alertExprs().map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        "KubeObserverGraphLagging",
        "KubeObserverSinkFailing",
        "KubeObserverMessagesParked",
        "KubeObserverScopesForbidden",
        "KubeObserverObserversBackingOff",
      ]),
    );
  });
});
