// Roles with "*" in verbs, API groups or resources grant what does not exist yet: every
// future resource or verb.
import { isBootstrap, step, type AuditRule } from "../model.js";

export default {
  id: "KO-RBAC-003",
  severity: "medium",
  title: "role with wildcards",
  help: "A rule with * in verbs, apiGroups or resources also grants resources and verbs added later. List what the role needs.",
  reads: { labels: [], rels: [] },
  find: (view) =>
    [...view.rbac.roles.values()]
      .filter((role) => role.ref.observed && !isBootstrap(view, role.ref.key))
      .flatMap((role) => {
        const wild = role.rules.filter((r) => [...r.rule.verbs, ...r.rule.apiGroups, ...r.rule.resources].some((i) => i.includes("*")));
        if (wild.length === 0) return [];
        return [
          {
            rule: "KO-RBAC-003",
            severity: "medium" as const,
            object: role.ref,
            message: `${step(role.ref)} has ${wild.length} rule${wild.length === 1 ? "" : "s"} with wildcards`,
            path: [step(role.ref), ...wild.map((r) => r.text)],
            keys: [role.ref.key],
          },
        ];
      }),
} satisfies AuditRule;
