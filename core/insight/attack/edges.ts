// Attack edges: what an identity or a foothold can reach in one step, derived from RBAC,
// pods and nodes in the graph (docs/graph-schema.md, "Attack edges"). Each derivation is
// per source (a ServiceAccount's, a pod's, a node's edges), so that a change is re-derived
// for the sources it affects, not for the whole graph.
import { DERIVED_RELATIONSHIPS } from "../../graph/model.js";
import { escapesToNode } from "../audit/rules/host-path.js";
import type { AuditView, ViewNode } from "../audit/model.js";
import type { AccessRequest } from "../rbac-rule.js";
import { whoCan, type WhoCanAnswer } from "../who-can.js";

export interface AttackEdge {
  rel: AttackRel;
  from: string;
  to: string;
  /** How: the binding and role, or the pod property, that make the step. */
  how: string;
}

/** Every attack edge type. */
export const ATTACK_RELS = DERIVED_RELATIONSHIPS;

export type AttackRel =
  | "CAN_READ_SECRET"
  | "CAN_CREATE_PODS_IN"
  | "CAN_EXEC_INTO"
  | "CAN_ESCALATE_TO"
  | "IS_CLUSTER_ADMIN"
  | "CAN_ESCAPE_TO"
  | "HOLDS_TOKEN_OF"
  | "USES_TOKEN_OF"
  | "CAN_MOUNT";

export const CLUSTER_ADMIN = (cluster: string): string => `${cluster}/ClusterRole/cluster-admin`;
export const namespaceKey = (cluster: string, namespace: string): string => `${cluster}/Namespace/${namespace}`;

const request = (
  verb: string,
  resource: string,
  namespace: string | null,
  options: { group?: string; subresource?: string; name?: string } = {},
): AccessRequest => ({
  kind: "resource",
  verb,
  group: options.group ?? "",
  resource,
  subresource: options.subresource ?? "",
  namespace,
  name: options.name ?? "",
});

/** Per ServiceAccount key, how the answer grants it (the first grant; direct or by group). */
function accountsOf(view: AuditView, answer: WhoCanAnswer): Map<string, string> {
  const grants = new Map(answer.subjects.map((s) => [s.subject.key, s.grants[0]]));
  const out = new Map<string, string>();
  for (const a of answer.serviceAccounts) {
    const viaGroup = a.groups.find((g) => grants.has(`${view.cluster}/Group/${g}`));
    const grant = a.direct ? grants.get(a.account.key) : viaGroup ? grants.get(`${view.cluster}/Group/${viaGroup}`) : undefined;
    if (!grant) continue;
    const by = `${grant.binding.label} ${grant.binding.namespace ? `${grant.binding.namespace}/` : ""}${grant.binding.name} → ${grant.role.label} ${grant.role.name}`;
    out.set(a.account.key, viaGroup && !a.direct ? `group ${viaGroup}: ${by}` : by);
  }
  return out;
}

const observed = (nodes: readonly ViewNode[]): ViewNode[] => nodes.filter((n) => n.ref.observed);

/** Every attack edge of the view: the namespaces' edges, the cluster-wide ones and the pods'. */
export function deriveAttackEdges(view: AuditView): AttackEdge[] {
  const index = indexNamespaces(view);
  return [
    ...[...index.namespaces].flatMap((ns) => deriveNamespaceEdges(view, ns, index)),
    ...deriveClusterEdges(view),
    ...observed(view.nodes("Pod")).flatMap((pod) => derivePodEdges(view, pod)),
    ...[...scheduledNodes(view)].flatMap((node) => deriveNodeEdges(view, node)),
  ];
}

export interface NamespaceIndex {
  namespaces: Set<string>;
  secrets: Map<string, ViewNode[]>;
  pods: Map<string, ViewNode[]>;
  accounts: Map<string, ViewNode[]>;
}

export function indexNamespaces(view: AuditView): NamespaceIndex {
  const index: NamespaceIndex = { namespaces: new Set(), secrets: new Map(), pods: new Map(), accounts: new Map() };
  for (const [label, map] of [
    ["Secret", index.secrets],
    ["Pod", index.pods],
    ["ServiceAccount", index.accounts],
  ] as const) {
    for (const n of observed(view.nodes(label))) {
      const ns = n.ref.namespace!;
      index.namespaces.add(ns);
      const list = map.get(ns);
      if (list) list.push(n);
      else map.set(ns, [n]);
    }
  }
  return index;
}

/** One namespace's edges: who reads its Secrets, creates or execs into its pods, and what a
 *  pod created there can mount. A change to a Role, a RoleBinding, a Secret, a pod or an
 *  account of the namespace re-derives these alone. */
export function deriveNamespaceEdges(view: AuditView, ns: string, index: NamespaceIndex): AttackEdge[] {
  const edges: AttackEdge[] = [];
  const cluster = view.cluster;
  // Read a Secret: get it (by its name, or any name). The unnamed answer covers every
  // Secret; rules with resourceNames add to it per name.
  const anyName = accountsOf(view, whoCan(view.rbac, request("get", "secrets", ns)));
  const named = hasResourceNames(view);
  for (const secret of index.secrets.get(ns) ?? []) {
    const readers = named ? accountsOf(view, whoCan(view.rbac, request("get", "secrets", ns, { name: secret.ref.name }))) : anyName;
    for (const [sa, how] of readers) edges.push({ rel: "CAN_READ_SECRET", from: sa, to: secret.ref.key, how });
  }
  // Create pods: then mount any Secret and run as any ServiceAccount of the namespace.
  for (const [sa, how] of accountsOf(view, whoCan(view.rbac, request("create", "pods", ns)))) {
    edges.push({ rel: "CAN_CREATE_PODS_IN", from: sa, to: namespaceKey(cluster, ns), how });
  }
  // Exec into a pod: its token and its mounts are the caller's.
  const exec = accountsOf(view, whoCan(view.rbac, request("create", "pods", ns, { subresource: "exec" })));
  for (const pod of index.pods.get(ns) ?? []) for (const [sa, how] of exec) edges.push({ rel: "CAN_EXEC_INTO", from: sa, to: pod.ref.key, how });
  // What a pod created in the namespace can mount or run as.
  for (const secret of index.secrets.get(ns) ?? [])
    edges.push({ rel: "CAN_MOUNT", from: namespaceKey(cluster, ns), to: secret.ref.key, how: "a new pod's volume" });
  for (const account of index.accounts.get(ns) ?? [])
    edges.push({ rel: "CAN_MOUNT", from: namespaceKey(cluster, ns), to: account.ref.key, how: "a new pod's serviceAccountName" });
  return edges;
}

// Whether any rule names objects (then Secret readers are worked out per Secret).
function hasResourceNames(view: AuditView): boolean {
  for (const role of view.rbac.roles.values()) if (role.rules.some((r) => r.rule.resourceNames.length > 0)) return true;
  return false;
}

/** Cluster-wide edges: cluster-admin (every verb on everything, whatever the role is called)
 *  or a way to it (bind or escalate ClusterRoles, impersonate users, groups or accounts).
 *  A change to a ClusterRole or ClusterRoleBinding re-derives these, and the namespaces'. */
export function deriveClusterEdges(view: AuditView): AttackEdge[] {
  const edges: AttackEdge[] = [];
  const cluster = view.cluster;
  for (const [sa, how] of accountsOf(view, whoCan(view.rbac, request("*", "*", null, { group: "*" })))) {
    edges.push({ rel: "IS_CLUSTER_ADMIN", from: sa, to: CLUSTER_ADMIN(cluster), how });
  }
  const escalations: Array<[string, AccessRequest]> = [
    ["bind ClusterRoles", request("bind", "clusterroles", null, { group: "rbac.authorization.k8s.io" })],
    ["escalate ClusterRoles", request("escalate", "clusterroles", null, { group: "rbac.authorization.k8s.io" })],
    ["impersonate groups", request("impersonate", "groups", null)],
    ["impersonate users", request("impersonate", "users", null)],
    ["impersonate ServiceAccounts", request("impersonate", "serviceaccounts", null)],
  ];
  const escalating = new Map<string, string>();
  for (const [what, req] of escalations)
    for (const [sa, how] of accountsOf(view, whoCan(view.rbac, req))) if (!escalating.has(sa)) escalating.set(sa, `${what}: ${how}`);
  for (const [sa, how] of escalating) edges.push({ rel: "CAN_ESCALATE_TO", from: sa, to: CLUSTER_ADMIN(cluster), how });
  return edges;
}

/** One pod's edges: a privileged, host-PID or host-root pod is its node; a pod holds its
 *  own account's token. A change to the pod (or its account) re-derives these alone. */
export function derivePodEdges(view: AuditView, pod: ViewNode): AttackEdge[] {
  const edges: AttackEdge[] = [];
  if (tokenMounted(view, pod))
    for (const e of view.out(pod.ref.key, "RUNS_AS")) edges.push({ rel: "USES_TOKEN_OF", from: pod.ref.key, to: e.to, how: "its token is mounted" });
  const escapes = escapeReason(view, pod);
  if (escapes)
    for (const { to: node } of view.out(pod.ref.key, "SCHEDULED_ON")) edges.push({ rel: "CAN_ESCAPE_TO", from: pod.ref.key, to: node, how: escapes });
  return edges;
}

/** One node's edges: it holds the tokens of the pods scheduled on it. A change to one of
 *  those pods (or their accounts) re-derives these. */
export function deriveNodeEdges(view: AuditView, nodeKey: string): AttackEdge[] {
  const edges: AttackEdge[] = [];
  for (const { from } of view.into(nodeKey, "SCHEDULED_ON")) {
    const pod = view.node(from);
    if (!pod?.ref.observed || !tokenMounted(view, pod)) continue;
    for (const e of view.out(from, "RUNS_AS")) edges.push({ rel: "HOLDS_TOKEN_OF", from: nodeKey, to: e.to, how: `pod ${pod.ref.namespace}/${pod.ref.name}` });
  }
  return edges;
}

/** The nodes pods are scheduled on (observed or not: the sink keeps edges to observed ones). */
export function scheduledNodes(view: AuditView): Set<string> {
  const nodes = new Set<string>();
  for (const pod of view.nodes("Pod")) for (const e of view.out(pod.ref.key, "SCHEDULED_ON")) nodes.add(e.to);
  return nodes;
}

function tokenMounted(view: AuditView, pod: ViewNode): boolean {
  const podSays = pod.properties.automountServiceAccountToken;
  if (typeof podSays === "boolean") return podSays;
  const account = view.out(pod.ref.key, "RUNS_AS").map((e) => view.node(e.to))[0];
  return account?.properties.automountServiceAccountToken !== false;
}

function escapeReason(view: AuditView, pod: ViewNode): string | null {
  if (pod.properties.privileged === true) return "privileged";
  if (pod.properties.hostPID === true) return "hostPID";
  for (const uses of view.out(pod.ref.key, "USES_VOLUME")) {
    const volume = view.node(uses.to);
    const path = volume?.properties.hostPath;
    if (volume?.properties.type === "hostPath" && typeof path === "string" && escapesToNode(path)) return `hostPath ${path}`;
  }
  return null;
}

/** What the derivation reads, beyond RBAC. */
export const ATTACK_READS = {
  labels: ["Pod", "Volume", "Secret", "ServiceAccount", "Node", "Namespace"],
  rels: ["RUNS_AS", "USES_VOLUME", "SCHEDULED_ON"],
} as const;
