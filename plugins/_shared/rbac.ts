// RBAC, shared by role/clusterrole (rules as canonical text plus what an auditor looks for
// first) and rolebinding/clusterrolebinding (who is granted which role, where).
import type { KubeObject } from "../../core/messages.js";
import { asArray, field, metadataProperties, objectReference, reduceMetadata, type ReducedMetadata } from "../../core/plugin/sdk.js";
import type { GraphContext, GraphEdgeSpec, GraphFragment, GraphLookup, GraphNodeSpec, GraphSelectorRequirement } from "../../core/plugin/types.js";

type Raw = Record<string, unknown>;

export interface ReducedRule {
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
  verbs: string[];
}

/** Sorted (by code point) and without duplicates: a rule is a set of each. */
const set = (value: unknown): string[] => [...new Set(asArray<unknown>(value).map(String))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export function reduceRules(object: unknown): ReducedRule[] {
  return asArray<Raw>(field(object, "rules")).map((r) => ({
    apiGroups: set(r.apiGroups),
    resources: set(r.resources),
    resourceNames: set(r.resourceNames),
    nonResourceURLs: set(r.nonResourceURLs),
    verbs: set(r.verbs),
  }));
}

/**
 * One rule as stable text; lists sorted, the core API group written "":
 *   apiGroups=["",apps] resources=[pods,secrets] resourceNames=[] verbs=[get,list]
 *   nonResourceURLs=[/healthz,/metrics] verbs=[get]          (a non-resource rule)
 * A rule with both resources and URLs (the API refuses it) shows all five fields.
 */
export function ruleText(rule: ReducedRule): string {
  const list = (items: string[]): string => `[${items.map((i) => (i === "" ? '""' : i)).join(",")}]`;
  const urlsOnly = rule.nonResourceURLs.length > 0 && rule.apiGroups.length === 0 && rule.resources.length === 0 && rule.resourceNames.length === 0;
  const parts = urlsOnly ? [] : [`apiGroups=${list(rule.apiGroups)}`, `resources=${list(rule.resources)}`, `resourceNames=${list(rule.resourceNames)}`];
  if (rule.nonResourceURLs.length > 0) parts.push(`nonResourceURLs=${list(rule.nonResourceURLs)}`);
  parts.push(`verbs=${list(rule.verbs)}`);
  return parts.join(" ");
}

const any = (items: string[], wanted: string[]): boolean => items.some((i) => wanted.includes(i));

/** get/list/watch (or "*") on secrets (or "*") in the core group (or "*"). */
export function readsSecrets(rule: ReducedRule): boolean {
  return any(rule.verbs, ["get", "list", "watch", "*"]) && any(rule.resources, ["secrets", "*"]) && any(rule.apiGroups, ["", "*"]);
}

// Any "*" in verbs, resources (also in "pods/*" or "*/scale") or apiGroups.
export function isWildcard(rule: ReducedRule): boolean {
  return [...rule.verbs, ...rule.resources, ...rule.apiGroups].some((i) => i.includes("*"));
}

/** escalate, bind or impersonate, by name or through "*" verbs on what they apply to. */
export function escalates(rule: ReducedRule): boolean {
  if (any(rule.verbs, ["escalate", "bind", "impersonate"])) return true;
  return rule.verbs.includes("*") && any(rule.resources, ["*", "roles", "clusterroles", "users", "groups", "serviceaccounts"]);
}

/** Node properties of a Role or ClusterRole. */
export function ruleProperties(rules: ReducedRule[]): Record<string, string[] | boolean> {
  return {
    rules: rules.map(ruleText),
    readsSecrets: rules.some(readsSecrets),
    wildcard: rules.some(isWildcard),
    escalates: rules.some(escalates),
  };
}

export interface ReducedLabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: GraphSelectorRequirement[];
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

/** A LabelSelector, or null if it has an operator the API would refuse (dropping just
 *  that requirement would select more than the selector does). */
export function reduceLabelSelector(selector: unknown): ReducedLabelSelector | null {
  const matchExpressions: GraphSelectorRequirement[] = [];
  for (const e of asArray<Raw>(field(selector, "matchExpressions"))) {
    if (typeof e.operator !== "string" || !OPERATORS.has(e.operator)) return null;
    const operator = e.operator as GraphSelectorRequirement["operator"];
    const requirement: GraphSelectorRequirement = { key: String(e.key ?? ""), operator };
    if (operator === "In" || operator === "NotIn") requirement.values = set(e.values);
    matchExpressions.push(requirement);
  }
  return { matchLabels: { ...(field<Record<string, string>>(selector, "matchLabels") ?? {}) }, matchExpressions };
}

/** Kubernetes' own text for a selector: "a=b,c in (d,e),f,!g" ("" selects everything). */
export function selectorText(s: ReducedLabelSelector): string {
  const labels = Object.keys(s.matchLabels)
    .sort()
    .map((k) => `${k}=${s.matchLabels[k]}`);
  const expressions = s.matchExpressions.map((e) => {
    if (e.operator === "Exists") return e.key;
    if (e.operator === "DoesNotExist") return `!${e.key}`;
    return `${e.key} ${e.operator === "In" ? "in" : "notin"} (${(e.values ?? []).join(",")})`;
  });
  return [...labels, ...expressions].join(",");
}

export interface ReducedBinding {
  metadata: ReducedMetadata;
  roleRef: { kind: string; name: string };
  subjects: Array<{ kind: string; name: string; namespace: string | null }>;
}

export function reduceBinding(object: KubeObject): ReducedBinding {
  return {
    metadata: reduceMetadata(object),
    roleRef: { kind: String(field(object, "roleRef", "kind") ?? ""), name: String(field(object, "roleRef", "name") ?? "") },
    subjects: asArray<Raw>(object.subjects).map((s) => ({
      kind: String(s.kind ?? ""),
      name: String(s.name ?? ""),
      namespace: typeof s.namespace === "string" && s.namespace !== "" ? s.namespace : null,
    })),
  };
}

export const BINDING_RELATIONSHIPS = ["GRANTS", "SUBJECT"];
export const BINDING_TARGET_LABELS = ["Role", "ClusterRole", "ServiceAccount", "User", "Group"];

/** Users and groups are never observed (Kubernetes has no such objects); these find the
 *  bindings that name one: `who-uses user alice`, `who-uses group system:masters`. */
export const BINDING_LOOKUPS: Record<string, GraphLookup> = {
  user: { label: "User", namespaced: false, key: (name, ctx) => ctx.objectKey("User", null, name) },
  group: { label: "Group", namespaced: false, key: (name, ctx) => ctx.objectKey("Group", null, name) },
};

// The user name a ServiceAccount authenticates as.
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/**
 * (binding)-[:GRANTS {kind, grantsIn}]->(Role|ClusterRole) and
 * (binding)-[:SUBJECT {kind}]->(ServiceAccount|User|Group). `namespace` is a RoleBinding's
 * (its grants hold there; a ServiceAccount subject defaults to it), null for a
 * ClusterRoleBinding (grants hold everywhere: grantsIn "*").
 */
export function bindingGraph(binding: ReducedBinding, ctx: GraphContext, namespace: string | null): GraphFragment {
  const references = new Map<string, GraphNodeSpec>();
  const refer = (kind: string, ns: string | null, name: string): string => {
    const node = objectReference(ctx, kind, ns, name);
    if (!references.has(node.key)) references.set(node.key, node);
    return node.key;
  };
  const edges: GraphEdgeSpec[] = [];
  const { roleRef } = binding;
  // A ClusterRoleBinding cannot grant a Role (the API refuses it); the roleRef property says what was asked.
  const role =
    roleRef.name && roleRef.kind === "ClusterRole"
      ? refer("ClusterRole", null, roleRef.name)
      : roleRef.name && roleRef.kind === "Role" && namespace
        ? refer("Role", namespace, roleRef.name)
        : null;
  if (role) edges.push({ type: "GRANTS", to: role, properties: { kind: roleRef.kind, grantsIn: namespace ?? "*" } });

  const subjects: string[] = [];
  for (const s of binding.subjects) {
    let target: string | null = null;
    let shown = s.name;
    const sa = s.kind === "User" ? SERVICE_ACCOUNT_USER.exec(s.name) : null;
    if (s.kind === "ServiceAccount") {
      // Required on a ClusterRoleBinding's ServiceAccount subjects; a RoleBinding's default.
      const ns = s.namespace ?? namespace;
      if (ns && s.name) target = refer("ServiceAccount", ns, s.name);
      if (ns) shown = `${ns}/${s.name}`;
    } else if (sa) {
      // That user name is the ServiceAccount: bind to it, and the account has the role.
      target = refer("ServiceAccount", sa[1]!, sa[2]!);
    } else if ((s.kind === "User" || s.kind === "Group") && s.name) {
      target = refer(s.kind, null, s.name);
    }
    subjects.push(`${s.kind}:${shown}`);
    if (target) edges.push({ type: "SUBJECT", to: target, properties: { kind: s.kind } });
  }
  return {
    properties: { ...metadataProperties(binding.metadata), roleRef: `${roleRef.kind}/${roleRef.name}`, subjects },
    references: [...references.values()],
    edges,
  };
}
