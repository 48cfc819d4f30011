// Secrets nothing in the graph uses: credentials kept alive for no one, still readable by
// whoever can read Secrets in their namespace.
import { step, type AuditRule } from "../model.js";

const USE = ["USES_SECRET", "BACKED_BY"];
// Kept by Kubernetes for a ServiceAccount (legacy tokens): their use is the account's.
const EXEMPT_TYPES = new Set(["kubernetes.io/service-account-token"]);

export default {
  id: "KO-SEC-001",
  severity: "info",
  title: "Secret nothing uses",
  help: "No pod, workload, ServiceAccount, Ingress or storage object in the graph refers to this Secret. Delete it if nothing outside the cluster's objects reads it.",
  reads: { labels: ["Secret", "Volume"], rels: USE },
  find: (view) =>
    view
      .nodes("Secret")
      .filter((secret) => secret.ref.observed && !EXEMPT_TYPES.has(String(secret.properties.type ?? "")))
      .filter((secret) => USE.every((rel) => view.into(secret.ref.key, rel).length === 0))
      .map((secret) => ({
        rule: "KO-SEC-001",
        severity: "info",
        object: secret.ref,
        message: `nothing uses ${step(secret.ref)}`,
        path: [step(secret.ref)],
        keys: [secret.ref.key],
      })),
} satisfies AuditRule;
