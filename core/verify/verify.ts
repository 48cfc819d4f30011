// `verify`: is the graph complete? Lists every configured scope directly (the agent's own
// client, not its observers), builds the graph that list implies, reads the sink's graph,
// and compares them. A live cluster changes between the LIST and the read, so while they
// differ it looks again (~2 s after each look), up to settleSeconds, and reports the last look.
import { AnnotationFilter } from "../plugin/annotation-rules.js";
import type { ClusterConfig, Config } from "../config/model.js";
import type { GraphSink, GraphOp, ExportLine } from "../graph/model.js";
import { KubeHttpClient } from "../kube/client.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import type { Logger } from "../log/logger.js";
import type { LoadedPlugin, PluginSet } from "../plugin/registry.js";
import { compareGraphs, type Comparison } from "./compare.js";
import { expectedGraph, scopeOps, type Untranslatable } from "./expected-graph.js";
import { listAll, ScopeListError, type ScopeRef } from "./list.js";
import { clusterScopes, type VerifyScope } from "./scopes.js";
import { verdict } from "./report.js";

// What `run --once --verify` and other callers need, from one module.
export { formatReport } from "./report.js";
export type { EdgeRef, LabelRow, NodeDifference, RelationshipRow } from "./compare.js";

/** A scope (or a whole cluster, when its credentials cannot be loaded) verify could not list. */
export interface ScopeFailure extends ScopeRef {
  /** "cluster/namespace/resource"; for a cluster whose credentials fail, the cluster name. */
  scope: string;
  /** forbidden, unauthorized, not-found (not served), network, ... */
  kind: string;
  /** One line naming the scope and the reason. */
  message: string;
}

export interface VerifyReport extends Comparison {
  /** The graph equals the cluster: every scope listed, nothing missing, stale,
   *  different or extra, and every object translatable. */
  equal: boolean;
  /** One line: "graph equals the cluster: N nodes, M edges" or what differs. */
  verdict: string;
  sink: GraphSink["kind"];
  clusters: string[];
  /** Scopes listed, and the objects they held, in the last look. */
  scopes: number;
  objects: number;
  /** Looks taken (LIST + graph read + compare). */
  attempts: number;
  settleSeconds: number;
  elapsedMs: number;
  /** When the last look began reading the graph, in ms after verify started. The LIST
   *  came first; when the report is equal, the graph equalled the cluster by then. */
  graphReadAtMs: number;
  /** When the look before it read the graph (and found it different), or null after one
   *  look: an equal report's graph became equal between the two. */
  previousGraphReadAtMs: number | null;
  /** Non-empty: verify could not list everything; no comparison was made. */
  failures: ScopeFailure[];
  /** Objects the plugins cannot translate (the agent parks them): a difference. */
  untranslatable: { count: number; examples: Untranslatable[] };
}

export interface VerifyOptions {
  config: Config;
  plugins: PluginSet | ReadonlyMap<string, LoadedPlugin>;
  sink: GraphSink;
  log?: Logger;
  /** How long to keep looking while the graph differs (default 10; 0: look once). */
  settleSeconds?: number;
  /** Pause between looks while the graph differs, in seconds (default 2). */
  intervalSeconds?: number;
  /** Examples kept per non-zero cell (default 3). */
  maxExamples?: number;
  /** How to reach a cluster (default: its kubeconfig, as the agent does). */
  clientFor?: (cluster: ClusterConfig) => KubeHttpClient;
}

const DEFAULT_INTERVAL_SECONDS = 2;

function defaultClient(config: Config): (cluster: ClusterConfig) => KubeHttpClient {
  return (cluster) =>
    new KubeHttpClient(loadKubeConfig(cluster), {
      connectTimeoutMs: config.observer.connectTimeoutSeconds * 1000,
      listTimeoutMs: 120_000,
      userAgent: "kube-observer/verify",
      // The agent's own bounds: an object it skips as too large is not expected either.
      maxObjectBytes: config.observer.maxObjectBytes,
      maxListPageBytes: config.observer.maxListPageBytes,
    });
}

function failureOf(error: unknown, cluster: string): ScopeFailure {
  if (error instanceof ScopeListError) return { ...error.scope, scope: error.key, kind: error.kind, message: error.message };
  const reason = error instanceof Error ? error.message : String(error);
  return { cluster, namespace: null, resource: "", scope: cluster, kind: "credentials", message: `cannot reach cluster "${cluster}": ${reason}` };
}

interface Listed {
  ops: GraphOp[];
  scopes: number;
  objects: number;
  untranslatable: Untranslatable[];
  failures: ScopeFailure[];
}

/** LISTs in flight per cluster: thousands of namespaces make thousands of small scopes,
 *  and one at a time would leave the apiserver idle between round trips. */
const CONCURRENT_LISTS = 8;

/** One LIST of every configured scope; the ops come out in scope order whatever the
 *  order the answers arrive in. A cluster stops listing at its first failure. */
async function listEverything(
  config: Config,
  plugins: ReadonlyMap<string, LoadedPlugin>,
  clients: Map<string, KubeHttpClient>,
  clientFor: (c: ClusterConfig) => KubeHttpClient,
): Promise<Listed> {
  const listed: Listed = { ops: [], scopes: 0, objects: 0, untranslatable: [], failures: [] };
  for (const cluster of config.clusters) {
    try {
      let client = clients.get(cluster.name);
      if (!client) {
        client = clientFor(cluster);
        clients.set(cluster.name, client);
      }
      const scopes: VerifyScope[] = await clusterScopes(cluster, config.actors, plugins, client, config.observer.pageSize);
      // The observers' annotation rules: the expected graph withholds what they withhold.
      const annotations = new AnnotationFilter({ withheld: config.observer.withheldAnnotations, maxValueBytes: config.observer.maxAnnotationBytes });
      const results: Array<ReturnType<typeof scopeOps>> = new Array(scopes.length);
      let next = 0;
      let failed = false;
      const worker = async (): Promise<void> => {
        while (!failed && next < scopes.length) {
          const index = next++;
          const scope = scopes[index]!;
          try {
            results[index] = scopeOps(scope, await listAll(client, scope, config.observer.pageSize), "", annotations, config.pluginBudgetMs);
          } catch (error) {
            failed = true;
            throw error;
          }
        }
      };
      const outcomes = await Promise.allSettled(Array.from({ length: Math.min(CONCURRENT_LISTS, scopes.length) }, worker));
      const rejected = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
      if (rejected.length > 0) {
        listed.failures.push(...rejected.map((error) => failureOf(error, cluster.name)));
        continue;
      }
      for (const result of results) {
        // A loop, not push(...ops): a scope of 100,000 objects would overflow the call's arguments.
        for (const op of result.ops) listed.ops.push(op);
        for (const u of result.untranslatable) listed.untranslatable.push(u);
        listed.objects += result.objects;
        listed.scopes += 1;
      }
    } catch (error) {
      listed.failures.push(failureOf(error, cluster.name));
    }
  }
  return listed;
}

async function readGraph(sink: GraphSink): Promise<ExportLine[]> {
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  return lines;
}

/** Compares the sink's graph with a fresh LIST of every configured scope. Never throws
 *  for a scope that cannot be listed (see `failures`); throws when the sink cannot be read. */
export async function verifyGraph(options: VerifyOptions): Promise<VerifyReport> {
  const { config, sink, log } = options;
  const plugins = "errors" in options.plugins ? options.plugins.plugins : options.plugins;
  const settleSeconds = Math.max(0, options.settleSeconds ?? 10);
  const maxExamples = Math.max(0, options.maxExamples ?? 3);
  const clientFor = options.clientFor ?? defaultClient(config);
  const clusters = config.clusters.map((c) => c.name);
  const started = Date.now();
  const deadline = started + settleSeconds * 1000;
  const intervalMs = Math.max(0, options.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS) * 1000;
  let previousGraphReadAtMs: number | null = null;
  const clients = new Map<string, KubeHttpClient>();
  try {
    for (let attempt = 1; ; attempt += 1) {
      const listed = await listEverything(config, plugins, clients, clientFor);
      const untranslatable = { count: listed.untranslatable.length, examples: listed.untranslatable.slice(0, maxExamples) };
      // No comparison without a complete LIST: a scope not listed would read as all stale.
      const expected = listed.failures.length > 0 ? [] : await expectedGraph(listed.ops, config.attackEdges ? { attackEdgesOf: clusters } : {});
      const graphReadAtMs = Date.now() - started;
      const comparison =
        listed.failures.length > 0
          ? compareGraphs([], [], { clusters: new Set(clusters), maxExamples })
          : compareGraphs(expected, await readGraph(sink), {
              clusters: new Set(clusters),
              maxExamples,
              excludeKeys: new Set(listed.untranslatable.map((u) => u.key)),
            });
      // Summary fields first: that is what a reader of the JSON looks for.
      const report: VerifyReport = {
        equal: listed.failures.length === 0 && comparison.equal && untranslatable.count === 0,
        verdict: "",
        sink: sink.kind,
        clusters,
        scopes: listed.scopes,
        objects: listed.objects,
        attempts: attempt,
        settleSeconds,
        elapsedMs: Date.now() - started,
        graphReadAtMs,
        previousGraphReadAtMs,
        failures: listed.failures,
        untranslatable,
        totals: comparison.totals,
        ignored: comparison.ignored,
        nodes: comparison.nodes,
        edges: comparison.edges,
      };
      report.verdict = verdict(report);
      if (listed.failures.length > 0) return report;
      const now = Date.now();
      // Untranslatable objects stay so until their plugin changes: no point waiting.
      if (comparison.equal || now >= deadline) return report;
      previousGraphReadAtMs = graphReadAtMs;
      const pause = Math.min(intervalMs, deadline - now);
      log?.info({ attempt, ...comparison.totals }, "graph differs from the cluster; looking again in %s s", (pause / 1000).toFixed(1));
      await new Promise((r) => setTimeout(r, pause));
    }
  } finally {
    for (const client of clients.values()) client.close();
  }
}
