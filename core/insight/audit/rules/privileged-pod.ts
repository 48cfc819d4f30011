// A privileged container has the node's devices and capabilities: root on the node.
import { step, type AuditRule } from "../model.js";

export default {
  id: "KO-POD-001",
  severity: "critical",
  title: "privileged pod",
  help: "A container runs with securityContext.privileged: it can take over its Node. Drop privileged, or move the workload to a dedicated, isolated node pool.",
  reads: { labels: ["Pod"], rels: [] },
  find: (view) =>
    view
      .nodes("Pod")
      .filter((pod) => pod.ref.observed && pod.properties.privileged === true)
      .map((pod) => ({
        rule: "KO-POD-001",
        severity: "critical",
        object: pod.ref,
        message: `${step(pod.ref)} runs a privileged container`,
        path: [step(pod.ref)],
        keys: [pod.ref.key],
      })),
} satisfies AuditRule;
