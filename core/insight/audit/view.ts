// The audit's copy of the part of one cluster's graph its rules read: loaded with one
// GraphSink.subgraph read, then kept current with GraphSink.neighbourhood reads of just
// the objects that changed (the live audit), so that a change costs what it touches.
import type { ExportLine, GraphSink } from "../../graph/model.js";
import { indexRbac, RBAC_LABELS, RBAC_RELATIONSHIPS, refFromKey, type RbacIndex } from "../rbac-index.js";
import type { AuditRule, AuditView, ViewEdge, ViewNode } from "./model.js";

type NodeLine = Extract<ExportLine, { type: "node" }>;
type EdgeLine = Extract<ExportLine, { type: "edge" }>;

const SHARED = new Set(["ContainerImage", "Registry"]);
const pair = (key: string, rel: string): string => `${key}\u0000${rel}`;
const edgeId = (e: EdgeLine | ViewEdge): string => `${e.from}\u0000${e.rel}\u0000${e.to}\u0000${JSON.stringify(e.properties)}`;

function add<K, V>(map: Map<K, Map<string, V>>, key: K, id: string, value: V): void {
  const inner = map.get(key) ?? new Map<string, V>();
  if (inner.size === 0) map.set(key, inner);
  inner.set(id, value);
}

function drop<K>(map: Map<K, Map<string, unknown>>, key: K, id: string): void {
  const inner = map.get(key);
  if (!inner) return;
  inner.delete(id);
  if (inner.size === 0) map.delete(key);
}

export class AuditMirror implements AuditView {
  private readonly nodeMap = new Map<string, ViewNode>();
  private readonly byLabel = new Map<string, Map<string, ViewNode>>();
  private readonly nodesByOwner = new Map<string, Map<string, string>>();
  private readonly edges = new Map<string, ViewEdge>();
  private readonly outIndex = new Map<string, Map<string, ViewEdge>>();
  private readonly intoIndex = new Map<string, Map<string, ViewEdge>>();
  private readonly edgesByOwner = new Map<string, Map<string, string>>();
  private rbacIndex: RbacIndex | undefined;
  private versionMap: Map<string, string> | undefined;

  constructor(
    readonly cluster: string,
    private readonly labels: ReadonlySet<string>,
    private readonly rels: ReadonlySet<string>,
  ) {}

  /** What the copy holds: these labels and relationship types. */
  get labelsRead(): ReadonlySet<string> {
    return this.labels;
  }

  get relsRead(): ReadonlySet<string> {
    return this.rels;
  }

  node(key: string): ViewNode | undefined {
    return this.nodeMap.get(key);
  }

  nodes(label: string): readonly ViewNode[] {
    return [...(this.byLabel.get(label)?.values() ?? [])];
  }

  out(key: string, rel: string): readonly ViewEdge[] {
    return [...(this.outIndex.get(pair(key, rel))?.values() ?? [])];
  }

  into(key: string, rel: string): readonly ViewEdge[] {
    return [...(this.intoIndex.get(pair(key, rel))?.values() ?? [])];
  }

  get rbac(): RbacIndex {
    if (!this.rbacIndex) {
      // Sorted as a fresh read is: answers (and the grant they name first) must not depend
      // on the order changes arrived in.
      const lines: ExportLine[] = [];
      const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
      for (const label of RBAC_LABELS) {
        const nodes = [...(this.byLabel.get(label)?.values() ?? [])].map((n) => ({ key: n.ref.key, n })).sort(byKey);
        for (const { n } of nodes) lines.push({ type: "node", labels: [label], key: n.ref.key, properties: n.properties });
      }
      const edges = [...this.edges.entries()].filter(([, e]) => (RBAC_RELATIONSHIPS as readonly string[]).includes(e.rel)).map(([key, e]) => ({ key, e }));
      for (const { e } of edges.sort(byKey)) lines.push({ type: "edge", ...e });
      this.rbacIndex = indexRbac(lines, this.cluster);
    }
    return this.rbacIndex;
  }

  /** Per node key, a version of the node and its outgoing edges (`audit --watch` compares them). */
  get versions(): ReadonlyMap<string, string> {
    if (!this.versionMap) {
      const versions = new Map<string, string>();
      for (const [key, node] of this.nodeMap) versions.set(key, `${String(node.properties.resourceVersion ?? "")}/${node.ref.observed ? "o" : "p"}`);
      for (const e of this.edges.values()) versions.set(e.from, `${versions.get(e.from) ?? ""}|${e.rel}>${e.to}`);
      this.versionMap = versions;
    }
    return this.versionMap;
  }

  get size(): { nodes: number; edges: number } {
    return { nodes: this.nodeMap.size, edges: this.edges.size };
  }

  /** The copy as export lines, sorted (tests compare it with a fresh read). */
  toLines(): ExportLine[] {
    const nodes = [...this.nodeMap.values()]
      .sort((a, b) => (a.ref.key < b.ref.key ? -1 : a.ref.key > b.ref.key ? 1 : 0))
      .map((n): ExportLine => ({ type: "node", labels: [n.ref.label], key: n.ref.key, properties: n.properties }));
    const edges = [...this.edges.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]): ExportLine => ({ type: "edge", ...e }));
    return [...nodes, ...edges];
  }

  /** Everything, from a subgraph read. */
  load(lines: readonly ExportLine[]): this {
    for (const line of lines) if (line.type === "node") this.putNode(line);
    for (const line of lines) if (line.type === "edge") this.putEdge(line);
    this.changed();
    return this;
  }

  /** Brings the objects `keys` up to date from their neighbourhood (GraphSink.neighbourhood). */
  refresh(keys: readonly string[], lines: readonly ExportLine[]): void {
    const touched = new Set<string>();
    for (const key of keys) {
      for (const owned of [key, ...(this.nodesByOwner.get(key)?.keys() ?? [])]) this.removeNode(owned);
      for (const id of [...(this.edgesByOwner.get(key)?.keys() ?? [])]) touched.add(this.removeEdge(id));
      for (const rel of this.rels) for (const id of [...(this.intoIndex.get(pair(key, rel))?.keys() ?? [])]) touched.add(this.removeEdge(id));
    }
    for (const line of lines) if (line.type === "node") this.putNode(line);
    for (const line of lines) if (line.type === "edge") this.putEdge(line);
    // A placeholder an edge no longer points at is gone from the graph too (collected)
    // unless something outside this copy still uses it; either way no rule sees it.
    // With it go the links it starts (an image's registry), and so on down the chain.
    const queue = [...touched];
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      const node = this.nodeMap.get(key);
      if (!node || node.ref.observed || this.hasEdgesInto(key)) continue;
      this.removeNode(key);
      for (const rel of this.rels) for (const id of [...(this.outIndex.get(pair(key, rel))?.keys() ?? [])]) queue.push(this.removeEdge(id));
    }
    this.changed();
  }

  private changed(): void {
    this.rbacIndex = undefined;
    this.versionMap = undefined;
  }

  private mine(key: string, label: string): boolean {
    return key.startsWith(`${this.cluster}/`) || SHARED.has(label);
  }

  private putNode(line: NodeLine): void {
    const label = line.labels[0] ?? "";
    if (!this.labels.has(label) || !this.mine(line.key, label)) return;
    this.removeNode(line.key);
    const fromKey = refFromKey(line.key);
    const p = line.properties;
    const node: ViewNode = {
      ref: {
        label,
        key: line.key,
        namespace: typeof p.namespace === "string" ? p.namespace : SHARED.has(label) ? null : fromKey.namespace,
        name: typeof p.name === "string" ? p.name : typeof p.reference === "string" ? p.reference : fromKey.name,
        observed: p.observed !== false,
      },
      properties: p,
    };
    this.nodeMap.set(line.key, node);
    add(this.byLabel, label, line.key, node);
    if (typeof p.owner === "string") add(this.nodesByOwner, p.owner, line.key, line.key);
  }

  private removeNode(key: string): void {
    const node = this.nodeMap.get(key);
    if (!node) return;
    this.nodeMap.delete(key);
    drop(this.byLabel, node.ref.label, key);
    if (typeof node.properties.owner === "string") drop(this.nodesByOwner, node.properties.owner, key);
  }

  private putEdge(line: EdgeLine): void {
    if (!this.rels.has(line.rel) || !this.nodeMap.has(line.from)) return;
    const edge: ViewEdge = { rel: line.rel, from: line.from, to: line.to, properties: line.properties };
    const id = edgeId(edge);
    this.edges.set(id, edge);
    add(this.outIndex, pair(edge.from, edge.rel), id, edge);
    add(this.intoIndex, pair(edge.to, edge.rel), id, edge);
    if (typeof edge.properties.owner === "string") add(this.edgesByOwner, edge.properties.owner, id, id);
  }

  /** Removes an edge; returns the key it pointed at. */
  private removeEdge(id: string): string {
    const edge = this.edges.get(id);
    if (!edge) return "";
    this.edges.delete(id);
    drop(this.outIndex, pair(edge.from, edge.rel), id);
    drop(this.intoIndex, pair(edge.to, edge.rel), id);
    if (typeof edge.properties.owner === "string") drop(this.edgesByOwner, edge.properties.owner, id);
    return edge.to;
  }

  private hasEdgesInto(key: string): boolean {
    for (const rel of this.rels) if (this.intoIndex.has(pair(key, rel))) return true;
    return false;
  }
}

/** The labels and relationship types the rules read, plus the RBAC every who-can based rule needs. */
export function auditReads(rules: readonly AuditRule[]): { labels: Set<string>; rels: Set<string> } {
  const labels = new Set<string>(RBAC_LABELS);
  const rels = new Set<string>(RBAC_RELATIONSHIPS);
  for (const rule of rules) {
    for (const l of rule.reads.labels) labels.add(l);
    for (const r of rule.reads.rels) rels.add(r);
  }
  return { labels, rels };
}

/** One read of what the rules need. */
export async function readView(sink: GraphSink, cluster: string, rules: readonly AuditRule[]): Promise<AuditMirror> {
  const { labels, rels } = auditReads(rules);
  return new AuditMirror(cluster, labels, rels).load(await sink.subgraph([...labels], [...rels]));
}

/** What changed between two reads, described for people: graph key → description. */
export function viewChanges(before: AuditView | undefined, after: AuditView): Map<string, string> {
  const changes = new Map<string, string>();
  if (!before) return changes;
  const describe = (view: AuditView, key: string): string => {
    const node = view.node(key);
    return node ? `${node.ref.label} ${node.ref.namespace ? `${node.ref.namespace}/` : ""}${node.ref.name}` : key;
  };
  for (const [key, version] of after.versions) {
    const old = before.versions.get(key);
    if (old === undefined) changes.set(key, `${describe(after, key)} added`);
    else if (old !== version)
      changes.set(key, `${describe(after, key)} changed (resourceVersion ${String(after.node(key)?.properties.resourceVersion ?? "-")})`);
  }
  for (const key of before.versions.keys()) if (!after.versions.has(key)) changes.set(key, `${describe(before, key)} removed`);
  return changes;
}
