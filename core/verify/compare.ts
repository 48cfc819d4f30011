// Compares two graph exports: the graph a fresh LIST of the cluster implies ("expected")
// and the graph in the sink. Pure: no I/O, so every rule here is unit-tested.
//
// Scope: the sink may hold more than this config covers (other clusters written by other
// agents into the same Neo4j). A node is compared when its cluster (its `cluster`
// property, or its owner's for owned nodes such as a Pod's Volumes) is a configured one.
// Nodes of no cluster (ContainerImage, Registry: shared across clusters) are compared
// when expected, or when nothing of another cluster uses them (no path of edges from a
// node of another cluster through shared nodes: its Pod runs the image, the image comes
// from the registry; edges are followed in their direction only, so a registry both
// use does not hand every image of it to the other cluster). An edge belongs to the
// object that declares it (its `owner`): it is compared when its owner is, so another
// cluster's Pod running an image we also expect is not an "extra" edge.
import { canonicalJson } from "../graph/canonical.js";
import type { ExportLine } from "../graph/model.js";

export type NodeLine = Extract<ExportLine, { type: "node" }>;
export type EdgeLine = Extract<ExportLine, { type: "edge" }>;

/** An edge as examples show it: identity without property values. */
export interface EdgeRef {
  rel: string;
  from: string;
  to: string;
  /** The key of the object that declared it (the sinks' `owner`), when it has one. */
  owner: string | null;
}

/** A node in both graphs that differs: names only, never values (Secrets). */
export interface NodeDifference {
  key: string;
  /** Names of the properties whose values differ (missing on one side included). */
  properties: string[];
  /** Set when the labels differ. */
  labels?: { expected: string[]; graph: string[] };
}

export interface LabelRow {
  label: string;
  expected: number;
  inGraph: number;
  missing: number;
  stale: number;
  different: number;
  examples: { missing: string[]; stale: string[]; different: NodeDifference[] };
}

export interface RelationshipRow {
  rel: string;
  expected: number;
  inGraph: number;
  missing: number;
  extra: number;
  examples: { missing: EdgeRef[]; extra: EdgeRef[] };
}

export interface ComparisonTotals {
  expectedNodes: number;
  graphNodes: number;
  missingNodes: number;
  staleNodes: number;
  differentNodes: number;
  expectedEdges: number;
  graphEdges: number;
  missingEdges: number;
  extraEdges: number;
}

export interface Comparison {
  /** True when nothing is missing, stale, different or extra. */
  equal: boolean;
  /** One row per node label seen on either side (in scope), sorted by label. */
  nodes: LabelRow[];
  /** One row per relationship type seen on either side (in scope), sorted by type. */
  edges: RelationshipRow[];
  totals: ComparisonTotals;
  /** Graph nodes and edges left out as outside the config (other clusters). */
  ignored: { nodes: number; edges: number };
}

export interface CompareOptions {
  /** The configured cluster names. */
  clusters: ReadonlySet<string>;
  /** Examples kept per non-zero cell. */
  maxExamples: number;
  /** Node and edge properties not compared (they differ between two correct runs). */
  ignoreProperties?: readonly string[];
  /** Node keys left out of the comparison on both sides (objects that could not be
   *  translated: the report lists them on their own). */
  excludeKeys?: ReadonlySet<string>;
}

/** observedAt is when an observer saw the object, not a fact about the object. */
export const DEFAULT_IGNORED_PROPERTIES = ["observedAt"] as const;

const primaryLabel = (node: NodeLine): string => node.labels[0] ?? "(none)";

function ownerOf(properties: Record<string, unknown>): string | null {
  return typeof properties.owner === "string" ? properties.owner : null;
}

/** The node's cluster: its own `cluster` property, else its owner's; null when shared. */
function clusterResolver(nodes: ReadonlyMap<string, NodeLine>): (key: string) => string | null {
  const memo = new Map<string, string | null>();
  const resolve = (key: string, depth: number): string | null => {
    if (memo.has(key)) return memo.get(key)!;
    const node = nodes.get(key);
    let cluster: string | null = null;
    if (node) {
      if (typeof node.properties.cluster === "string") cluster = node.properties.cluster;
      else {
        const owner = ownerOf(node.properties);
        // Depth guard: owners form a shallow tree, but a damaged graph must not loop.
        if (owner !== null && owner !== key && depth < 8) cluster = resolve(owner, depth + 1);
      }
    }
    memo.set(key, cluster);
    return cluster;
  };
  return (key) => resolve(key, 0);
}

/** Shared (cluster-less) graph nodes that a node of an unconfigured cluster reaches along
 *  edges, directly or through other shared nodes (an image another cluster runs, its
 *  registry). Only forward: what another cluster uses, not what uses the same registry. */
function foreignReach(
  graphNodes: ReadonlyMap<string, NodeLine>,
  graphEdges: readonly EdgeLine[],
  clusterOf: (key: string) => string | null,
  clusters: ReadonlySet<string>,
): Set<string> {
  const successors = new Map<string, string[]>();
  const link = (a: string, b: string): void => {
    let list = successors.get(a);
    if (!list) {
      list = [];
      successors.set(a, list);
    }
    list.push(b);
  };
  for (const e of graphEdges) link(e.from, e.to);
  const reached = new Set<string>();
  const pending: string[] = [];
  for (const key of graphNodes.keys()) {
    const cluster = clusterOf(key);
    if (cluster !== null && !clusters.has(cluster)) pending.push(key);
  }
  while (pending.length > 0) {
    const key = pending.pop()!;
    for (const next of successors.get(key) ?? []) {
      if (reached.has(next) || !graphNodes.has(next) || clusterOf(next) !== null) continue;
      reached.add(next);
      pending.push(next);
    }
  }
  return reached;
}

export function edgeIdentity(edge: EdgeLine, ignore: readonly string[] = DEFAULT_IGNORED_PROPERTIES): string {
  return `${edge.rel}\u0000${edge.from}\u0000${edge.to}\u0000${canonicalJson(withoutProperties(edge.properties, ignore))}`;
}

function withoutProperties(properties: Record<string, unknown>, ignore: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).filter(([name]) => !ignore.includes(name)));
}

/** Names of the properties whose values differ, sorted. */
export function differingProperties(a: Record<string, unknown>, b: Record<string, unknown>, ignore: readonly string[] = DEFAULT_IGNORED_PROPERTIES): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((name) => !ignore.includes(name) && canonicalJson(a[name]) !== canonicalJson(b[name])).sort();
}

const edgeRef = (e: EdgeLine): EdgeRef => ({ rel: e.rel, from: e.from, to: e.to, owner: ownerOf(e.properties) });

function split(lines: Iterable<ExportLine>): { nodes: Map<string, NodeLine>; edges: EdgeLine[] } {
  const nodes = new Map<string, NodeLine>();
  const edges: EdgeLine[] = [];
  for (const line of lines) {
    if (line.type === "node") nodes.set(line.key, line);
    else edges.push(line);
  }
  return { nodes, edges };
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function compareGraphs(expectedLines: Iterable<ExportLine>, graphLines: Iterable<ExportLine>, options: CompareOptions): Comparison {
  const ignore = options.ignoreProperties ?? DEFAULT_IGNORED_PROPERTIES;
  const exclude = options.excludeKeys ?? new Set<string>();
  const max = Math.max(0, options.maxExamples);
  const expected = split(expectedLines);
  const graph = split(graphLines);
  const clusterOf = clusterResolver(graph.nodes);
  const foreign = foreignReach(graph.nodes, graph.edges, clusterOf, options.clusters);

  /** Whether a graph node is covered by the config (expected nodes always are). */
  const nodeInScope = (key: string): boolean => {
    if (expected.nodes.has(key)) return true;
    if (!graph.nodes.has(key)) return false;
    const cluster = clusterOf(key);
    return cluster === null ? !foreign.has(key) : options.clusters.has(cluster);
  };

  const labelRows = new Map<string, LabelRow>();
  const labelRow = (label: string): LabelRow => {
    let row = labelRows.get(label);
    if (!row) {
      row = { label, expected: 0, inGraph: 0, missing: 0, stale: 0, different: 0, examples: { missing: [], stale: [], different: [] } };
      labelRows.set(label, row);
    }
    return row;
  };
  let ignoredNodes = 0;

  for (const key of [...expected.nodes.keys()].sort(byString)) {
    if (exclude.has(key)) continue;
    const want = expected.nodes.get(key)!;
    const row = labelRow(primaryLabel(want));
    row.expected += 1;
    const have = graph.nodes.get(key);
    if (!have) {
      row.missing += 1;
      if (row.examples.missing.length < max) row.examples.missing.push(key);
      continue;
    }
    const properties = differingProperties(want.properties, have.properties, ignore);
    const labelsDiffer = canonicalJson([...want.labels].sort()) !== canonicalJson([...have.labels].sort());
    if (properties.length > 0 || labelsDiffer) {
      row.different += 1;
      if (row.examples.different.length < max) {
        row.examples.different.push({ key, properties, ...(labelsDiffer ? { labels: { expected: want.labels, graph: have.labels } } : {}) });
      }
    }
  }
  for (const key of [...graph.nodes.keys()].sort(byString)) {
    if (exclude.has(key)) continue;
    if (!nodeInScope(key)) {
      ignoredNodes += 1;
      continue;
    }
    const have = graph.nodes.get(key)!;
    // A node in both is counted under the label the cluster says it has.
    const row = labelRow(primaryLabel(expected.nodes.get(key) ?? have));
    row.inGraph += 1;
    if (!expected.nodes.has(key)) {
      row.stale += 1;
      if (row.examples.stale.length < max) row.examples.stale.push(key);
    }
  }

  // Edges: identity is (rel, from, to, properties incl. owner); a multiset, so a
  // duplicated edge in the graph is one extra.
  const edgeRows = new Map<string, RelationshipRow>();
  const edgeRow = (rel: string): RelationshipRow => {
    let row = edgeRows.get(rel);
    if (!row) {
      row = { rel, expected: 0, inGraph: 0, missing: 0, extra: 0, examples: { missing: [], extra: [] } };
      edgeRows.set(rel, row);
    }
    return row;
  };
  const edgeInScope = (e: EdgeLine): boolean => {
    const owner = ownerOf(e.properties);
    if (owner !== null && (expected.nodes.has(owner) || graph.nodes.has(owner))) return nodeInScope(owner);
    return nodeInScope(e.from) || nodeInScope(e.to);
  };
  const touchesExcluded = (e: EdgeLine): boolean => exclude.has(e.from) || exclude.has(e.to) || exclude.has(ownerOf(e.properties) ?? "");
  const sortedEdges = (edges: EdgeLine[]): Array<{ edge: EdgeLine; id: string }> =>
    edges.map((edge) => ({ edge, id: edgeIdentity(edge, ignore) })).sort((a, b) => byString(a.id, b.id));

  const remaining = new Map<string, number>();
  const compared: Array<{ edge: EdgeLine; id: string }> = [];
  let ignoredEdges = 0;
  for (const entry of sortedEdges(graph.edges)) {
    if (touchesExcluded(entry.edge)) continue;
    if (!edgeInScope(entry.edge)) {
      ignoredEdges += 1;
      continue;
    }
    compared.push(entry);
    edgeRow(entry.edge.rel).inGraph += 1;
    remaining.set(entry.id, (remaining.get(entry.id) ?? 0) + 1);
  }
  for (const { edge, id } of sortedEdges(expected.edges)) {
    if (touchesExcluded(edge)) continue;
    const row = edgeRow(edge.rel);
    row.expected += 1;
    const left = remaining.get(id) ?? 0;
    if (left > 0) remaining.set(id, left - 1);
    else {
      row.missing += 1;
      if (row.examples.missing.length < max) row.examples.missing.push(edgeRef(edge));
    }
  }
  for (const { edge, id } of compared) {
    const left = remaining.get(id) ?? 0;
    if (left === 0) continue;
    remaining.set(id, left - 1);
    const row = edgeRow(edge.rel);
    row.extra += 1;
    if (row.examples.extra.length < max) row.examples.extra.push(edgeRef(edge));
  }

  const nodes = [...labelRows.values()].sort((a, b) => byString(a.label, b.label));
  const edges = [...edgeRows.values()].sort((a, b) => byString(a.rel, b.rel));
  const sum = <T>(rows: T[], f: (r: T) => number): number => rows.reduce((n, r) => n + f(r), 0);
  const totals: ComparisonTotals = {
    expectedNodes: sum(nodes, (r) => r.expected),
    graphNodes: sum(nodes, (r) => r.inGraph),
    missingNodes: sum(nodes, (r) => r.missing),
    staleNodes: sum(nodes, (r) => r.stale),
    differentNodes: sum(nodes, (r) => r.different),
    expectedEdges: sum(edges, (r) => r.expected),
    graphEdges: sum(edges, (r) => r.inGraph),
    missingEdges: sum(edges, (r) => r.missing),
    extraEdges: sum(edges, (r) => r.extra),
  };
  const equal = totals.missingNodes + totals.staleNodes + totals.differentNodes + totals.missingEdges + totals.extraEdges === 0;
  return { equal, nodes, edges, totals, ignored: { nodes: ignoredNodes, edges: ignoredEdges } };
}
