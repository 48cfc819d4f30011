// The set of observers a cluster should have, and how each actor is watched (its
// topology). An actor of every namespace ("*") is served by one cluster-wide list+watch
// of its resource (a few sockets whatever the namespace count; namespaces created later
// are covered with no restart), unless its topology says "namespace"; an actor that names
// a namespace gets an observer in that namespace.
import type { ActorConfig } from "../config/model.js";
import type { LoadedPlugin } from "../plugin/registry.js";

export interface DesiredObserver {
  /** Stable identity: cluster/namespace/resource ("" for no namespace, "*" for a
   *  cluster-wide observer of a namespaced resource). */
  key: string;
  /** The namespace it lists; null: the whole cluster (cluster-scoped, or cluster-wide). */
  namespace: string | null;
  plugin: LoadedPlugin;
  /** Cluster-wide observers of a namespaced resource: namespaces whose objects it drops
   *  (the actor's `exclude`). */
  exclude: string[];
  /** Cluster-wide observers: namespaces its relist sweep leaves alone, because other
   *  observers of the same resource cover them (actors naming an excluded namespace). */
  sweepExcept: string[];
}

export type Topology = "cluster" | "namespace";

/** A cluster-wide observer of a namespaced resource (one list+watch of every namespace). */
export function isClusterWide(desired: DesiredObserver): boolean {
  return desired.namespace === null && desired.plugin.plugin.resource.namespaced;
}

/** How an actor is watched, and why (for `config print` and the start-up log). */
export interface ActorTopology {
  topology: Topology;
  why: string;
}

export function observerKey(cluster: string, namespace: string | null, resource: string): string {
  return `${cluster}/${namespace ?? ""}/${resource}`;
}

/** The key of the cluster-wide observer of a namespaced resource. */
export function clusterWideKey(cluster: string, resource: string): string {
  return `${cluster}/*/${resource}`;
}

/** `namespaced`: whether the actor's resource is namespaced (a loaded plugin, or what
 *  `config print` knows of it); undefined when unknown. */
export function actorTopology(actor: ActorConfig, plugin: LoadedPlugin | { namespaced: boolean } | undefined): ActorTopology {
  const namespaced = plugin === undefined ? undefined : "plugin" in plugin ? plugin.plugin.resource.namespaced : plugin.namespaced;
  if (namespaced === false) return { topology: "cluster", why: `resource "${actor.resource}" is cluster-scoped` };
  if (actor.namespace !== "*") return { topology: "namespace", why: `the actor names namespace "${actor.namespace}"` };
  if (actor.topology === "namespace") return { topology: "namespace", why: 'topology = "namespace": one list+watch per namespace' };
  if (actor.topology === "cluster") return { topology: "cluster", why: 'topology = "cluster": one cluster-wide list+watch' };
  return { topology: "cluster", why: 'namespace = "*" (topology "auto"): one cluster-wide list+watch, excluded namespaces filtered out' };
}

/** Whether any actor of this cluster needs the namespace list (per-namespace observers
 *  of every namespace). */
export function needsNamespaceDiscovery(actors: readonly ActorConfig[], plugins: ReadonlyMap<string, LoadedPlugin>): boolean {
  return actors.some((a) => {
    const plugin = plugins.get(a.resource);
    return a.namespace === "*" && plugin?.plugin.resource.namespaced === true && actorTopology(a, plugin).topology === "namespace";
  });
}

export function desiredObservers(
  cluster: string,
  actors: readonly ActorConfig[],
  namespaces: ReadonlySet<string>,
  plugins: ReadonlyMap<string, LoadedPlugin>,
): Map<string, DesiredObserver> {
  const desired = new Map<string, DesiredObserver>();
  const mine = actors.filter((a) => a.cluster === cluster && a.role === "observer");
  const add = (key: string, namespace: string | null, plugin: LoadedPlugin, exclude: string[] = [], sweepExcept: string[] = []): void => {
    desired.set(key, { key, namespace, plugin, exclude, sweepExcept });
  };
  for (const actor of mine) {
    const plugin = plugins.get(actor.resource);
    if (!plugin) continue; // reported by config validation / plugin loading
    if (!plugin.plugin.resource.namespaced) add(observerKey(cluster, null, plugin.plugin.name), null, plugin);
    else if (actor.namespace !== "*") add(observerKey(cluster, actor.namespace, plugin.plugin.name), actor.namespace, plugin);
    else if (actorTopology(actor, plugin).topology === "cluster") {
      // Config validation admits named actors of the same resource only in excluded
      // namespaces: those the sweep must leave to them.
      const named = mine.filter((a) => a.resource === actor.resource && a.namespace !== "*").map((a) => a.namespace);
      add(clusterWideKey(cluster, plugin.plugin.name), null, plugin, [...actor.exclude].sort(), [...new Set(named)].sort());
    } else {
      const excluded = new Set(actor.exclude);
      for (const ns of namespaces) if (!excluded.has(ns)) add(observerKey(cluster, ns, plugin.plugin.name), ns, plugin);
    }
  }
  return desired;
}

/** Whether an observer no longer desired hands its objects over to one that is (the
 *  actor switched topology): then it stops quietly, and the other one's relist makes
 *  the graph right, with no window where its objects are missing. */
export function coveredByOthers(stopping: DesiredObserver, desired: ReadonlyMap<string, DesiredObserver>): boolean {
  const resource = stopping.plugin.plugin.name;
  for (const other of desired.values()) {
    if (other.plugin.plugin.name !== resource || other.key === stopping.key) continue;
    if (stopping.namespace !== null) {
      // A per-namespace observer replaced by the cluster-wide one covering its namespace.
      if (other.namespace === null && !other.exclude.includes(stopping.namespace)) return true;
    } else if (isClusterWide(stopping) && other.namespace !== null && !stopping.sweepExcept.includes(other.namespace)) {
      // The cluster-wide observer replaced by per-namespace ones (topology "namespace").
      return true;
    }
  }
  return false;
}
