// The scopes `verify` lists: per configured cluster, exactly the (namespace, resource)
// pairs the supervisor would observe (desiredObservers), with "*" actors expanded from a
// LIST of namespaces as the supervisor's namespace discovery does it.
import type { ActorConfig, ClusterConfig } from "../config/model.js";
import type { KubeHttpClient } from "../kube/client.js";
import type { LoadedPlugin } from "../plugin/registry.js";
import { desiredObservers, needsNamespaceDiscovery, observerKey } from "../supervisor/desired.js";
import { listAll, ScopeListError } from "./list.js";

/** One LIST verify makes: a resource in a namespace (null: cluster-scoped) of a cluster. */
export interface VerifyScope {
  cluster: string;
  /** null: cluster-scoped, or every namespace (a cluster-wide observer's scope). */
  namespace: string | null;
  plugin: LoadedPlugin;
  /** Every-namespace scopes: namespaces left out (the actor's exclude). */
  exclude?: string[];
  /** Every-namespace scopes: namespaces other scopes cover. */
  sweepExcept?: string[];
}

/** "cluster/namespace/resource", the observer key the supervisor uses for the same scope. */
export function scopeName(scope: { cluster: string; namespace: string | null; resource: string }): string {
  return observerKey(scope.cluster, scope.namespace, scope.resource);
}

/** The cluster's scopes, sorted by key. Throws ScopeListError when the namespaces
 *  cannot be listed. Plugins without a graph side are left out (nothing to compare). */
export async function clusterScopes(
  cluster: ClusterConfig,
  actors: readonly ActorConfig[],
  plugins: ReadonlyMap<string, LoadedPlugin>,
  client: KubeHttpClient,
  pageSize: number,
): Promise<VerifyScope[]> {
  const mine = actors.filter((a) => a.cluster === cluster.name);
  let namespaces = new Set<string>();
  if (needsNamespaceDiscovery(mine, plugins)) {
    const provider = [...plugins.values()].find((p) => p.plugin.providesNamespaces);
    if (!provider) {
      throw new ScopeListError(
        { cluster: cluster.name, namespace: null, resource: "namespace" },
        "other",
        "an actor observes every namespace, but no loaded plugin provides namespaces (providesNamespaces: true)",
      );
    }
    const items = await listAll(client, { cluster: cluster.name, namespace: null, plugin: provider }, pageSize);
    namespaces = new Set(items.flatMap((o) => (o.metadata?.name ? [o.metadata.name] : [])));
  }
  return [...desiredObservers(cluster.name, mine, namespaces, plugins).values()]
    .filter((d) => d.plugin.plugin.graph !== undefined)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((d) => ({ cluster: cluster.name, namespace: d.namespace, plugin: d.plugin, exclude: d.exclude, sweepExcept: d.sweepExcept }));
}
