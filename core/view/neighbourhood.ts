// The part of the graph `graph view` draws: an object and everything within `depth` hops of
// it, in both directions (what it points at and what points at it), read through
// GraphSink.neighbourhood only, so it works the same on both sinks.
//
// Hops: an owned node (a Pod's Volume) is part of its owner's hop, not a hop of its own, so
// a Secret mounted through a Volume is one hop from the Pod, as it is when read from env.
// Edge types are never filtered: whatever the graph holds (CAN_* edges too) is drawn.
import { createHash } from "node:crypto";
import { canonicalJson } from "../graph/canonical.js";
import type { ExportLine, GraphSink } from "../graph/model.js";

type NodeLine = Extract<ExportLine, { type: "node" }>;
type EdgeLine = Extract<ExportLine, { type: "edge" }>;

export interface ViewNode {
  key: string;
  /** The node's primary label (its kind). */
  kind: string;
  /** "Kind ns/name" (or the reference, host or key of nodes without a name). */
  label: string;
  /** Hops from the target (0 for the target). */
  hop: number;
  properties: Record<string, unknown>;
}

export interface ViewEdge {
  /** Stable across reads while the edge is unchanged (the live page diffs by it). */
  id: string;
  rel: string;
  from: string;
  to: string;
  properties: Record<string, unknown>;
}

export interface GraphView {
  target: string;
  depth: number;
  maxNodes: number;
  /** True when more than maxNodes nodes are within depth: the nearest maxNodes are kept. */
  capped: boolean;
  nodes: ViewNode[];
  edges: ViewEdge[];
}

export class TargetNotFoundError extends Error {}

export async function readView(sink: GraphSink, target: string, options: { depth: number; maxNodes: number }): Promise<GraphView> {
  const { depth, maxNodes } = options;
  const nodes = new Map<string, NodeLine>();
  const edges = new Map<string, EdgeLine>();
  const expanded = new Set<string>();
  let hops = new Map<string, number>();
  let capped = false;
  let frontier = [target];
  while (frontier.length > 0) {
    for (const key of frontier) expanded.add(key);
    for (const line of await sink.neighbourhood(frontier)) {
      if (line.type === "node") nodes.set(line.key, line);
      else edges.set(edgeId(line), line);
    }
    if (!nodes.has(target)) throw new TargetNotFoundError(`${target} is not in the graph (check the kind, name, namespace and cluster)`);
    hops = distances(target, nodes, edges);
    const within = [...hops.values()].filter((h) => h <= depth).length;
    if (within > maxNodes) {
      capped = true;
      break;
    }
    const next = new Set<string>();
    for (const [key, hop] of hops) if (hop < depth && !expanded.has(key)) next.add(key);
    // An owned node in reach brings its owner at the same hop, read if not yet there.
    for (const [key, hop] of hops) {
      const owner = ownerOf(nodes.get(key));
      if (hop <= depth && owner && !nodes.has(owner) && !expanded.has(owner)) next.add(owner);
    }
    frontier = [...next];
  }
  const kept = [...hops]
    .filter(([, hop]) => hop <= depth)
    .sort(([ak, ah], [bk, bh]) => ah - bh || (ak < bk ? -1 : ak > bk ? 1 : 0))
    .slice(0, maxNodes);
  const keep = new Set(kept.map(([key]) => key));
  return {
    target,
    depth,
    maxNodes,
    capped,
    nodes: kept.map(([key, hop]) => viewNode(nodes.get(key)!, hop)),
    edges: [...edges]
      .filter(([, e]) => keep.has(e.from) && keep.has(e.to))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, e]) => ({ id, rel: e.rel, from: e.from, to: e.to, properties: e.properties })),
  };
}

function viewNode(line: NodeLine, hop: number): ViewNode {
  const kind = line.labels[0] ?? "Entity";
  const p = line.properties;
  const name = String(p.name ?? p.reference ?? p.host ?? line.key);
  const namespace = typeof p.namespace === "string" && p.namespace !== "" ? `${p.namespace}/` : "";
  return { key: line.key, kind, label: `${kind} ${namespace}${name}`, hop, properties: p };
}

function ownerOf(node: NodeLine | undefined): string | undefined {
  const owner = node?.properties.owner;
  return typeof owner === "string" && owner !== node?.key ? owner : undefined;
}

function edgeId(e: EdgeLine): string {
  return `e${createHash("sha256")
    .update(canonicalJson([e.from, e.rel, e.to, e.properties]))
    .digest("hex")
    .slice(0, 16)}`;
}

/** Hops from the target over edges in either direction; owner and owned are 0 apart (0-1 BFS). */
function distances(target: string, nodes: Map<string, NodeLine>, edges: Map<string, EdgeLine>): Map<string, number> {
  const links = new Map<string, { to: string; cost: number }[]>();
  const link = (a: string, b: string, cost: number): void => {
    if (!nodes.has(a) || !nodes.has(b)) return;
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const list = links.get(x);
      if (list) list.push({ to: y, cost });
      else links.set(x, [{ to: y, cost }]);
    }
  };
  for (const e of edges.values()) link(e.from, e.to, 1);
  for (const n of nodes.values()) {
    const owner = ownerOf(n);
    if (owner) link(n.key, owner, 0);
  }
  const dist = new Map([[target, 0]]);
  const queue = [target];
  while (queue.length > 0) {
    const key = queue.shift()!;
    const d = dist.get(key)!;
    for (const { to, cost } of links.get(key) ?? []) {
      const nd = d + cost;
      if (nd < (dist.get(to) ?? Number.POSITIVE_INFINITY)) {
        dist.set(to, nd);
        if (cost === 0) queue.unshift(to);
        else queue.push(to);
      }
    }
  }
  return dist;
}
