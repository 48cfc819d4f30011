// A reference to an object of an observed kind that does not exist: a pod naming a missing
// Secret or ConfigMap fails to start, or, with optional: true, starts without it; a binding
// to a missing ServiceAccount waits for anyone who creates one by that name.
import { edgeNote, step, type AuditRule, type Finding } from "../model.js";

const REFERENCED = ["Secret", "ConfigMap", "ServiceAccount", "PersistentVolumeClaim", "Service", "Role", "ClusterRole"];
const RELS = ["USES_SECRET", "USES_CONFIGMAP", "BACKED_BY", "RUNS_AS", "SUBJECT", "GRANTS", "ROUTES_TO"];

export default {
  id: "KO-REF-001",
  severity: "low",
  title: "dangling reference",
  help: "An object refers to a Secret, ConfigMap, ServiceAccount, claim, Service or role that does not exist. Create it or remove the reference; a missing ServiceAccount or role named by a binding is granted to whoever creates it.",
  reads: { labels: [...REFERENCED, "Pod", "Volume", "Ingress"], rels: RELS },
  find: (view, options) => {
    const found: Finding[] = [];
    for (const label of REFERENCED) {
      for (const target of view.nodes(label)) {
        if (target.ref.observed || !options.observes(label, target.ref.namespace)) continue;
        for (const rel of RELS) {
          for (const edge of view.into(target.ref.key, rel)) {
            const from = view.node(edge.from);
            if (!from) continue;
            // An owned node (a pod's Volume) is reported through its owner.
            const ownerKey = typeof from.properties.owner === "string" ? from.properties.owner : from.ref.key;
            const owner = view.node(ownerKey) ?? from;
            const hops = owner === from ? [step(from.ref)] : [step(owner.ref), "-[USES_VOLUME]->", `Volume ${String(from.properties.name ?? "")}`];
            found.push({
              rule: "KO-REF-001",
              severity: "low",
              object: owner.ref,
              message: `${step(owner.ref)} refers to ${step(target.ref)}, which does not exist`,
              path: [...hops, `-[${rel}${edgeNote(edge.properties, ["via", "key"])}]->`, step(target.ref)],
              keys: [owner.ref.key, target.ref.key],
            });
          }
        }
      }
    }
    return found;
  },
} satisfies AuditRule;
