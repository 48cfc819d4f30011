// `npm run bench -- --ops-load`: the ops endpoints under a bounded loopback load while the
// WAL is deep and the sink is down (issue 14 §6). The agent's own parts: a real WAL
// file holding --ops-messages messages, AgentMetrics reading its status, the OpsServer
// with /healthz, /readyz (a sink that refuses) and /metrics. Baseline in the same run: the
// same load with an empty WAL. Also timed: the count the WAL status used to run per scrape.
import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { KubeMessage } from "../core/messages.js";
import { AgentMetrics } from "../core/ops/metrics.js";
import { addHealthRoutes, OpsServer } from "../core/ops/http-server.js";
import { Wal } from "../core/wal/wal.js";
import { machineFacts, type MachineFacts } from "./machine.js";

export interface LatencySummary {
  path: string;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failed: number;
}

export interface OpsLoadReport {
  kind: "ops-load";
  command: string;
  startedAt: string;
  machine: MachineFacts;
  messages: number;
  requestsPerPath: number;
  concurrency: number;
  /** The empty WAL (baseline) and the deep one. */
  runs: Array<{ walMessages: number; walBytes: number; latencies: LatencySummary[] }>;
  /** What one scrape used to cost: the full count of the deep WAL's table. */
  oldStatusQueryMs: number;
}

function message(i: number): KubeMessage {
  return {
    cluster: "bench",
    namespace: `ns-${i % 500}`,
    resource: "configmap",
    kind: "ConfigMap",
    action: "Applied",
    objectNamespace: `ns-${i % 500}`,
    uid: `uid-${i}`,
    name: `cm-${i}`,
    resourceVersion: String(i),
    observedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)).toISOString(),
    object: { metadata: { labels: { app: `a${i % 7}` }, annotations: {} }, keys: ["a", "b"] },
  };
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** `requests` GETs of `path`, at most `concurrency` at once. */
async function load(port: number, path: string, requests: number, concurrency: number): Promise<LatencySummary> {
  const times: number[] = [];
  let failed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next += 1;
      const started = performance.now();
      const status = await get(port, path).catch(() => 0);
      times.push(performance.now() - started);
      // /readyz answers 503 by design here (the sink is down): a failure is no answer.
      if (status === 0) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  times.sort((a, b) => a - b);
  const round = (ms: number): number => Math.round(ms * 100) / 100;
  return { path, requests, p50Ms: round(percentile(times, 50)), p99Ms: round(percentile(times, 99)), maxMs: round(times.at(-1) ?? 0), failed };
}

async function measure(wal: Wal, requests: number, concurrency: number): Promise<LatencySummary[]> {
  const log = pino({ level: "silent" });
  const metrics = new AgentMetrics();
  metrics.setSources({ phases: () => ({}), synced: () => true, wal: () => wal.status() });
  // The sink is down: every check answers "no" after a refused connection's few ms.
  const sinkPing = async (): Promise<boolean> => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return false;
  };
  const server = addHealthRoutes(new OpsServer(log), { synced: () => true, sinkPing }).route("/metrics", async () => ({
    status: 200,
    ...(await metrics.text()),
  }));
  const address = await server.listen({ host: "127.0.0.1", port: 0 });
  try {
    const results: LatencySummary[] = [];
    for (const path of ["/healthz", "/readyz", "/metrics"]) results.push(await load(address.port, path, requests, concurrency));
    return results;
  } finally {
    await server.close();
  }
}

export async function opsLoadMain(options: {
  messages: number;
  requests: number;
  concurrency: number;
  out: string;
  say: (line: string) => void;
}): Promise<void> {
  const loadAtStart = loadavg();
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), "kube-observer-ops-load-"));
  try {
    const runs: OpsLoadReport["runs"] = [];
    const empty = new Wal(join(dir, "empty.sqlite"));
    // Warm-up (JIT, sockets), not reported.
    await measure(empty, Math.min(500, options.requests), options.concurrency);
    runs.push({ walMessages: 0, walBytes: 0, latencies: await measure(empty, options.requests, options.concurrency) });
    empty.close();
    const deepPath = join(dir, "deep.sqlite");
    const deep = new Wal(deepPath);
    for (let i = 0; i < options.messages; i += 5_000) deep.append(Array.from({ length: Math.min(5_000, options.messages - i) }, (_, j) => message(i + j)));
    const status = deep.status();
    options.say(`WAL filled: ${status.depth} messages, ${(status.bytes / 1e6).toFixed(1)} MB`);
    runs.push({ walMessages: status.depth, walBytes: status.bytes, latencies: await measure(deep, options.requests, options.concurrency) });
    deep.close();
    const probe = new Database(deepPath, { readonly: true });
    const started = performance.now();
    probe.prepare("SELECT count(*) AS n, sum(bytes) AS bytes, min(observed_at) AS oldest FROM messages").get();
    const oldStatusQueryMs = Math.round((performance.now() - started) * 100) / 100;
    probe.close();
    const report: OpsLoadReport = {
      kind: "ops-load",
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
      startedAt: startedAt.toISOString(),
      machine: machineFacts(loadAtStart),
      messages: options.messages,
      requestsPerPath: options.requests,
      concurrency: options.concurrency,
      runs,
      oldStatusQueryMs,
    };
    mkdirSync(options.out, { recursive: true });
    const base = join(options.out, "ops-load");
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, renderOpsLoad(report));
    process.stdout.write(`${renderOpsLoad(report)}\n`);
    options.say(`wrote ${base}.json and ${base}.md`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function renderOpsLoad(r: OpsLoadReport): string {
  const m = r.machine;
  const lines = [
    "# Ops endpoints under load: a deep WAL, the sink down",
    "",
    `\`${r.command}\`, ${r.startedAt}.`,
    "",
    `Machine: ${m.cores} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; load average ${m.loadAverageAtStart.map((x) => x.toFixed(2)).join("/")} at start, ${m.loadAverageAtEnd.map((x) => x.toFixed(2)).join("/")} at end.`,
    "",
    `${r.requestsPerPath} GETs per path over loopback, ${r.concurrency} at a time, against the agent's OpsServer and metrics reading a real WAL; the sink answers no (a refused connection). Baseline: the same load with an empty WAL.`,
    "",
    "| WAL | path | p50 | p99 | max | no answer |",
    "|---|---|---|---|---|---|",
  ];
  for (const run of r.runs) {
    const wal = run.walMessages === 0 ? "empty (baseline)" : `${run.walMessages.toLocaleString("en-US")} messages, ${(run.walBytes / 1e6).toFixed(1)} MB`;
    for (const l of run.latencies) lines.push(`| ${wal} | \`${l.path}\` | ${l.p50Ms} ms | ${l.p99Ms} ms | ${l.maxMs} ms | ${l.failed} |`);
  }
  lines.push(
    "",
    `What a scrape used to cost on the deep WAL, per WAL gauge read: the full count \`SELECT count(*), sum(bytes), min(observed_at) FROM messages\` took ${r.oldStatusQueryMs} ms (now the counts are kept; the oldest is the queue's head).`,
    "",
  );
  return lines.join("\n");
}
