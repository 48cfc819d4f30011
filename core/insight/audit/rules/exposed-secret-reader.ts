// A pod an Ingress routes to whose ServiceAccount can read the namespace's Secrets: one
// remote code execution in an exposed service away from every credential there.
import type { AuditRule, Finding } from "../model.js";
import { step } from "../model.js";
import { armedAccounts, secretsRequest, type ArmedAccount } from "./rbac-paths.js";

export default {
  id: "KO-EXP-001",
  severity: "high",
  title: "Ingress-exposed pod can read Secrets",
  help: "An Ingress routes to a Service that selects this pod, and the pod's ServiceAccount can get Secrets in its namespace. Give the exposed workload a ServiceAccount without Secret access.",
  reads: { labels: ["Ingress", "Service", "Pod", "ServiceAccount"], rels: ["ROUTES_TO", "SELECTS", "RUNS_AS"] },
  find: (view) => {
    const found: Finding[] = [];
    const readers = new Map<string, Map<string, ArmedAccount>>(); // namespace → account key → how
    const readersIn = (namespace: string): Map<string, ArmedAccount> => {
      let known = readers.get(namespace);
      if (!known) {
        known = new Map(armedAccounts(view, secretsRequest("get", namespace)).map((a) => [a.account.key, a]));
        readers.set(namespace, known);
      }
      return known;
    };
    const seen = new Set<string>();
    for (const ingress of view.nodes("Ingress")) {
      if (!ingress.ref.observed || ingress.ref.namespace === null) continue;
      for (const route of view.out(ingress.ref.key, "ROUTES_TO")) {
        const service = view.node(route.to);
        if (!service) continue;
        for (const selects of view.out(service.ref.key, "SELECTS")) {
          const pod = view.node(selects.to);
          if (!pod || seen.has(pod.ref.key)) continue;
          for (const runs of view.out(pod.ref.key, "RUNS_AS")) {
            const armed = readersIn(ingress.ref.namespace).get(runs.to);
            if (!armed) continue;
            seen.add(pod.ref.key);
            found.push({
              rule: "KO-EXP-001",
              severity: "high",
              object: pod.ref,
              message: `${step(pod.ref)} is exposed by ${step(ingress.ref)} and can get Secrets in ${ingress.ref.namespace}`,
              path: [step(ingress.ref), "-[ROUTES_TO]->", step(service.ref), "-[SELECTS]->", step(pod.ref), "-[RUNS_AS]->", ...armed.path],
              keys: [pod.ref.key, ingress.ref.key, service.ref.key, ...armed.keys],
            });
          }
        }
      }
    }
    return found;
  },
} satisfies AuditRule;
