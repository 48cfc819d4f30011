// The set of observers a cluster should have: actors × the namespaces that exist.
import type { ActorConfig } from "../config/model.js";
import type { LoadedPlugin } from "../plugin/registry.js";

export interface DesiredObserver {
  /** Stable identity: cluster/namespace/resource ("" for no namespace). */
  key: string;
  namespace: string | null;
  plugin: LoadedPlugin;
}

export function observerKey(cluster: string, namespace: string | null, resource: string): string {
  return `${cluster}/${namespace ?? ""}/${resource}`;
}

/** Whether any actor of this cluster needs the namespace list. */
export function needsNamespaceDiscovery(actors: readonly ActorConfig[], plugins: ReadonlyMap<string, LoadedPlugin>): boolean {
  return actors.some((a) => a.namespace === "*" && plugins.get(a.resource)?.plugin.resource.namespaced === true);
}

export function desiredObservers(
  cluster: string,
  actors: readonly ActorConfig[],
  namespaces: ReadonlySet<string>,
  plugins: ReadonlyMap<string, LoadedPlugin>,
): Map<string, DesiredObserver> {
  const desired = new Map<string, DesiredObserver>();
  const add = (namespace: string | null, plugin: LoadedPlugin): void => {
    const key = observerKey(cluster, namespace, plugin.plugin.name);
    desired.set(key, { key, namespace, plugin });
  };
  for (const actor of actors) {
    if (actor.cluster !== cluster || actor.role !== "observer") continue;
    const plugin = plugins.get(actor.resource);
    if (!plugin) continue; // reported by config validation / plugin loading
    if (!plugin.plugin.resource.namespaced) add(null, plugin);
    else if (actor.namespace !== "*") add(actor.namespace, plugin);
    else {
      const excluded = new Set(actor.exclude);
      for (const ns of namespaces) if (!excluded.has(ns)) add(ns, plugin);
    }
  }
  return desired;
}
