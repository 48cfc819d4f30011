// "Who can VERB RESOURCE?": the subjects RBAC grants a request to, evaluated as the
// apiserver's RBAC authorizer does (a RoleBinding grants in its namespace, a
// ClusterRoleBinding everywhere), then the ServiceAccounts that hold it directly or
// through the groups every ServiceAccount is in, and what runs as those accounts.
import { refFromKey, type NodeRef, type RbacIndex } from "./rbac-index.js";
import { ruleAllows, type AccessRequest } from "./rbac-rule.js";

export interface Grant {
  binding: NodeRef;
  role: NodeRef;
  /** The namespace the binding grants in ("*": every namespace). */
  grantsIn: string;
  /** The role's rules that allow the request (canonical text). */
  rules: string[];
}

export interface SubjectAnswer {
  subject: NodeRef;
  grants: Grant[];
}

export interface AccountAnswer {
  account: NodeRef;
  /** Bound by name (a ServiceAccount subject, or the User named after it). */
  direct: boolean;
  /** Bound groups it is a member of: system:serviceaccounts[:NS], system:authenticated. */
  groups: string[];
}

export interface WhoCanAnswer {
  request: AccessRequest;
  /** Every subject of a binding that grants the request, sorted by key. */
  subjects: SubjectAnswer[];
  /** Every ServiceAccount in the graph that can (and any a binding names), sorted by key. */
  serviceAccounts: AccountAnswer[];
  /** Pods and workloads running as one of those ServiceAccounts. */
  runners: Array<{ runner: NodeRef; serviceAccount: string }>;
}

/** Groups every ServiceAccount of `namespace` is in (what the apiserver's token
 *  authenticator adds). */
export function serviceAccountGroups(namespace: string): string[] {
  return ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"];
}

const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

export function whoCan(index: RbacIndex, request: AccessRequest): WhoCanAnswer {
  const subjects = new Map<string, SubjectAnswer>();
  for (const binding of index.bindings) {
    for (const grant of binding.grants) {
      // A RoleBinding's grant holds in its namespace only; non-resource URLs and
      // cluster-wide requests are granted by ClusterRoleBindings alone.
      const holds = grant.grantsIn === "*" || (request.kind === "resource" && request.namespace === grant.grantsIn);
      if (!holds) continue;
      const role = index.roles.get(grant.roleKey);
      const rules = (role?.rules ?? []).filter((r) => ruleAllows(r.rule, request)).map((r) => r.text);
      if (!role || rules.length === 0) continue;
      for (const key of binding.subjectKeys) {
        const answer = subjects.get(key) ?? { subject: index.subjects.get(key) ?? refFromKey(key, false), grants: [] };
        answer.grants.push({ binding: binding.ref, role: role.ref, grantsIn: grant.grantsIn, rules });
        subjects.set(key, answer);
      }
    }
  }

  const groups = new Set([...subjects.values()].filter((s) => s.subject.label === "Group").map((s) => s.subject.name));
  const accounts = new Map<string, AccountAnswer>();
  for (const ref of index.subjects.values()) {
    if (ref.label !== "ServiceAccount") continue;
    const direct = subjects.has(ref.key);
    const via = ref.observed && ref.namespace !== null ? serviceAccountGroups(ref.namespace).filter((g) => groups.has(g)) : [];
    if (direct || via.length > 0) accounts.set(ref.key, { account: ref, direct, groups: via });
  }
  const runners = [...accounts.keys()].flatMap((serviceAccount) => (index.runsAs.get(serviceAccount) ?? []).map((runner) => ({ runner, serviceAccount })));
  return {
    request,
    subjects: [...subjects.values()].sort(byKey((s) => s.subject.key)),
    serviceAccounts: [...accounts.values()].sort(byKey((a) => a.account.key)),
    runners: runners.sort(byKey((r) => r.runner.key)),
  };
}

/** Whether the answer allows a user with these groups (as a SubjectAccessReview names
 *  them): one of the subjects is the user, one of its groups, or, for a ServiceAccount's
 *  user name, that ServiceAccount. */
export function answerAllows(answer: WhoCanAnswer, user: string, groups: readonly string[]): boolean {
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  return answer.subjects.some(({ subject }) => {
    if (subject.label === "Group") return groups.includes(subject.name);
    if (subject.label === "User") return subject.name === user;
    return account !== null && subject.label === "ServiceAccount" && subject.namespace === account[1] && subject.name === account[2];
  });
}
