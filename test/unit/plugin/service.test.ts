// The service plugin: how a Service is exposed, and the Pod selector the sink resolves
// (none for a Service without selector or an ExternalName Service).
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import service from "../../../plugins/service.js";
import { META_PROPERTIES, apiMetadata, graphOf, reduceAsObserved } from "./helpers.js";

function webService(): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: apiMetadata("web", "shop"),
    spec: {
      type: "LoadBalancer",
      clusterIP: "10.96.12.7",
      clusterIPs: ["10.96.12.7", "fd00::7"],
      ipFamilies: ["IPv4", "IPv6"],
      selector: { tier: "front", app: "web" },
      ports: [
        { name: "http", port: 80, protocol: "TCP", targetPort: 8080, nodePort: 31080 },
        { name: "metrics", port: 9090, protocol: "UDP", targetPort: "metrics", nodePort: 31090 },
        { port: 443, protocol: "TCP", targetPort: 443, nodePort: 31443 },
      ],
      externalIPs: ["203.0.113.10"],
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 32000,
    },
    status: { loadBalancer: { ingress: [{ ip: "198.51.100.4", ipMode: "VIP" }, { hostname: "web.elb.example.com" }] } },
  };
}

describe("service plugin", () => {
  it("reduce keeps the exposure and the selector, nothing else (no last-applied, no managedFields)", () => {
    const reduced = reduceAsObserved(service, webService());
    const { metadata, ...rest } = reduced;
    expect(rest).toStrictEqual({
      type: "LoadBalancer",
      clusterIP: "10.96.12.7",
      clusterIPs: ["10.96.12.7", "fd00::7"],
      ports: [
        { name: "http", port: 80, protocol: "TCP", targetPort: 8080, nodePort: 31080 },
        { name: "metrics", port: 9090, protocol: "UDP", targetPort: "metrics", nodePort: 31090 },
        { name: null, port: 443, protocol: "TCP", targetPort: 443, nodePort: 31443 },
      ],
      selector: { tier: "front", app: "web" },
      externalName: null,
      externalIPs: ["203.0.113.10"],
      sessionAffinity: "ClientIP",
      loadBalancerIngress: ["198.51.100.4", "web.elb.example.com"],
    });
    expect(metadata.annotations).toStrictEqual({ "example.com/owner": "team-a" });
    expect(JSON.stringify(reduced)).not.toMatch(/CANARY|healthCheckNodePort|sessionAffinityConfig/);
  });

  it("toGraph: properties, and one SELECTS selector on Pods in its namespace", () => {
    expect(graphOf(service, webService())).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        type: "LoadBalancer",
        clusterIP: "10.96.12.7",
        clusterIPs: ["10.96.12.7", "fd00::7"],
        ports: ["http:80/TCP->8080", "metrics:9090/UDP->metrics", "443/TCP->443"],
        nodePorts: [31080, 31090, 31443],
        selector: ["app=web", "tier=front"],
        externalName: null,
        externalIPs: ["203.0.113.10"],
        sessionAffinity: "ClientIP",
        loadBalancerIngress: ["198.51.100.4", "web.elb.example.com"],
      },
      selectors: [{ type: "SELECTS", label: "Pod", namespace: "shop", matchLabels: { tier: "front", app: "web" } }],
    });
  });

  it("a Service without selector selects nothing: no selector at all (an empty one would select every pod)", () => {
    const manual: KubeObject = {
      metadata: apiMetadata("legacy-db", "shop"),
      spec: { type: "ClusterIP", clusterIP: "10.96.0.50", ports: [{ port: 5432 }] },
    };
    const fragment = graphOf(service, manual);
    expect(fragment.selectors).toStrictEqual([]);
    expect(fragment.properties).toMatchObject({ selector: [], ports: ["5432/TCP->5432"], nodePorts: [] });
    // An empty selector map is no selector either.
    expect(graphOf(service, { ...manual, spec: { ...(manual.spec as object), selector: {} } }).selectors).toStrictEqual([]);
  });

  it("an ExternalName Service gets no endpoints, even with a selector", () => {
    const external: KubeObject = {
      metadata: apiMetadata("payments-api", "shop"),
      spec: { type: "ExternalName", externalName: "api.payments.example.com", selector: { app: "payments" } },
    };
    const fragment = graphOf(service, external);
    expect(fragment.selectors).toStrictEqual([]);
    expect(fragment.properties).toMatchObject({
      type: "ExternalName",
      externalName: "api.payments.example.com",
      clusterIP: null,
      clusterIPs: [],
      selector: ["app=payments"],
    });
  });

  it("defaults: type ClusterIP, protocol TCP, targetPort = port", () => {
    const reduced = reduceAsObserved(service, { metadata: { name: "s", namespace: "n" }, spec: { ports: [{ name: "grpc", port: 50051 }] } });
    expect(reduced).toMatchObject({
      type: "ClusterIP",
      ports: [{ name: "grpc", port: 50051, protocol: "TCP", targetPort: 50051, nodePort: null }],
      selector: {},
    });
  });
});
