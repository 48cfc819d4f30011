// Builds the audit's view of one cluster from a single GraphSink.subgraph read.
import type { ExportLine, GraphSink } from "../../graph/model.js";
import { indexRbac, RBAC_LABELS, RBAC_RELATIONSHIPS, refFromKey } from "../rbac-index.js";
import type { AuditRule, AuditView, ViewEdge, ViewNode } from "./model.js";

export function buildView(lines: readonly ExportLine[], cluster: string): AuditView {
  const nodes = new Map<string, ViewNode>();
  const byLabel = new Map<string, ViewNode[]>();
  const out = new Map<string, ViewEdge[]>();
  const into = new Map<string, ViewEdge[]>();
  const push = <T>(map: Map<string, T[]>, key: string, value: T): void => {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  // Images and registries are shared by clusters (their keys name no cluster).
  const mine = (key: string, label: string): boolean => key.startsWith(`${cluster}/`) || label === "ContainerImage" || label === "Registry";
  for (const line of lines) {
    if (line.type !== "node") continue;
    const label = line.labels[0] ?? "";
    if (!mine(line.key, label)) continue;
    const fromKey = refFromKey(line.key);
    const p = line.properties;
    const node: ViewNode = {
      ref: {
        label,
        key: line.key,
        namespace: typeof p.namespace === "string" ? p.namespace : label === "ContainerImage" || label === "Registry" ? null : fromKey.namespace,
        name: typeof p.name === "string" ? p.name : typeof p.reference === "string" ? p.reference : fromKey.name,
        observed: p.observed !== false,
      },
      properties: p,
    };
    nodes.set(line.key, node);
    push(byLabel, label, node);
  }
  for (const line of lines) {
    if (line.type !== "edge" || !nodes.has(line.from)) continue;
    const edge: ViewEdge = { rel: line.rel, from: line.from, to: line.to, properties: line.properties };
    push(out, `${line.from}\u0000${line.rel}`, edge);
    push(into, `${line.to}\u0000${line.rel}`, edge);
  }
  const rbac = indexRbac(lines, cluster);
  const versions = new Map<string, string>();
  for (const [key, node] of nodes) versions.set(key, `${String(node.properties.resourceVersion ?? "")}/${node.ref.observed ? "o" : "p"}`);
  for (const edges of out.values()) for (const e of edges) versions.set(e.from, `${versions.get(e.from) ?? ""}|${e.rel}>${e.to}`);
  return {
    cluster,
    node: (key) => nodes.get(key),
    nodes: (label) => byLabel.get(label) ?? [],
    out: (key, rel) => out.get(`${key}\u0000${rel}`) ?? [],
    into: (key, rel) => into.get(`${key}\u0000${rel}`) ?? [],
    rbac,
    versions,
  };
}

/** What the rules read, plus the RBAC every who-can based rule needs, in one read. */
export async function readView(sink: GraphSink, cluster: string, rules: readonly AuditRule[]): Promise<AuditView> {
  const labels = new Set<string>(RBAC_LABELS);
  const rels = new Set<string>(RBAC_RELATIONSHIPS);
  for (const rule of rules) {
    for (const l of rule.reads.labels) labels.add(l);
    for (const r of rule.reads.rels) rels.add(r);
  }
  return buildView(await sink.subgraph([...labels], [...rels]), cluster);
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
