// Services: how they are exposed, and the pods they select (a label selector the sink
// resolves, so it stays right as pods come and go).
import { asArray, field, text as str, loadBalancerAddresses, metadataProperties, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin, type GraphSelectorSpec } from "../core/plugin/types.js";

type Raw = Record<string, unknown>;

function reduceService(svc: import("../core/messages.js").KubeObject) {
  return {
    metadata: reduceMetadata(svc),
    type: str(field(svc, "spec", "type")) ?? "ClusterIP",
    clusterIP: str(field(svc, "spec", "clusterIP")),
    clusterIPs: asArray<string>(field(svc, "spec", "clusterIPs")),
    ports: asArray<Raw>(field(svc, "spec", "ports")).map((p) => ({
      name: str(p.name),
      port: Number(p.port),
      protocol: str(p.protocol) ?? "TCP",
      // The API server defaults targetPort to port; a name refers to a container port.
      targetPort: typeof p.targetPort === "number" || typeof p.targetPort === "string" ? p.targetPort : Number(p.port),
      nodePort: typeof p.nodePort === "number" ? p.nodePort : null,
    })),
    selector: { ...(field<Record<string, string>>(svc, "spec", "selector") ?? {}) },
    externalName: str(field(svc, "spec", "externalName")),
    externalIPs: asArray<string>(field(svc, "spec", "externalIPs")),
    sessionAffinity: str(field(svc, "spec", "sessionAffinity")),
    loadBalancerIngress: loadBalancerAddresses(svc),
  };
}

type ReducedService = ReturnType<typeof reduceService>;

export default definePlugin<ReducedService>({
  name: "service",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true },
  reduce: reduceService,
  graph: {
    schema: { labels: ["Service", "Pod"], relationships: ["SELECTS"] },
    toGraph(svc) {
      const selectorKeys = Object.keys(svc.selector).sort();
      // No selector selects nothing (endpoints are managed by hand), and an ExternalName
      // Service gets no endpoints even with one.
      const selects = selectorKeys.length > 0 && svc.type !== "ExternalName";
      const selectors: GraphSelectorSpec[] = selects
        ? [{ type: "SELECTS", label: "Pod", namespace: svc.metadata.namespace, matchLabels: { ...svc.selector } }]
        : [];
      return {
        properties: {
          ...metadataProperties(svc.metadata),
          type: svc.type,
          clusterIP: svc.clusterIP,
          clusterIPs: svc.clusterIPs,
          // "http:80/TCP->8080": [name:]port/protocol->targetPort.
          ports: svc.ports.map((p) => `${p.name !== null ? `${p.name}:` : ""}${p.port}/${p.protocol}->${p.targetPort}`),
          nodePorts: svc.ports.flatMap((p) => (p.nodePort !== null ? [p.nodePort] : [])),
          selector: selectorKeys.map((k) => `${k}=${svc.selector[k]}`),
          externalName: svc.externalName,
          externalIPs: svc.externalIPs,
          sessionAffinity: svc.sessionAffinity,
          loadBalancerIngress: svc.loadBalancerIngress,
        },
        selectors,
      };
    },
  },
});
