// The soak's results: one record per injected fault, a row per fault kind (injected,
// converged, worst convergence, lost, duplicates, stale), the targets, and the machine.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MachineFacts } from "../machine.js";
import type { Convergence } from "./converge.js";
import type { FaultKind } from "./faults.js";

export interface FaultRecord {
  kind: FaultKind;
  injectedAt: string;
  note: string;
  /** From the fault's clearing to the moment the look that found the graph equal read
   *  it (an upper bound), or to the end of the last look when it never did. */
  convergeMs: number;
  /** From the fault's clearing to the read of the look before, which found the graph
   *  different (0 when the first look was equal): the graph became equal after this. */
  convergeAfterMs: number;
  convergence: Convergence;
  /** The agent died by itself during or after the fault (and was started again). */
  agentDeaths: string[];
}

export interface KindRow {
  kind: FaultKind;
  injected: number;
  converged: number;
  worstConvergeMs: number;
  lost: number;
  duplicates: number;
  stale: number;
  agentDeaths: number;
}

export interface SoakResult {
  startedAt: string;
  minutes: number;
  sink: "sqlite" | "neo4j";
  tier: string;
  objects: number;
  churnRate: number;
  churnWrites: { ok: number; failed: number };
  faults: FaultRecord[];
  rows: KindRow[];
  final: Convergence;
  agentExit: { code: number | null; signal: string | null } | null;
  targets: Array<{ what: string; target: string; result: string; met: boolean }>;
  machine: MachineFacts;
  command: string;
}

export function kindRows(faults: readonly FaultRecord[]): KindRow[] {
  const rows = new Map<FaultKind, KindRow>();
  for (const f of faults) {
    let row = rows.get(f.kind);
    if (!row) {
      row = { kind: f.kind, injected: 0, converged: 0, worstConvergeMs: 0, lost: 0, duplicates: 0, stale: 0, agentDeaths: 0 };
      rows.set(f.kind, row);
    }
    row.injected += 1;
    if (f.convergence.equal) row.converged += 1;
    row.worstConvergeMs = Math.max(row.worstConvergeMs, f.convergeMs);
    if (!f.convergence.equal) {
      row.lost += f.convergence.lostNodes + f.convergence.lostEdges;
      row.duplicates += f.convergence.duplicates;
      row.stale += f.convergence.staleNodes;
    }
    row.agentDeaths += f.agentDeaths.length;
  }
  return [...rows.values()].sort((a, b) => a.kind.localeCompare(b.kind));
}

/** The issue's targets (tier S, 30 minutes): ≥ 20 SIGKILLs all converging, ≥ 3 of every
 *  other kind, nothing lost, duplicated or stale, convergence < 10 s (< 60 s after a
 *  Neo4j outage). */
export function evaluate(rows: readonly KindRow[], kinds: readonly FaultKind[], minSigkills: number, minEach: number): SoakResult["targets"] {
  const row = (k: FaultKind): KindRow | undefined => rows.find((r) => r.kind === k);
  const targets: SoakResult["targets"] = [];
  const kills = row("sigkill");
  targets.push({
    what: "SIGKILLs of the agent",
    target: `>= ${minSigkills}, all converge`,
    result: kills ? `${kills.converged}/${kills.injected}` : "0",
    met: !!kills && kills.injected >= minSigkills && kills.converged === kills.injected,
  });
  for (const k of kinds.filter((k) => k !== "sigkill")) {
    const r = row(k);
    targets.push({ what: `${k} injected`, target: `>= ${minEach}`, result: String(r?.injected ?? 0), met: (r?.injected ?? 0) >= minEach });
  }
  const sum = (f: (r: KindRow) => number): number => rows.reduce((n, r) => n + f(r), 0);
  targets.push({
    what: "lost, duplicates, stale after every fault",
    target: "0, 0, 0",
    result: `${sum((r) => r.lost)}, ${sum((r) => r.duplicates)}, ${sum((r) => r.stale)}`,
    met: sum((r) => r.lost + r.duplicates + r.stale) === 0 && rows.every((r) => r.converged === r.injected),
  });
  for (const r of rows) {
    const limitMs = r.kind === "neo4j-outage" ? 60_000 : 10_000;
    targets.push({
      what: `convergence after ${r.kind}`,
      target: `< ${limitMs / 1000} s`,
      result: `${(r.worstConvergeMs / 1000).toFixed(1)} s worst`,
      met: r.converged === r.injected && r.worstConvergeMs < limitMs,
    });
  }
  return targets;
}

export function table(rows: readonly KindRow[]): string {
  const lines = ["| fault | injected | converged | worst convergence | lost | duplicates | stale | agent deaths |", "|---|---:|---:|---:|---:|---:|---:|---:|"];
  for (const r of rows)
    lines.push(
      `| ${r.kind} | ${r.injected} | ${r.converged} | ${(r.worstConvergeMs / 1000).toFixed(1)} s | ${r.lost} | ${r.duplicates} | ${r.stale} | ${r.agentDeaths} |`,
    );
  return lines.join("\n");
}

export function markdown(result: SoakResult): string {
  const m = result.machine;
  return [
    `# Soak: ${result.minutes} min, ${result.sink} sink, tier ${result.tier}`,
    "",
    `Started ${result.startedAt}; \`${result.command}\`.`,
    `Machine: ${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; load ${m.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")} at start, ${m.loadAverageAtEnd.map((l) => l.toFixed(2)).join(" ")} at end.`,
    `Objects observed: ${result.objects}; churn ${result.churnRate}/s (${result.churnWrites.ok} writes, ${result.churnWrites.failed} failed: refused while the apiserver was down, or the object already gone).`,
    "",
    table(result.rows),
    "",
    "Convergence is timed from the moment a fault clears (the agent started again, the server back, the disk freed) to the moment `verify`'s first equal look read the graph: an upper bound. Verify lists every scope, then reads the graph, and looks again 0.2 s after each unequal look; the per-fault table also gives when the look before read the graph and found it different, so the graph became equal inside that interval (one look wide, a few seconds at tier S).",
    "",
    `Final check: ${result.final.equal ? "the graph equals the cluster" : `differs (lost ${result.final.lostNodes + result.final.lostEdges}, duplicates ${result.final.duplicates}, stale ${result.final.staleNodes})`}; agent exit ${result.agentExit ? `${result.agentExit.code ?? result.agentExit.signal}` : "n/a"}.`,
    "",
    "| target | wanted | result | met |",
    "|---|---|---|---|",
    ...result.targets.map((t) => `| ${t.what} | ${t.target} | ${t.result} | ${t.met ? "yes" : "**no**"} |`),
    "",
    "## Faults in order",
    "",
    "| # | fault | injected | converged | graph equal between (s after clearing) | note | agent deaths |",
    "|---:|---|---|---|---:|---|---|",
    ...result.faults.map(
      (f, i) =>
        `| ${i + 1} | ${f.kind} | ${f.injectedAt.slice(11, 19)} | ${f.convergence.equal ? "yes" : `**no**${f.convergence.failure ? ` (${f.convergence.failure.slice(0, 400)})` : ""}`} | ${(f.convergeAfterMs / 1000).toFixed(1)}–${(f.convergeMs / 1000).toFixed(1)} s | ${f.note} | ${f.agentDeaths.join("; ")} |`,
    ),
    "",
  ].join("\n");
}

export function writeSoakResult(dir: string, result: SoakResult): string {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `soak-${result.sink}-${result.tier}-${result.minutes}min`);
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(result));
  return base;
}
