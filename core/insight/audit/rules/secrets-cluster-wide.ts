// A ServiceAccount that can get or list Secrets cluster-wide holds every credential of the
// cluster: anyone who runs a pod as it, or steals its token, does too.
import type { AuditRule, Finding } from "../model.js";
import { step } from "../model.js";
import { armedAccounts, secretsRequest } from "./rbac-paths.js";

export default {
  id: "KO-RBAC-001",
  severity: "high",
  title: "ServiceAccount can read Secrets cluster-wide",
  help: "A ClusterRoleBinding lets this ServiceAccount get or list Secrets in every namespace. Grant it per namespace, with resourceNames where it can.",
  reads: { labels: [], rels: [] },
  find: (view) => {
    const found = new Map<string, Finding>();
    for (const verb of ["list", "get"]) {
      for (const armed of armedAccounts(view, secretsRequest(verb, null))) {
        if (found.has(armed.account.key)) continue;
        found.set(armed.account.key, {
          rule: "KO-RBAC-001",
          severity: "high",
          object: armed.account,
          message: `${step(armed.account)} can ${verb} Secrets in every namespace`,
          path: armed.path,
          keys: armed.keys,
        });
      }
    }
    return [...found.values()];
  },
} satisfies AuditRule;
