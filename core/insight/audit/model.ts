// The audit's vocabulary: a rule (one module under rules/: what it reads and how it finds),
// a finding (the rule, the object, and the path in the graph that proves it), and the
// read-only view of the graph the rules look at.
import type { NodeRef, RbacIndex } from "../rbac-index.js";

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  rule: string;
  severity: Severity;
  /** The object the finding is about. */
  object: NodeRef;
  message: string;
  /** The graph path that proves it, as "Label ns/name" steps and -[REL]-> hops. */
  path: string[];
  /** The keys of the nodes on the path (the object's first): a change to one of them is
   *  what makes the finding appear or clear. */
  keys: string[];
}

export interface AuditOptions {
  /** Registries images may come from; empty: no allow list (the rule is off). */
  allowedRegistries: readonly string[];
  /** Whether the config observes this label in this namespace (null: cluster-scoped): a
   *  placeholder of an observed kind is a reference to something missing. */
  observes(label: string, namespace: string | null): boolean;
}

export interface ViewNode {
  ref: NodeRef;
  properties: Record<string, unknown>;
}

export interface ViewEdge {
  rel: string;
  from: string;
  to: string;
  properties: Record<string, unknown>;
}

/** The part of one cluster's graph the enabled rules read, indexed both ways. */
export interface AuditView {
  cluster: string;
  node(key: string): ViewNode | undefined;
  nodes(label: string): readonly ViewNode[];
  out(key: string, rel: string): readonly ViewEdge[];
  into(key: string, rel: string): readonly ViewEdge[];
  rbac: RbacIndex;
  /** Per node key, a version of the node and its outgoing edges (what `audit --watch`
   *  compares between two reads to name what changed). */
  versions: ReadonlyMap<string, string>;
}

export interface AuditRule {
  id: string;
  severity: Severity;
  title: string;
  /** Why it matters and what to do, for SARIF's help text and `audit --help-rules`. */
  help: string;
  /** Node labels and edge types the rule reads (the audit reads their union once). */
  reads: { labels: readonly string[]; rels: readonly string[] };
  find(view: AuditView, options: AuditOptions): Finding[];
}

/** "Pod ns/name", "ClusterRole name". */
export function step(ref: NodeRef): string {
  return `${ref.label} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}

/** Grants Kubernetes creates itself (the apiserver's RBAC bootstrap) are the platform's,
 *  not findings: rules that judge bindings and roles leave them out. */
export const BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping=rbac-defaults";

export function isBootstrap(view: AuditView, key: string): boolean {
  const labels = view.node(key)?.properties.labels;
  return Array.isArray(labels) && labels.includes(BOOTSTRAP_LABEL);
}

export function edgeNote(properties: Record<string, unknown>, fields: readonly string[]): string {
  const parts = fields.filter((f) => properties[f] !== undefined && properties[f] !== null).map((f) => `${f}=${String(properties[f])}`);
  return parts.length > 0 ? ` ${parts.join(" ")}` : "";
}
