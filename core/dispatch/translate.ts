// KubeMessage -> GraphOp, through the message's plugin. The core adds what every observed
// object has (cluster, namespace, name, uid, resourceVersion, observedAt), checks the
// fragment against the plugin's declared schema, and computes keys and scopes.
import { everyNamespaceScope, objectKey, scopeKey } from "../graph/keys.js";
import { markConforming, cleanProperties, GraphContractError } from "../graph/contract.js";
import { checkSinkLimits, storedKey } from "../graph/limits.js";
import type { GraphEdge, GraphNode, GraphOp, GraphSelector, Placeholder } from "../graph/model.js";
import { checkFragmentShape, selectorRequirements } from "../graph/validate.js";
import type { KubeMessage } from "../messages.js";
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
 *  (core/graph/contract.ts): no sink checks it again. */
export function toGraphOp(message: KubeMessage, loaded: LoadedPlugin): GraphOp | null {
  const raw = rawGraphOp(message, loaded);
  if (raw === null) return null;
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

function rawGraphOp(message: KubeMessage, loaded: LoadedPlugin): GraphOp | null {
  const graph = loaded.plugin.graph;
  if (!graph) return null;
  const label = graphLabel(loaded);
  const cluster = message.cluster;
  const namespaced = loaded.plugin.resource.namespaced;
  if (message.action === "Restarted") {
    const present = (message.present ?? []).map((p) => objectKey(cluster, p.namespace, label, p.name));
    // A cluster-wide observer of a namespaced resource: its list is the truth for every
    // namespace but those other observers cover.
    if (namespaced && message.namespace === null) {
      return { op: "sweep", scope: everyNamespaceScope(cluster, label), present, except: [...(message.sweepExcept ?? [])] };
    }
    return { op: "sweep", scope: scopeKey(cluster, message.namespace, label), present };
  }
  if (!message.name) throw new GraphContractError(`${message.action} message without a name`);
  const key = objectKey(cluster, message.objectNamespace, label, message.name);
  if (message.action === "Deleted") return { op: "delete", key };
  if (message.error) throw new GraphContractError(message.error);

  const context: GraphContext = { cluster, key, objectKey: (kind, namespace, name) => objectKey(cluster, namespace, kind, name) };
  let made: unknown;
  try {
    made = graph.toGraph(message.object, context);
  } catch (error) {
    throw new PluginFailureError(describePluginFailure(error, loaded.plugin.name, "toGraph", loaded.file));
  }
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
      name: message.name,
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
      if (!referenceKeys.has(e.to)) throw new GraphContractError(`edge ${e.type} starts at the reference ${from} but ends at ${e.to}, which is not a reference`);
      links.push({ type: e.type, from, to: e.to, properties });
      continue;
    }
    if (from !== key && !ownedKeys.has(from)) throw new GraphContractError(`edge ${e.type} starts at ${from}, which is not the object, a node it owns or a reference`);
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
