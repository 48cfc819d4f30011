// The graph a direct LIST of the cluster implies: every listed object becomes the
// KubeMessage an observer would send (scrubbed, reduced by its plugin, JSON-round-tripped
// as it would cross the WAL), then the GraphOp the dispatcher would apply, followed by
// the scope's relist boundary ("Restarted" → sweep). Applied to a fresh in-memory
// embedded sink and exported, it is what the agent's graph must equal.
import { graphLabel, toGraphOp } from "../dispatch/translate.js";
import { objectKey } from "../graph/keys.js";
import type { ExportLine, GraphOp } from "../graph/model.js";
import { deriveAll, scopeOwner } from "../insight/attack/derived-stage.js";
import { SqliteGraphSink } from "../graph/sqlite-sink.js";
import type { KubeMessage, KubeObject, PresentObject } from "../messages.js";
import { AnnotationFilter, DEFAULT_ANNOTATION_RULES } from "../plugin/annotation-rules.js";
import { DEFAULT_PLUGIN_BUDGET_MS, describeObject, describeOverrun, PluginBudgetError, runBudgeted, type Outcome } from "../plugin/budget.js";
import { PluginFailureError } from "../plugin/plugin-error.js";
import { reduceObject } from "../observer/reducer.js";
import { scopeName, type VerifyScope } from "./scopes.js";

/** An object the plugin could not turn into graph operations; the agent parks its
 *  message, so the graph cannot hold its current state. */
export interface Untranslatable {
  /** "cluster/namespace/resource". */
  scope: string;
  /** The node key it would have. */
  key: string;
  reason: string;
}

export interface ScopeOps {
  ops: GraphOp[];
  objects: number;
  untranslatable: Untranslatable[];
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The plugin's reduction as an observer makes it (the same function). */
function reduce(scope: VerifyScope, object: KubeObject, annotations: AnnotationFilter): unknown {
  const reduced = reduceObject(scope.plugin.plugin, object, annotations, scope.plugin.file);
  if (reduced.error !== undefined) throw new PluginFailureError(reduced.error);
  return reduced.object;
}

/** The graph operations for one listed scope: an upsert per object, then the sweep. A
 *  third-party plugin's reduce and toGraph run within `budgetMs` per object, as the
 *  dispatcher runs toGraph (core/plugin/budget.ts): an object over it is untranslatable. */
export function scopeOps(
  scope: VerifyScope,
  items: readonly KubeObject[],
  observedAt = "",
  annotations: AnnotationFilter = new AnnotationFilter(DEFAULT_ANNOTATION_RULES),
  budgetMs = DEFAULT_PLUGIN_BUDGET_MS,
): ScopeOps {
  const { plugin } = scope.plugin;
  const label = graphLabel(scope.plugin);
  const base = { cluster: scope.cluster, namespace: scope.namespace, resource: plugin.name, kind: plugin.resource.kind, observedAt };
  const ops: GraphOp[] = [];
  const untranslatable: Untranslatable[] = [];
  const present: PresentObject[] = [];
  const excluded = new Set(scope.exclude ?? []);
  // As the cluster-wide observer does: excluded namespaces are not observed.
  const listed = items.filter((object) => !excluded.has(object.metadata?.namespace ?? ""));
  for (const object of listed) {
    const m = object.metadata ?? {};
    present.push({ namespace: m.namespace ?? null, name: m.name ?? "", uid: m.uid ?? "" });
  }
  let step: "reduce" | "toGraph" = "reduce"; // where the object in progress is, for an overrun
  const translate = (object: KubeObject): GraphOp | null => {
    const m = object.metadata ?? {};
    step = "reduce";
    const message: KubeMessage = {
      ...base,
      action: "Applied",
      objectNamespace: m.namespace ?? null,
      uid: m.uid ?? null,
      name: m.name ?? "",
      resourceVersion: m.resourceVersion ?? "",
      object: reduce(scope, object, annotations),
    };
    step = "toGraph";
    return toGraphOp(message, scope.plugin);
  };
  const overrun = (object: KubeObject): PluginBudgetError => {
    const what = describeObject(plugin.resource.kind, object.metadata?.namespace ?? null, object.metadata?.name ?? "");
    return new PluginBudgetError(describeOverrun(plugin.name, step, budgetMs, what, scope.plugin.file));
  };
  // Built-in plugins are trusted: called directly, as the dispatcher does.
  const outcomes: Array<Outcome<GraphOp | null>> = scope.plugin.builtin
    ? listed.map((o) => settle(() => translate(o)))
    : runBudgeted(listed, translate, budgetMs, overrun);
  outcomes.forEach((outcome, i) => {
    if (outcome.ok) {
      if (outcome.value) ops.push(outcome.value);
      return;
    }
    const m = listed[i]!.metadata ?? {};
    untranslatable.push({
      scope: scopeName({ ...scope, resource: plugin.name }),
      key: objectKey(scope.cluster, m.namespace ?? null, label, m.name ?? ""),
      reason: errorText(outcome.error),
    });
  });
  const boundary: KubeMessage = {
    ...base,
    action: "Restarted",
    objectNamespace: null,
    uid: null,
    name: null,
    resourceVersion: "",
    object: null,
    present,
    ...(scope.namespace === null && plugin.resource.namespaced ? { sweepExcept: [...(scope.sweepExcept ?? [])] } : {}),
  };
  const sweep = toGraphOp(boundary, scope.plugin);
  if (sweep) ops.push(sweep);
  return { ops, objects: present.length, untranslatable };
}

function settle<R>(work: () => R): Outcome<R> {
  try {
    return { ok: true, value: work() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Applies the operations to a fresh in-memory embedded graph and exports it. */
export async function expectedGraph(ops: readonly GraphOp[], derive: { attackEdgesOf?: readonly string[] } = {}): Promise<ExportLine[]> {
  const sink = new SqliteGraphSink(":memory:");
  try {
    await sink.apply(ops);
    // With `attackEdges`, the agent keeps them in the graph: derived here the same way.
    for (const cluster of derive.attackEdgesOf ?? []) await sink.replaceDerived((await deriveAll(sink, cluster)).sets, scopeOwner.all(cluster));
    const lines: ExportLine[] = [];
    for await (const line of sink.export()) lines.push(line);
    return lines;
  } finally {
    await sink.close();
  }
}
