// Pods: what they run, mount, reference and where they are scheduled.
import { asArray, field, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { parseImage } from "../core/graph/keys.js";
import { digestOf, REGISTRY_LABEL, registryNode } from "./_shared/image.js";
import { POD_SPEC_LABELS, POD_SPEC_RELATIONSHIPS, podSpecGraph } from "./_shared/pod-graph.js";
import { reducePodSpec } from "./_shared/pod-spec.js";
import { ownerGraph } from "./_shared/owners.js";
import { WORKLOAD_KINDS } from "./_shared/workload.js";

type ReducedPod = ReturnType<typeof reducePod>;

function reducePod(pod: import("../core/messages.js").KubeObject) {
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
}

export default definePlugin<ReducedPod>({
  name: "pod",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
  reduce: reducePod,
  graph: {
    schema: { labels: ["Pod", ...POD_SPEC_LABELS, ...WORKLOAD_KINDS], relationships: [...POD_SPEC_RELATIONSHIPS, "OWNED_BY"] },
    lookups: {
      image: { label: "ContainerImage", namespaced: false, key: (name) => parseImage(name).reference },
      // The images (anywhere) that come from a registry host, e.g. "docker.io".
      registry: { label: REGISTRY_LABEL, namespaced: false, key: (host) => registryNode(host.trim()).key },
    },
    toGraph(pod, ctx) {
      const digests = new Map<string, string>();
      for (const s of pod.status.containerImages) {
        const digest = digestOf(s.imageID);
        if (digest) digests.set(s.name, digest);
      }
      const fragment = podSpecGraph(ctx, pod.metadata, pod.spec, digests);
      // A Deployment's pods reach it through their ReplicaSet.
      const owners = ownerGraph(ctx, pod.metadata, WORKLOAD_KINDS);
      return {
        properties: { ...fragment.properties, phase: pod.status.phase, podIP: pod.status.podIP, otherOwners: owners.otherOwners },
        owned: fragment.owned,
        references: [...(fragment.references ?? []), ...owners.references],
        edges: [...(fragment.edges ?? []), ...owners.edges],
      };
    },
  },
});
