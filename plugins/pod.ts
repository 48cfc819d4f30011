// Pods: what they run, mount, reference and where they are scheduled.
import { asArray, field, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { reducePodSpec } from "./_shared/pod-spec.js";

export default definePlugin({
  name: "pod",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
  reduce(pod) {
    const statuses = [
      ...asArray<Record<string, unknown>>(field(pod, "status", "initContainerStatuses")),
      ...asArray<Record<string, unknown>>(field(pod, "status", "containerStatuses")),
      ...asArray<Record<string, unknown>>(field(pod, "status", "ephemeralContainerStatuses")),
    ];
    return {
      metadata: reduceMetadata(pod),
      spec: reducePodSpec(pod.spec),
      status: {
        phase: field<string>(pod, "status", "phase") ?? null,
        podIP: field<string>(pod, "status", "podIP") ?? null,
        // imageID carries the digest the kubelet actually pulled.
        containerImages: statuses.map((s) => ({
          name: String(s.name ?? ""),
          image: String(s.image ?? ""),
          imageID: String(s.imageID ?? ""),
        })),
      },
    };
  },
});
