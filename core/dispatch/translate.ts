// KubeMessage -> GraphOp, through the message's plugin. The core adds what every observed
// object has (cluster, namespace, name, uid, resourceVersion, observedAt), checks the
// fragment against the plugin's declared schema, and computes keys and scopes.
import { everyNamespaceScope, objectKey, scopeKey } from "../graph/keys.js";
import { markConforming, cleanProperties, GraphContractError } from "../graph/contract.js";
import { checkSinkLimits, storedKey } from "../graph/limits.js";
import type { GraphEdge, GraphNode, GraphOp, GraphSelector, Placeholder } from "../graph/model.js";
import { checkFragmentShape, selectorRequirements } from "../graph/validate.js";
import type { KubeMessage } from "../messages.js";
import { describeObject, describeOverrun, PluginBudgetError, runBudgetedYielding, type Outcome } from "../plugin/budget.js";
import { describePluginFailure, PluginFailureError } from "../plugin/plugin-error.js";
import type { LoadedPlugin } from "../plugin/registry.js";
import type { GraphContext } from "../plugin/types.js";

export function graphLabel(plugin: LoadedPlugin): string {
  return plugin.plugin.graph?.label ?? plugin.plugin.resource.kind;
}

/** The GraphOp for a message, or null when the plugin has no graph side. Throws when the
 *  plugin throws or returns something malformed, or a value no sink stores. Keys are in
 *  the form the sinks store (core/graph/limits.ts: a key too long for an index becomes a
 *  prefix plus a hash). The op holds the graph contract by construction and is marked so
 *  (core/graph/contract.ts): no sink checks it again. Calls toGraph directly, without a
 *  time budget (translateMessages applies one to third-party plugins). */
export function toGraphOp(message: KubeMessage, loaded: LoadedPlugin): GraphOp | null {
  const pending = prepareGraphOp(message, loaded);
  return "done" in pending ? pending.done : pending.run();
}

/** A message on its way to a GraphOp: done without the plugin's code (a delete, a sweep, no
 *  graph side), or `run`: the plugin's toGraph and the checks of what it returned (throws
 *  PluginFailureError when the plugin throws, GraphContractError when its fragment breaks
 *  the contract). */
export type PendingGraphOp = { done: GraphOp | null } | { run: () => GraphOp };

export function prepareGraphOp(message: KubeMessage, loaded: LoadedPlugin): PendingGraphOp {
  const raw = rawGraphOp(message, loaded);
  if ("done" in raw) return { done: raw.done === null ? null : finalOp(raw.done) };
  return { run: () => finalOp(raw.run()) };
}

export interface TranslateInput {
  message: KubeMessage;
  loaded: LoadedPlugin;
}

/** Each message through its plugin, as toGraphOp would (an error where it would throw).
 *  Built-in plugins are trusted and called directly; third-party toGraph calls run within
 *  `budgetMs` each (core/plugin/budget.ts): one over it is interrupted and its message
 *  gets a PluginBudgetError (and `onOverrun` is called). Yields to the event loop after each
 *  such overrun. */
export async function translateMessages(
  inputs: readonly TranslateInput[],
  budgetMs: number,
  onOverrun: (input: TranslateInput) => void = () => undefined,
): Promise<Array<Outcome<GraphOp | null>>> {
  const results: Array<Outcome<GraphOp | null>> = new Array(inputs.length);
  const guarded: Array<{ index: number; input: TranslateInput; run: () => GraphOp }> = [];
  inputs.forEach((input, index) => {
    try {
      const pending = prepareGraphOp(input.message, input.loaded);
      if ("done" in pending) results[index] = { ok: true, value: pending.done };
      else if (input.loaded.builtin) results[index] = { ok: true, value: pending.run() };
      else guarded.push({ index, input, run: pending.run });
    } catch (error) {
      results[index] = { ok: false, error };
    }
  });
  if (guarded.length === 0) return results;
  // The fragment's checks run within the budget too: a getter or a Proxy in what the plugin
  // returned is plugin code as well.
  const ops = await runBudgetedYielding(
    guarded,
    (g) => g.run(),
    budgetMs,
    ({ input }) => {
      onOverrun(input); // as it happens: metrics and logs show it before the batch is done
      return overrunError(input, budgetMs);
    },
  );
  for (const [i, g] of guarded.entries()) results[g.index] = ops[i]!;
  return results;
}

function overrunError({ message, loaded }: TranslateInput, budgetMs: number): PluginBudgetError {
  const object = describeObject(loaded.plugin.resource.kind, message.objectNamespace, message.name ?? "");
  return new PluginBudgetError(describeOverrun(loaded.plugin.name, "toGraph", budgetMs, object, loaded.file));
}

function finalOp(raw: GraphOp): GraphOp {
  const op = withStoredKeys(raw);
  checkSinkLimits([op]);
  return markConforming(op);
}

/** Every key of the op as the sinks store it; the checks above ran on the keys as the
 *  plugin made them (storedKey is one-to-one for all practical purposes: a SHA-256). */
function withStoredKeys(op: GraphOp): GraphOp {
  const k = storedKey;
  if (op.op === "delete") return { op: "delete", key: k(op.key) };
  if (op.op === "sweep") return { ...op, present: op.present.map(k) };
  const edge = (e: GraphEdge): GraphEdge => ({ ...e, from: k(e.from), to: k(e.to) });
  return {
    ...op,
    node: { ...op.node, key: k(op.node.key) },
    owned: op.owned.map((o) => ({ ...o, key: k(o.key) })),
    placeholders: op.placeholders.map((p) => ({ ...p, key: k(p.key) })),
    edges: op.edges.map(edge),
    ...(op.links ? { links: op.links.map(edge) } : {}),
    ...(op.selectors ? { selectors: op.selectors.map((s) => ({ ...s, from: k(s.from) })) } : {}),
  };
}

/** The op before its keys take their stored form (rawGraphOp's checks see the plugin's keys). */
function rawGraphOp(message: KubeMessage, loaded: LoadedPlugin): PendingGraphOp {
  const graph = loaded.plugin.graph;
  if (!graph) return { done: null };
  const label = graphLabel(loaded);
  const cluster = message.cluster;
  const namespaced = loaded.plugin.resource.namespaced;
  if (message.action === "Restarted") {
    const present = (message.present ?? []).map((p) => objectKey(cluster, p.namespace, label, p.name));
    // A cluster-wide observer of a namespaced resource: its list is the truth for every
    // namespace but those other observers cover.
    if (namespaced && message.namespace === null) {
      return { done: { op: "sweep", scope: everyNamespaceScope(cluster, label), present, except: [...(message.sweepExcept ?? [])] } };
    }
    return { done: { op: "sweep", scope: scopeKey(cluster, message.namespace, label), present } };
  }
  const name = message.name;
  if (!name) throw new GraphContractError(`${message.action} message without a name`);
  const key = objectKey(cluster, message.objectNamespace, label, name);
  if (message.action === "Deleted") return { done: { op: "delete", key } };
  if (message.error) throw new GraphContractError(message.error);

  const context: GraphContext = { cluster, key, objectKey: (kind, namespace, other) => objectKey(cluster, namespace, kind, other) };
  const run = (): GraphOp => {
    let made: unknown;
    try {
      made = graph.toGraph(message.object, context);
    } catch (error) {
      throw new PluginFailureError(describePluginFailure(error, loaded.plugin.name, "toGraph", loaded.file));
    }
    return upsertOp(made, message, name, loaded, key);
  };
  return { run };
}

/** The upsert for what toGraph made, checked against the plugin's declared schema. */
function upsertOp(made: unknown, message: KubeMessage, name: string, loaded: LoadedPlugin, key: string): GraphOp {
  const graph = loaded.plugin.graph!;
  const label = graphLabel(loaded);
  const cluster = message.cluster;
  const namespaced = loaded.plugin.resource.namespaced;
  const fragment = checkFragmentShape(made);
  const declaredLabels = new Set(graph.schema.labels);
  const declaredTypes = new Set(graph.schema.relationships);
  const needLabel = (l: string, what: string): void => {
    if (!declaredLabels.has(l)) throw new GraphContractError(`${what} has label "${l}", which the plugin's graph.schema.labels does not declare`);
  };
  needLabel(label, "the object's node");

  const properties = cleanProperties(fragment.properties, "properties");
  const node: GraphNode = {
    label,
    key,
    // From the object's own namespace: the same node scope whichever observer (per
    // namespace or cluster-wide) delivered it, so sweeps and selectors do not care.
    scope: scopeKey(cluster, namespaced ? message.objectNamespace : null, label),
    properties: {
      ...properties,
      cluster,
      ...(message.objectNamespace ? { namespace: message.objectNamespace } : {}),
      name,
      ...(message.uid ? { uid: message.uid } : {}),
      resourceVersion: message.resourceVersion,
      observedAt: message.observedAt,
    },
  };
  const owned: GraphNode[] = [];
  const ownedKeys = new Set<string>();
  for (const o of fragment.owned ?? []) {
    needLabel(o.label, `owned node ${o.key}`);
    if (o.key === key || ownedKeys.has(o.key)) throw new GraphContractError(`owned node key ${o.key} is not unique`);
    ownedKeys.add(o.key);
    owned.push({ label: o.label, key: o.key, properties: cleanProperties(o.properties, `owned node ${o.key}`) });
  }
  const placeholders: Placeholder[] = [];
  const referenceKeys = new Set<string>();
  for (const r of fragment.references ?? []) {
    needLabel(r.label, `reference ${r.key}`);
    if (referenceKeys.has(r.key) || r.key === key || ownedKeys.has(r.key)) continue;
    referenceKeys.add(r.key);
    placeholders.push({ label: r.label, key: r.key, properties: cleanProperties(r.properties, `reference ${r.key}`) });
  }
  const edges: GraphEdge[] = [];
  const links: GraphEdge[] = [];
  const needType = (type: string, what: string): void => {
    if (!declaredTypes.has(type)) throw new GraphContractError(`${what} type "${type}" is not declared in graph.schema.relationships`);
  };
  for (const e of fragment.edges ?? []) {
    needType(e.type, "edge");
    const from = e.from ?? key;
    const properties = cleanProperties(e.properties, `edge ${e.type}`, "edge");
    if (referenceKeys.has(from)) {
      // A fact about the reference itself: it must stay among references.
      if (!referenceKeys.has(e.to))
        throw new GraphContractError(`edge ${e.type} starts at the reference ${from} but ends at ${e.to}, which is not a reference`);
      links.push({ type: e.type, from, to: e.to, properties });
      continue;
    }
    if (from !== key && !ownedKeys.has(from))
      throw new GraphContractError(`edge ${e.type} starts at ${from}, which is not the object, a node it owns or a reference`);
    if (e.to !== key && !ownedKeys.has(e.to) && !referenceKeys.has(e.to)) {
      throw new GraphContractError(`edge ${e.type} ends at ${e.to}, which is not the object, an owned node or a reference`);
    }
    edges.push({ type: e.type, from, to: e.to, properties });
  }
  const selectors: GraphSelector[] = (fragment.selectors ?? []).map((s, i) => {
    const where = `selector #${i} (${s.type})`;
    needType(s.type, "selector");
    needLabel(s.label, where);
    const from = s.from ?? key;
    if (from !== key && !ownedKeys.has(from)) throw new GraphContractError(`${where} starts at ${from}, which is neither the object nor a node it owns`);
    return {
      type: s.type,
      from,
      scope: scopeKey(cluster, s.namespace, s.label),
      matchLabels: { ...(s.matchLabels ?? {}) },
      requirements: selectorRequirements(s, where),
      properties: cleanProperties(s.properties, where, "edge"),
    };
  });
  return { op: "upsert", node, owned, placeholders, edges, ...(links.length > 0 ? { links } : {}), ...(selectors.length > 0 ? { selectors } : {}) };
}
