// Subjects bound to cluster-admin (by a ClusterRoleBinding: everywhere; by a RoleBinding: all
// of a namespace). system:masters' bootstrap binding is Kubernetes' own and is left out.
import { isBootstrap, step, type AuditRule, type Finding } from "../model.js";

export default {
  id: "KO-RBAC-002",
  severity: "high",
  title: "subject bound to cluster-admin",
  help: "cluster-admin allows every verb on every resource. Bind a narrower role; keep break-glass access outside day-to-day identities.",
  reads: { labels: [], rels: [] },
  find: (view) => {
    const found: Finding[] = [];
    const admin = `${view.cluster}/ClusterRole/cluster-admin`;
    for (const binding of view.rbac.bindings) {
      if (isBootstrap(view, binding.ref.key)) continue;
      for (const grant of binding.grants) {
        if (grant.roleKey !== admin) continue;
        for (const key of binding.subjectKeys) {
          const subject = view.rbac.subjects.get(key);
          if (!subject) continue;
          const where = grant.grantsIn === "*" ? "everywhere" : `in namespace ${grant.grantsIn}`;
          found.push({
            rule: "KO-RBAC-002",
            severity: "high",
            object: subject,
            message: `${step(subject)} is cluster-admin ${where} (${step(binding.ref)})`,
            path: [step(subject), "-[SUBJECT]-", step(binding.ref), "-[GRANTS]->", "ClusterRole cluster-admin"],
            keys: [subject.key, binding.ref.key, admin],
          });
        }
      }
    }
    return found;
  },
} satisfies AuditRule;
