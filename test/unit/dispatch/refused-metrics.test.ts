// The dispatcher's metrics for refused rows, as /metrics shows them.
import { describe, expect, it } from "vitest";
import { AgentMetrics } from "../../../core/ops/metrics.js";

describe("AgentMetrics for rows the sink refuses", () => {
  it("counts refused batches, and messages parked by the sink apart from those a plugin could not translate", async () => {
    const m = new AgentMetrics();
    m.setSources({ wal: () => ({ depth: 0, bytes: 0, oldestObservedAt: null, parked: 3 }) });
    m.sinkRefused("neo4j", 0.01);
    m.parked("neo4j", "rolebinding", "sink");
    m.parked("neo4j", "broken", "plugin");
    m.parked("neo4j", "broken");
    const { body } = await m.text();
    expect(body).toContain('kube_observer_sink_batch_seconds_count{sink="neo4j",outcome="refused"} 1');
    expect(body).toContain('kube_observer_errors_total{where="sink-refused",kind="rolebinding"} 1');
    expect(body).toContain('kube_observer_errors_total{where="plugin",kind="broken"} 2');
    expect(body).toContain('kube_observer_sink_messages_total{sink="neo4j",outcome="parked"} 3');
    expect(body).toContain("kube_observer_wal_parked 3");
  });

  it("counts objects over the plugin time budget per plugin, beside the plugin park", async () => {
    const m = new AgentMetrics();
    m.pluginOverrun("loop");
    m.pluginOverrun("loop");
    m.parked("sqlite", "loop", "plugin");
    const { body } = await m.text();
    expect(body).toContain('kube_observer_plugin_budget_exceeded_total{plugin="loop"} 2');
    expect(body).toContain('kube_observer_errors_total{where="plugin",kind="loop"} 1');
  });
});
