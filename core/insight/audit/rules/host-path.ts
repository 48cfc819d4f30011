// hostPath volumes: the node's root or a container runtime's socket is the node itself
// (critical, KO-POD-003); any other host path reads or writes the node's files (KO-POD-004).
import { edgeNote, step, type AuditRule, type AuditView, type Finding } from "../model.js";

const RUNTIME_SOCKETS = [
  "/var/run/docker.sock",
  "/run/docker.sock",
  "/var/run/containerd/containerd.sock",
  "/run/containerd/containerd.sock",
  "/var/run/crio/crio.sock",
  "/run/crio/crio.sock",
  "/var/run/cri-dockerd.sock",
];

/** The node's root, a runtime socket, or a directory holding one. */
export function escapesToNode(path: string): boolean {
  const p = path.replace(/\/+$/, "") || "/";
  return p === "/" || RUNTIME_SOCKETS.some((s) => s === p || s.startsWith(`${p}/`));
}

function hostPaths(view: AuditView, rule: string, severity: "critical" | "medium", wanted: (path: string) => boolean): Finding[] {
  const found: Finding[] = [];
  for (const pod of view.nodes("Pod")) {
    if (!pod.ref.observed) continue;
    for (const uses of view.out(pod.ref.key, "USES_VOLUME")) {
      const volume = view.node(uses.to);
      const path = volume?.properties.hostPath;
      if (volume?.properties.type !== "hostPath" || typeof path !== "string" || !wanted(path)) continue;
      found.push({
        rule,
        severity,
        object: pod.ref,
        message: `${step(pod.ref)} mounts the host path ${path}${severity === "critical" ? " (the node's root or its container runtime)" : ""}`,
        path: [step(pod.ref), `-[USES_VOLUME${edgeNote(uses.properties, ["mounts"])}]->`, `Volume ${String(volume.properties.name ?? "")} hostPath=${path}`],
        keys: [pod.ref.key, volume.ref.key],
      });
    }
  }
  return found;
}

export const hostRoot = {
  id: "KO-POD-003",
  severity: "critical",
  title: "pod mounts the node's root or container runtime socket",
  help: "A hostPath of / or of the container runtime's socket gives the pod the node: every container, every mounted Secret and ServiceAccount token on it.",
  reads: { labels: ["Pod", "Volume"], rels: ["USES_VOLUME"] },
  find: (view) => hostPaths(view, "KO-POD-003", "critical", escapesToNode),
} satisfies AuditRule;

export const hostPath = {
  id: "KO-POD-004",
  severity: "medium",
  title: "pod mounts a host path",
  help: "A hostPath volume reads or writes the Node's files. Prefer a PersistentVolume, a ConfigMap or an emptyDir.",
  reads: { labels: ["Pod", "Volume"], rels: ["USES_VOLUME"] },
  find: (view) => hostPaths(view, "KO-POD-004", "medium", (p) => !escapesToNode(p)),
} satisfies AuditRule;
