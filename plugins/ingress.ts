// Ingresses: which Services they route to (by host and path) and which Secrets hold
// their TLS certificates. Backends that are not Services (a CRD's object) stay a
// property: their kind is not known to the graph.
import { asArray, field, text as str, loadBalancerAddresses, metadataProperties, objectReference, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin, type GraphEdgeSpec, type GraphNodeSpec } from "../core/plugin/types.js";

type Raw = Record<string, unknown>;

interface ReducedBackend {
  /** A Service backend, its port a number or a port name. */
  service: { name: string; port: number | string | null } | null;
  /** Any other backend, as "apiGroup/Kind/name". */
  resource: string | null;
}

function reduceBackend(backend: unknown): ReducedBackend | null {
  const service = field<Raw>(backend, "service");
  if (service && str(service.name)) {
    const port = field<number>(service, "port", "number") ?? str(field(service, "port", "name"));
    return { service: { name: String(service.name), port: port ?? null }, resource: null };
  }
  const resource = field<Raw>(backend, "resource");
  if (resource) return { service: null, resource: `${str(resource.apiGroup) ?? ""}/${String(resource.kind ?? "")}/${String(resource.name ?? "")}` };
  return null;
}

function reduceIngress(ing: import("../core/messages.js").KubeObject) {
  return {
    metadata: reduceMetadata(ing),
    ingressClassName: str(field(ing, "spec", "ingressClassName")),
    defaultBackend: reduceBackend(field(ing, "spec", "defaultBackend")),
    paths: asArray<Raw>(field(ing, "spec", "rules")).flatMap((rule) =>
      asArray<Raw>(field(rule, "http", "paths")).map((p) => ({
        host: str(rule.host),
        path: str(p.path),
        pathType: str(p.pathType),
        backend: reduceBackend(p.backend),
      })),
    ),
    // Hosts of rules without http paths still claim the host.
    hosts: asArray<Raw>(field(ing, "spec", "rules"))
      .map((r) => str(r.host))
      .filter((h): h is string => h !== null),
    tls: asArray<Raw>(field(ing, "spec", "tls")).map((t) => ({ secretName: str(t.secretName), hosts: asArray<string>(t.hosts) })),
    loadBalancerIngress: loadBalancerAddresses(ing),
  };
}

type ReducedIngress = ReturnType<typeof reduceIngress>;

export default definePlugin<ReducedIngress>({
  name: "ingress",
  apiVersion: 1,
  resource: { group: "networking.k8s.io", version: "v1", plural: "ingresses", kind: "Ingress", namespaced: true },
  reduce: reduceIngress,
  graph: {
    schema: { labels: ["Ingress", "Service", "Secret"], relationships: ["ROUTES_TO", "USES_SECRET"] },
    toGraph(ing, ctx) {
      const namespace = ing.metadata.namespace;
      const references = new Map<string, GraphNodeSpec>();
      const refer = (kind: string, name: string): string => {
        const node = objectReference(ctx, kind, namespace, name);
        if (!references.has(node.key)) references.set(node.key, node);
        return node.key;
      };
      const edges: GraphEdgeSpec[] = [];
      const resourceBackends: string[] = [];
      const routes = [
        ...(ing.defaultBackend ? [{ via: "defaultBackend", host: null, path: null, pathType: null, backend: ing.defaultBackend }] : []),
        ...ing.paths.map((p) => ({ via: "rule", ...p })),
      ];
      for (const r of routes) {
        if (r.backend?.service) {
          edges.push({
            type: "ROUTES_TO",
            to: refer("Service", r.backend.service.name),
            properties: { via: r.via, host: r.host, path: r.path, pathType: r.pathType, port: r.backend.service.port },
          });
        } else if (r.backend?.resource) {
          // "host/path -> apiGroup/Kind/name"; "*" for any host, "default" for the default backend.
          const where = r.via === "defaultBackend" ? "default" : `${r.host ?? "*"}${r.path ?? ""}`;
          resourceBackends.push(`${where} -> ${r.backend.resource}`);
        }
      }
      for (const t of ing.tls) {
        if (t.secretName) edges.push({ type: "USES_SECRET", to: refer("Secret", t.secretName), properties: { via: "tls", hosts: t.hosts } });
      }
      return {
        properties: {
          ...metadataProperties(ing.metadata),
          ingressClassName: ing.ingressClassName,
          hosts: [...new Set(ing.hosts)].sort(),
          tlsHosts: [...new Set(ing.tls.flatMap((t) => t.hosts))].sort(),
          resourceBackends,
          loadBalancerIngress: ing.loadBalancerIngress,
        },
        references: [...references.values()],
        edges,
      };
    },
  },
});
