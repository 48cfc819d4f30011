// Pods that run as their namespace's "default" ServiceAccount with its token mounted: every
// such pod holds one shared credential, which any RoleBinding to "default" arms.
import { step, type AuditRule } from "../model.js";

export default {
  id: "KO-SA-001",
  severity: "medium",
  title: "pod mounts the default ServiceAccount's token",
  help: "The pod runs as the namespace's default ServiceAccount and its token is mounted. Give the workload its own ServiceAccount, or set automountServiceAccountToken: false on the pod or on the default ServiceAccount.",
  reads: { labels: ["Pod", "ServiceAccount"], rels: ["RUNS_AS"] },
  find: (view) =>
    view.nodes("Pod").flatMap((pod) => {
      if (!pod.ref.observed) return [];
      return view.out(pod.ref.key, "RUNS_AS").flatMap((edge) => {
        const account = view.node(edge.to);
        if (!account || account.ref.name !== "default") return [];
        // The pod's setting wins; unset, the ServiceAccount's; unset too, the token is mounted.
        const podSays = pod.properties.automountServiceAccountToken;
        const mounted = typeof podSays === "boolean" ? podSays : account.properties.automountServiceAccountToken !== false;
        if (!mounted) return [];
        return [
          {
            rule: "KO-SA-001",
            severity: "medium" as const,
            object: pod.ref,
            message: `${step(pod.ref)} runs as ${step(account.ref)} with its token mounted`,
            path: [step(pod.ref), "-[RUNS_AS]->", step(account.ref)],
            keys: [pod.ref.key, account.ref.key],
          },
        ];
      });
    }),
} satisfies AuditRule;
