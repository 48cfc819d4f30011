// The RBAC part of one cluster's graph, indexed for questions: roles with their parsed
// rules, bindings with where they grant and to whom, the ServiceAccounts, Users and Groups
// bindings name, and what runs as each ServiceAccount (RUNS_AS from pods and workloads).
// Read with one GraphSink.subgraph call, so it costs what the RBAC objects cost, not the
// whole graph.
import type { ExportLine, GraphSink } from "../graph/model.js";
import { parseRuleText, type PolicyRule } from "./rbac-rule.js";

export interface NodeRef {
  label: string;
  key: string;
  namespace: string | null;
  name: string;
  /** false: a placeholder (referenced, e.g. by a binding, but not in the cluster). */
  observed: boolean;
}

export interface IndexedRole {
  ref: NodeRef;
  rules: Array<{ text: string; rule: PolicyRule }>;
}

export interface IndexedBinding {
  ref: NodeRef;
  /** The role and the namespace its permissions hold in ("*": everywhere). */
  grants: Array<{ roleKey: string; grantsIn: string }>;
  subjectKeys: string[];
}

export interface RbacIndex {
  cluster: string;
  roles: Map<string, IndexedRole>;
  bindings: IndexedBinding[];
  /** ServiceAccount, User and Group nodes. */
  subjects: Map<string, NodeRef>;
  /** ServiceAccount key → what runs as it. */
  runsAs: Map<string, NodeRef[]>;
  /** Rule texts that did not parse (reported, never guessed at). */
  unreadableRules: Array<{ role: string; text: string }>;
}

export const RBAC_LABELS = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "User", "Group"] as const;
export const RBAC_RELATIONSHIPS = ["GRANTS", "SUBJECT", "RUNS_AS"] as const;

// Keys are cluster/namespace/Kind/name or cluster/Kind/name (names have no "/"): what a
// RUNS_AS source is, read from its key alone, so that pods are not read in full.
export function refFromKey(key: string, observed = true): NodeRef {
  const parts = key.split("/");
  if (parts.length === 4) return { label: parts[2]!, key, namespace: parts[1]!, name: parts[3]!, observed };
  if (parts.length === 3) return { label: parts[1]!, key, namespace: null, name: parts[2]!, observed };
  return { label: "", key, namespace: null, name: key, observed };
}

function refOf(line: Extract<ExportLine, { type: "node" }>): NodeRef {
  const fromKey = refFromKey(line.key);
  const p = line.properties;
  return {
    label: line.labels[0] ?? fromKey.label,
    key: line.key,
    namespace: typeof p.namespace === "string" ? p.namespace : fromKey.namespace,
    name: typeof p.name === "string" ? p.name : fromKey.name,
    observed: p.observed !== false,
  };
}

export function indexRbac(lines: readonly ExportLine[], cluster: string): RbacIndex {
  const mine = (key: string): boolean => key.startsWith(`${cluster}/`);
  const index: RbacIndex = { cluster, roles: new Map(), bindings: [], subjects: new Map(), runsAs: new Map(), unreadableRules: [] };
  const bindings = new Map<string, IndexedBinding>();
  for (const line of lines) {
    if (line.type !== "node" || !mine(line.key)) continue;
    const ref = refOf(line);
    if (ref.label === "Role" || ref.label === "ClusterRole") {
      const texts = Array.isArray(line.properties.rules) ? line.properties.rules.map(String) : [];
      const rules: IndexedRole["rules"] = [];
      for (const text of texts) {
        const rule = parseRuleText(text);
        if (rule) rules.push({ text, rule });
        else index.unreadableRules.push({ role: ref.key, text });
      }
      index.roles.set(ref.key, { ref, rules });
    } else if (ref.label === "RoleBinding" || ref.label === "ClusterRoleBinding") {
      bindings.set(ref.key, { ref, grants: [], subjectKeys: [] });
    } else if (ref.label === "ServiceAccount" || ref.label === "User" || ref.label === "Group") {
      index.subjects.set(ref.key, ref);
    }
  }
  for (const line of lines) {
    if (line.type !== "edge" || !mine(line.from)) continue;
    if (line.rel === "GRANTS") {
      const grantsIn = typeof line.properties.grantsIn === "string" ? line.properties.grantsIn : null;
      if (grantsIn !== null) bindings.get(line.from)?.grants.push({ roleKey: line.to, grantsIn });
    } else if (line.rel === "SUBJECT") {
      bindings.get(line.from)?.subjectKeys.push(line.to);
    } else if (line.rel === "RUNS_AS") {
      const runners = index.runsAs.get(line.to) ?? [];
      runners.push(refFromKey(line.from));
      index.runsAs.set(line.to, runners);
    }
  }
  index.bindings = [...bindings.values()];
  return index;
}

/** Reads and indexes one cluster's RBAC from a sink. */
export async function readRbacIndex(sink: Pick<GraphSink, "subgraph">, cluster: string): Promise<RbacIndex> {
  return indexRbac(await sink.subgraph(RBAC_LABELS, RBAC_RELATIONSHIPS), cluster);
}
