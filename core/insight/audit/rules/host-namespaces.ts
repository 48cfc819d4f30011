// hostNetwork, hostPID and hostIPC put the pod in the node's namespaces: it sees the node's
// traffic, processes or shared memory.
import { step, type AuditRule } from "../model.js";

const HOST = ["hostNetwork", "hostPID", "hostIPC"] as const;

export default {
  id: "KO-POD-002",
  severity: "high",
  title: "pod in the host's namespaces",
  help: "The pod shares the Node's network, process or IPC namespace (hostNetwork, hostPID, hostIPC). Remove them unless the pod is node infrastructure.",
  reads: { labels: ["Pod"], rels: [] },
  find: (view) =>
    view
      .nodes("Pod")
      .filter((pod) => pod.ref.observed && HOST.some((h) => pod.properties[h] === true))
      .map((pod) => ({
        rule: "KO-POD-002",
        severity: "high",
        object: pod.ref,
        message: `${step(pod.ref)} uses ${HOST.filter((h) => pod.properties[h] === true).join(", ")}`,
        path: [step(pod.ref)],
        keys: [pod.ref.key],
      })),
} satisfies AuditRule;
