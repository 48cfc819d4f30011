// The sink-only bench stays runnable and measures what it says: tier XS's stream, reduced
// through the real plugins, replayed into the embedded graph, gives one observed node per
// object, and the report names the machine, the baseline and the targets.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderSinkOnly, SINK_ONLY_TARGETS, type SinkOnlyReport } from "../../../bench/sink-only-report.js";
import { runSinkOnly } from "../../../bench/sink-only.js";
import { countRows, opBatches, tierMessages } from "../../../bench/sink-stream.js";
import { TIERS } from "../../../bench/tiers.js";
import { loadPlugins } from "../../../core/plugin/registry.js";

describe("sink-only bench", () => {
  it("generates the tier's stream: every object once, each list closed by its relist boundary", async () => {
    const { plugins } = await loadPlugins([]);
    const tier = TIERS.XS;
    const messages = tierMessages(tier, plugins);
    const applied = messages.filter((m) => m.action === "Applied");
    expect(applied).toHaveLength(
      tier.pods + tier.configmaps + tier.secrets + 2 /* a ServiceAccount and a PVC per namespace at least */ + tier.serviceaccounts + tier.pvcs - 2,
    );
    expect(
      messages
        .filter((m) => m.action === "Restarted")
        .map((m) => m.resource)
        .sort(),
    ).toEqual(["configmap", "persistentvolumeclaim", "pod", "secret", "serviceaccount"]);
    // Secret values never reach a message, as in the observer.
    expect(JSON.stringify(messages)).not.toContain(Buffer.from("secret-0000-").toString("base64").slice(0, 12));
    const rows = countRows(opBatches(messages, plugins));
    expect(rows.ops).toBe(messages.length);
    expect(rows.nodes).toBe(applied.length);
    expect(rows.edges).toBeGreaterThan(rows.nodes);
  });

  it("replays it into the SQLite sink and reports against the baseline and the target", async () => {
    const { results, messages } = await runSinkOnly({
      tier: TIERS.XS,
      sinks: ["sqlite"],
      workDir: mkdtempSync(join(tmpdir(), "ko-sink-only-")),
      say: () => undefined,
    });
    const [r] = results;
    expect(r!.graph.nodes).toBeGreaterThan(r!.rowKinds.nodes);
    expect(r!.statements).toBeGreaterThan(r!.ops);
    // One INSERT per row, plus BEGIN and COMMIT per batch.
    expect(r!.baseline.statements).toBe(r!.rows + 2 * r!.batches);
    expect(r!.rowsPerSecond).toBeGreaterThan(0);
    const report: SinkOnlyReport = {
      kind: "sink-only",
      tier: "XS",
      command: "test",
      startedAt: new Date().toISOString(),
      wallSeconds: 1,
      machine: {
        cores: 2,
        cpuModel: "test cpu",
        memoryBytes: 2 ** 30,
        node: "20",
        platform: "linux",
        kernel: "6",
        loadAverageAtStart: [0, 0, 0],
        loadAverageAtEnd: [0, 0, 0],
      },
      versions: { sqlite: "SQLite 3", neo4j: null },
      messages,
      generateSeconds: 0,
      results,
      targets: [{ sink: "sqlite", target: SINK_ONLY_TARGETS.sqlite, measured: r!.rowsPerSecond, met: false }],
    };
    const text = renderSinkOnly(report);
    expect(text).toContain("2 × test cpu");
    expect(text).toContain("sqlite ≥ 150,000 rows/s");
    expect(text).toContain("Where the time inside the sqlite sink goes");
  });
});
