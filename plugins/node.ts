// Nodes: identity, addresses, runtime and the images they hold.
import { asArray, field, metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "node",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false },
  reduce(node) {
    return {
      metadata: reduceMetadata(node),
      providerID: field<string>(node, "spec", "providerID") ?? null,
      unschedulable: field<boolean>(node, "spec", "unschedulable") === true,
      taints: asArray<Record<string, unknown>>(field(node, "spec", "taints")).map((t) => ({
        key: String(t.key ?? ""),
        value: (t.value as string | undefined) ?? null,
        effect: String(t.effect ?? ""),
      })),
      addresses: asArray<{ type?: string; address?: string }>(field(node, "status", "addresses")).map((a) => ({
        type: String(a.type ?? ""),
        address: String(a.address ?? ""),
      })),
      nodeInfo: {
        kubeletVersion: field<string>(node, "status", "nodeInfo", "kubeletVersion") ?? null,
        containerRuntimeVersion: field<string>(node, "status", "nodeInfo", "containerRuntimeVersion") ?? null,
        osImage: field<string>(node, "status", "nodeInfo", "osImage") ?? null,
        kernelVersion: field<string>(node, "status", "nodeInfo", "kernelVersion") ?? null,
        architecture: field<string>(node, "status", "nodeInfo", "architecture") ?? null,
      },
    };
  },
  graph: {
    schema: { labels: ["Node"], relationships: [] },
    toGraph: (node) => ({
      properties: {
        ...metadataProperties(node.metadata),
        providerID: node.providerID,
        unschedulable: node.unschedulable,
        taints: node.taints.map((t) => `${t.key}${t.value !== null ? `=${t.value}` : ""}:${t.effect}`),
        addresses: node.addresses.map((a) => `${a.type}=${a.address}`),
        kubeletVersion: node.nodeInfo.kubeletVersion,
        containerRuntimeVersion: node.nodeInfo.containerRuntimeVersion,
        osImage: node.nodeInfo.osImage,
        kernelVersion: node.nodeInfo.kernelVersion,
        architecture: node.nodeInfo.architecture,
      },
    }),
  },
});
