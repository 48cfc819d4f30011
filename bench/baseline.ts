// The floor: raw paged LISTs of the same resources through the agent's own client
// (core/kube/client.ts: node:https, keep-alive, same page size), parsed, nothing else.
//   per-namespace: exactly the scopes the agent lists (tier namespaces x resources, plus
//                  the namespace list its discovery makes), bounded concurrency;
//   cluster-wide:  one paged LIST per resource over every namespace (5 requests'
//                  worth of pages; includes objects outside the tier's namespaces).
import { KubeHttpClient } from "../core/kube/client.js";
import { loadKubeConfig } from "../core/kube/kubeconfig.js";
import type { ApiResource } from "../core/plugin/types.js";
import { loadPlugins } from "../core/plugin/registry.js";
import { forEachLimited } from "./kube.js";

export interface ListRun {
  seconds: number;
  requests: number;
  objects: number;
  byResource: Record<string, number>;
}

export interface BaselineResult {
  pageSize: number;
  concurrency: number;
  runs: number;
  perNamespace: ListRun & { allRunsSeconds: number[] };
  clusterWide: ListRun & { allRunsSeconds: number[] };
}

export async function resourcesOf(names: readonly string[]): Promise<Map<string, ApiResource>> {
  const set = await loadPlugins();
  const result = new Map<string, ApiResource>();
  for (const name of names) {
    const p = set.plugins.get(name);
    if (!p) throw new Error(`no built-in plugin named "${name}"`);
    result.set(name, p.plugin.resource);
  }
  return result;
}

async function listAll(
  client: KubeHttpClient,
  resource: ApiResource,
  namespace: string | null,
  pageSize: number,
): Promise<{ objects: number; requests: number }> {
  const lw = client.forResource(resource, namespace);
  let continueToken: string | undefined;
  let objects = 0;
  let requests = 0;
  do {
    const page = await lw.list({ limit: pageSize, ...(continueToken ? { continueToken } : {}) });
    requests += 1;
    objects += page.items.length;
    continueToken = page.continueToken;
  } while (continueToken);
  return { objects, requests };
}

async function perNamespaceRun(
  client: KubeHttpClient,
  resources: Map<string, ApiResource>,
  namespaces: readonly string[],
  pageSize: number,
  concurrency: number,
  namespaceResource: ApiResource,
): Promise<ListRun> {
  const scopes = namespaces.flatMap((ns) => [...resources.keys()].map((name) => ({ ns, name })));
  const byResource: Record<string, number> = {};
  let requests = 0;
  const started = performance.now();
  // The namespace list the agent's discovery makes before it starts any observer.
  requests += (await listAll(client, namespaceResource, null, pageSize)).requests;
  await forEachLimited(scopes, concurrency, async ({ ns, name }) => {
    const r = await listAll(client, resources.get(name)!, ns, pageSize);
    byResource[name] = (byResource[name] ?? 0) + r.objects;
    requests += r.requests;
  });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, requests, objects: Object.values(byResource).reduce((s, n) => s + n, 0), byResource };
}

async function clusterWideRun(client: KubeHttpClient, resources: Map<string, ApiResource>, pageSize: number): Promise<ListRun> {
  const byResource: Record<string, number> = {};
  let requests = 0;
  const started = performance.now();
  await Promise.all(
    [...resources].map(async ([name, resource]) => {
      const r = await listAll(client, resource, null, pageSize);
      byResource[name] = r.objects;
      requests += r.requests;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { seconds, requests, objects: Object.values(byResource).reduce((s, n) => s + n, 0), byResource };
}

/** One warm-up pass, then `runs` measured passes of each kind; the fastest counts. */
export async function measureBaseline(options: {
  kubeconfig: string;
  resourceNames: readonly string[];
  namespaces: readonly string[];
  pageSize: number;
  concurrency: number;
  runs: number;
}): Promise<BaselineResult> {
  const resources = await resourcesOf(options.resourceNames);
  const namespaceResource = (await resourcesOf(["namespace"])).get("namespace")!;
  const client = new KubeHttpClient(loadKubeConfig({ name: "bench", kubeconfig: options.kubeconfig, context: null, inCluster: false }), {
    connectTimeoutMs: 10_000,
    listTimeoutMs: 120_000,
    userAgent: "kube-observer-bench/baseline",
  });
  try {
    await perNamespaceRun(client, resources, options.namespaces, options.pageSize, options.concurrency, namespaceResource);
    const per: ListRun[] = [];
    const wide: ListRun[] = [];
    for (let i = 0; i < options.runs; i++) {
      per.push(await perNamespaceRun(client, resources, options.namespaces, options.pageSize, options.concurrency, namespaceResource));
      wide.push(await clusterWideRun(client, resources, options.pageSize));
    }
    const best = (runs: ListRun[]): ListRun & { allRunsSeconds: number[] } => ({
      ...runs.reduce((a, b) => (b.seconds < a.seconds ? b : a)),
      allRunsSeconds: runs.map((r) => Math.round(r.seconds * 1000) / 1000),
    });
    return { pageSize: options.pageSize, concurrency: options.concurrency, runs: options.runs, perNamespace: best(per), clusterWide: best(wide) };
  } finally {
    client.close();
  }
}
