// "Has the graph converged?": the product's own `verify` (an independent LIST of every
// configured scope, translated by the same plugins, compared with the sink's graph),
// run as a separate process that looks again 0.2 s after each unequal look (a look takes
// a few seconds at tier S) until the graph equals the cluster or its settle time runs out.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../agent.js";

export interface Convergence {
  equal: boolean;
  /** From the start of verify to the end of its last look. */
  elapsedMs: number;
  /** From the start of verify to the moment its last look read the graph: when equal,
   *  the graph equalled the cluster by then (the churn is paused while verify looks). */
  graphReadAtMs: number;
  /** The look before, which found the graph different (null: the first look was equal). */
  previousGraphReadAtMs: number | null;
  attempts: number;
  /** Expected objects missing from the graph (nodes) and edges missing. */
  lostNodes: number;
  lostEdges: number;
  /** Edges in the graph more often, or other than, the cluster implies. */
  duplicates: number;
  /** Nodes of objects no longer in the cluster, or with other properties. */
  staleNodes: number;
  /** Why verify could not compare (a scope not listable, the sink unreadable). */
  failure?: string;
}

interface VerifyJson {
  equal: boolean;
  elapsedMs: number;
  graphReadAtMs: number;
  previousGraphReadAtMs: number | null;
  attempts: number;
  totals: { missingNodes: number; staleNodes: number; differentNodes: number; missingEdges: number; extraEdges: number };
  failures: Array<{ message: string }>;
}

export async function converge(configFile: string, env: Record<string, string>, settleSeconds: number): Promise<Convergence> {
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, "dist/core/cli/main.js"),
      "verify",
      "--config",
      configFile,
      "--json",
      "--settle-seconds",
      String(settleSeconds),
      "--interval-seconds",
      "0.2",
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, KUBE_OBSERVER_LOG_FORMAT: "json", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  await new Promise<void>((resolveExit) => child.on("exit", () => resolveExit()));
  let report: VerifyJson;
  try {
    report = JSON.parse(stdout) as VerifyJson;
  } catch {
    // The last lines: an internal error's message is followed by the frames that locate it.
    const last = stderr
      .trim()
      .split("\n")
      .slice(-6)
      .map((l) => l.trim())
      .join(" ; ");
    return {
      equal: false,
      elapsedMs: 0,
      graphReadAtMs: 0,
      previousGraphReadAtMs: null,
      attempts: 0,
      lostNodes: 0,
      lostEdges: 0,
      duplicates: 0,
      staleNodes: 0,
      failure: `verify printed no report (${last.slice(-800)})`,
    };
  }
  const t = report.totals;
  return {
    equal: report.equal,
    elapsedMs: report.elapsedMs,
    graphReadAtMs: report.graphReadAtMs,
    previousGraphReadAtMs: report.previousGraphReadAtMs,
    attempts: report.attempts,
    lostNodes: t.missingNodes,
    lostEdges: t.missingEdges,
    duplicates: t.extraEdges,
    staleNodes: t.staleNodes + t.differentNodes,
    ...(report.failures.length ? { failure: report.failures.map((f) => f.message).join("; ") } : {}),
  };
}
