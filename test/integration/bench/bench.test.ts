// Keeps `npm run bench` runnable: the tiny tier XS through the same code path (set-up,
// baseline, initial sync, idle, churn, watch topology, report), SQLite sink only. Not a
// timing test: it checks that the result file has every field, with sane values.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BenchResult } from "../../../bench/report.js";
import { TIERS } from "../../../bench/tiers.js";
import { repoRoot } from "../../support/agent.js";

function runBench(args: string[], script = "dist/bench/run.js"): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [join(repoRoot, script), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.on("exit", (code) => resolveRun({ code, output }));
  });
}

const positive = (n: number): void => {
  expect(Number.isFinite(n)).toBe(true);
  expect(n).toBeGreaterThan(0);
};

describe("node dist/bench/history-sinks.js", () => {
  it("times the embedded graph with history on and off and writes its table", async () => {
    const out = mkdtempSync(join(tmpdir(), "kube-observer-history-sinks-"));
    const { code, output } = await runBench(["--tier", "XS", "--pairs", "1", "--sink", "sqlite", "--out", out], "dist/bench/history-sinks.js");
    expect(code, output).toBe(0);
    const md = readFileSync(join(out, "history-sinks-XS.md"), "utf8");
    // One run each way, and both measures with a number on each side.
    expect(md).toMatch(/\| sqlite \| initial sync, inside sink\.apply \| [\d.]+ s \| [\d.]+ s \| [+-][\d.]+ % \|/);
    expect(md).toMatch(/\| sqlite \| a batch of 10 pod changes, p50 \| [\d.]+ ms \| [\d.]+ ms \| [+-][\d.]+ % \|/);
    expect(md).toContain("Machine: ");
  });
});

describe("npm run bench", () => {
  it("runs tier XS end to end and writes a complete result file", async () => {
    const out = mkdtempSync(join(tmpdir(), "kube-observer-bench-results-"));
    const { code, output } = await runBench(["--tier", "XS", "--sink", "sqlite", "--out", out, "--cleanup"]);
    expect(code, output).toBe(0);
    const json = join(out, "XS-sqlite.json");
    expect(existsSync(json), output).toBe(true);
    expect(readFileSync(join(out, "XS-sqlite.md"), "utf8")).toContain("## Initial sync");
    const r = JSON.parse(readFileSync(json, "utf8")) as BenchResult;
    const tier = TIERS.XS;

    expect(r).toMatchObject({ schemaVersion: 1, tier: "XS", sinks: "sqlite" });
    expect(r.machine.cores).toBeGreaterThan(0);
    positive(r.machine.memoryBytes);
    expect(r.machine.node).toMatch(/^\d+\./);
    expect(r.versions.kubeApiserver).toMatch(/^v1\.\d+/);
    positive(r.wallSeconds);

    // Every object of the tier listed (plus each namespace's default ServiceAccount and
    // kube-root-ca.crt ConfigMap).
    expect(r.objects.listed).toEqual(r.objects.expected);
    expect(r.objects.listed.pod).toBe(tier.pods);
    for (const run of [r.baseline.perNamespace, r.baseline.clusterWide]) {
      positive(run.seconds);
      positive(run.requests);
    }
    expect(r.baseline.perNamespace.objects).toBe(r.objects.total);

    const s = r.results.sqlite!;
    expect(s.sync.complete, s.sync.completenessProblems.join("; ")).toBe(true);
    for (const v of [
      s.sync.seconds,
      s.sync.startupSeconds,
      s.sync.listedSeconds,
      s.sync.ratioToBaseline,
      s.sync.ratioToClusterWideBaseline,
      s.sync.cpuSeconds,
      s.sync.cpuSecondsPer1000Objects,
    ])
      positive(v);
    expect(s.sync.seconds).toBeGreaterThanOrEqual(s.sync.listedSeconds);
    expect(s.sync.discoverySeconds).toBeGreaterThanOrEqual(0);
    expect(s.sync.workerStartSeconds).toBeGreaterThanOrEqual(0);
    // The default topology: one cluster-wide observer per resource.
    expect(s.sync.observers).toBe(5);
    expect(s.sync.objects).toBeGreaterThanOrEqual(r.objects.total);
    expect(s.sync.messagesCommitted).toBeGreaterThanOrEqual(s.sync.objects);
    positive(s.sync.walBytesWritten ?? Number.NaN);
    expect(s.sync.walMessagesWritten).toBeGreaterThanOrEqual(s.sync.messagesCommitted);
    expect(s.sync.peakWalDepth).toBeGreaterThanOrEqual(0);
    expect(s.sync.rowsWritten.nodes).toBeGreaterThanOrEqual(r.objects.total);
    expect(s.sync.rowsWritten.edges).toBeGreaterThan(0);
    expect(s.sync.rowsWritten.total).toBeGreaterThan(s.sync.rowsWritten.nodes);
    expect("error" in s.sync.graph).toBe(false);

    positive(s.memory.peakRssBytes);
    positive(s.memory.steadyRssBytes);
    expect(s.memory.peakRssBytes).toBeGreaterThanOrEqual(s.memory.steadyRssBytes);
    expect(s.memory.threads).toBeGreaterThan(2);
    expect(s.idle.cpuPercentOfCore).toBeGreaterThanOrEqual(0);
    expect(s.idle.cpuPercentOfCore).toBeLessThan(200);

    expect(s.churn?.steps.map((x) => x.targetRate)).toEqual(tier.churnRates);
    for (const step of s.churn!.steps) {
      positive(step.achievedRate);
      expect(step.writesFailed).toBe(0);
      // Every change the load generator made reached the graph.
      expect(step.unconfirmed).toBe(0);
      expect(step.latencyMs.count).toBe(step.writesOk);
      expect(step.latencyMs.p50).toBeLessThanOrEqual(step.latencyMs.p99);
      expect(step.latencyMs.p99).toBeLessThanOrEqual(step.latencyMs.max);
      expect(step.watchLatencyMs?.count).toBe(step.writesOk);
      expect(step.agentCpuPercent).toBeGreaterThanOrEqual(0);
      expect(Object.values(step.byOp).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }

    expect(r.topology?.modes.map((m) => m.mode)).toEqual(["per-namespace", "cluster-wide"]);
    const [per, wide] = r.topology!.modes;
    expect(per!.observers).toBeGreaterThanOrEqual(tier.topologyNamespaces * 5);
    expect(wide!.observers).toBe(5);
    for (const m of r.topology!.modes) {
      positive(m.syncSeconds);
      positive(m.sockets);
      positive(m.agentRssBytes);
      positive(m.apiserverRssBytes);
      expect(m.churn?.unconfirmed).toBe(0);
    }
    // One socket per watch: per-namespace holds far more.
    expect(per!.sockets).toBeGreaterThan(wide!.sockets);

    expect(r.targets.length).toBeGreaterThan(0);
    expect(Object.keys(r.phaseSeconds)).toEqual(expect.arrayContaining(["setup", "baseline", "topology"]));
  }, 300_000);
});
