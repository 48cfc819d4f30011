// Shared by the RBAC rules: which ServiceAccounts a who-can answer arms, leaving out grants
// of Kubernetes' own bootstrap bindings, with the path that proves each.
import type { NodeRef } from "../../rbac-index.js";
import type { AccessRequest } from "../../rbac-rule.js";
import { whoCan, type Grant } from "../../who-can.js";
import { isBootstrap, step, type AuditView } from "../model.js";

export interface ArmedAccount {
  account: NodeRef;
  /** How: [group …,] binding → role: rule. */
  path: string[];
  /** The account, binding and role. */
  keys: string[];
}

export function grantPath(grant: Grant): string[] {
  return [`-[SUBJECT]-`, step(grant.binding), "-[GRANTS]->", `${step(grant.role)}: ${grant.rules[0] ?? ""}`];
}

/** The ServiceAccounts the request is granted to by a binding that is not a bootstrap one. */
export function armedAccounts(view: AuditView, request: AccessRequest): ArmedAccount[] {
  const answer = whoCan(view.rbac, request);
  const grantsOf = new Map(answer.subjects.map((s) => [s.subject.key, s.grants.filter((g) => !isBootstrap(view, g.binding.key))]));
  const armed: ArmedAccount[] = [];
  for (const a of answer.serviceAccounts) {
    const direct = a.direct ? (grantsOf.get(a.account.key) ?? []) : [];
    if (direct[0]) {
      armed.push({ account: a.account, path: [step(a.account), ...grantPath(direct[0])], keys: [a.account.key, direct[0].binding.key, direct[0].role.key] });
      continue;
    }
    for (const group of a.groups) {
      const viaGroup = grantsOf.get(`${view.cluster}/Group/${group}`) ?? [];
      if (viaGroup[0]) {
        armed.push({
          account: a.account,
          path: [step(a.account), `member of Group ${group}`, ...grantPath(viaGroup[0])],
          keys: [a.account.key, viaGroup[0].binding.key, viaGroup[0].role.key],
        });
        break;
      }
    }
  }
  return armed;
}

export const secretsRequest = (verb: string, namespace: string | null): AccessRequest => ({
  kind: "resource",
  verb,
  group: "",
  resource: "secrets",
  subresource: "",
  namespace,
  name: "",
});
