// The ingress plugin: ROUTES_TO the Services it sends traffic to (per host and path),
// USES_SECRET for its TLS certificates; other backends stay a property.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import { LAST_APPLIED_ANNOTATION } from "../../../core/plugin/sdk.js";
import ingress from "../../../plugins/ingress.js";
import { META_PROPERTIES, apiMetadata, graphOf, reduceAsObserved } from "./helpers.js";

const svc = (name: string) => ({ label: "Service", key: `prod/shop/Service/${name}`, properties: { cluster: "prod", name, namespace: "shop" } });
const secret = (name: string) => ({ label: "Secret", key: `prod/shop/Secret/${name}`, properties: { cluster: "prod", name, namespace: "shop" } });

function shopIngress(): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: apiMetadata("shop", "shop", {
      annotations: { "nginx.ingress.kubernetes.io/ssl-redirect": "true", [LAST_APPLIED_ANNOTATION]: '{"tls":"CANARY"}' },
    }),
    spec: {
      ingressClassName: "nginx",
      defaultBackend: { service: { name: "fallback", port: { number: 8080 } } },
      tls: [
        { hosts: ["shop.example.com", "www.shop.example.com"], secretName: "shop-tls" },
        { hosts: ["api.example.com"], secretName: "api-tls" },
        { hosts: ["nosecret.example.com"] },
      ],
      rules: [
        {
          host: "shop.example.com",
          http: {
            paths: [
              { path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { name: "http" } } } },
              {
                path: "/static",
                pathType: "ImplementationSpecific",
                backend: { resource: { apiGroup: "k8s.example.com", kind: "StorageBucket", name: "assets" } },
              },
            ],
          },
        },
        { host: "api.example.com", http: { paths: [{ path: "/v1", pathType: "Exact", backend: { service: { name: "api", port: { number: 443 } } } }] } },
        // No host: every host; no http: claims nothing but a host.
        { http: { paths: [{ path: "/healthz", pathType: "Exact", backend: { service: { name: "web", port: { number: 80 } } } }] } },
        { host: "www.shop.example.com" },
      ],
    },
    status: { loadBalancer: { ingress: [{ ip: "198.51.100.9" }] } },
  };
}

describe("ingress plugin", () => {
  it("reduce keeps routes, TLS and class; drops last-applied and managedFields", () => {
    const reduced = reduceAsObserved(ingress, shopIngress());
    expect(reduced.defaultBackend).toStrictEqual({ service: { name: "fallback", port: 8080 }, resource: null });
    expect(reduced.paths).toStrictEqual([
      { host: "shop.example.com", path: "/", pathType: "Prefix", backend: { service: { name: "web", port: "http" }, resource: null } },
      {
        host: "shop.example.com",
        path: "/static",
        pathType: "ImplementationSpecific",
        backend: { service: null, resource: "k8s.example.com/StorageBucket/assets" },
      },
      { host: "api.example.com", path: "/v1", pathType: "Exact", backend: { service: { name: "api", port: 443 }, resource: null } },
      { host: null, path: "/healthz", pathType: "Exact", backend: { service: { name: "web", port: 80 }, resource: null } },
    ]);
    expect(reduced.tls).toStrictEqual([
      { secretName: "shop-tls", hosts: ["shop.example.com", "www.shop.example.com"] },
      { secretName: "api-tls", hosts: ["api.example.com"] },
      { secretName: null, hosts: ["nosecret.example.com"] },
    ]);
    expect(JSON.stringify(reduced)).not.toMatch(/CANARY/);
  });

  it("toGraph: ROUTES_TO per default backend and path, USES_SECRET per TLS secret, resource backends as a property", () => {
    expect(graphOf(ingress, shopIngress())).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        annotations: ["nginx.ingress.kubernetes.io/ssl-redirect=true"],
        ingressClassName: "nginx",
        hosts: ["api.example.com", "shop.example.com", "www.shop.example.com"],
        tlsHosts: ["api.example.com", "nosecret.example.com", "shop.example.com", "www.shop.example.com"],
        resourceBackends: ["shop.example.com/static -> k8s.example.com/StorageBucket/assets"],
        loadBalancerIngress: ["198.51.100.9"],
      },
      references: [svc("fallback"), svc("web"), svc("api"), secret("shop-tls"), secret("api-tls")],
      edges: [
        { type: "ROUTES_TO", to: "prod/shop/Service/fallback", properties: { via: "defaultBackend", host: null, path: null, pathType: null, port: 8080 } },
        { type: "ROUTES_TO", to: "prod/shop/Service/web", properties: { via: "rule", host: "shop.example.com", path: "/", pathType: "Prefix", port: "http" } },
        { type: "ROUTES_TO", to: "prod/shop/Service/api", properties: { via: "rule", host: "api.example.com", path: "/v1", pathType: "Exact", port: 443 } },
        { type: "ROUTES_TO", to: "prod/shop/Service/web", properties: { via: "rule", host: null, path: "/healthz", pathType: "Exact", port: 80 } },
        { type: "USES_SECRET", to: "prod/shop/Secret/shop-tls", properties: { via: "tls", hosts: ["shop.example.com", "www.shop.example.com"] } },
        { type: "USES_SECRET", to: "prod/shop/Secret/api-tls", properties: { via: "tls", hosts: ["api.example.com"] } },
      ],
    });
  });

  it("an Ingress with only a default backend routes everything to it", () => {
    const only: KubeObject = { metadata: apiMetadata("catch-all", "shop"), spec: { defaultBackend: { service: { name: "web", port: { number: 80 } } } } };
    expect(graphOf(ingress, only)).toStrictEqual({
      properties: { ...META_PROPERTIES, ingressClassName: null, hosts: [], tlsHosts: [], resourceBackends: [], loadBalancerIngress: [] },
      references: [svc("web")],
      edges: [{ type: "ROUTES_TO", to: "prod/shop/Service/web", properties: { via: "defaultBackend", host: null, path: null, pathType: null, port: 80 } }],
    });
  });

  it("a resource default backend is a property, not an edge (its kind is unknown to the graph)", () => {
    const bucket: KubeObject = {
      metadata: apiMetadata("static", "shop"),
      spec: {
        defaultBackend: { resource: { apiGroup: "k8s.example.com", kind: "StorageBucket", name: "site" } },
        rules: [
          { host: "static.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { resource: { kind: "ConfigMap", name: "page" } } }] } },
        ],
      },
    };
    const fragment = graphOf(ingress, bucket);
    expect(fragment.edges).toStrictEqual([]);
    expect(fragment.references).toStrictEqual([]);
    expect(fragment.properties?.resourceBackends).toStrictEqual(["default -> k8s.example.com/StorageBucket/site", "static.example.com/ -> /ConfigMap/page"]);
  });
});
