// The resource plugin contract. A plugin is one file (in plugins/ or a directory named
// in the config) whose default export is a ResourcePlugin. Observers call `reduce` in
// their worker thread, before anything is stored; the graph side is added by the graph
// pipeline and is optional here.
import type { KubeObject } from "../messages.js";

/** The API resource a plugin observes. */
export interface ApiResource {
  /** "" for the core group. */
  group: string;
  version: string;
  /** The URL path segment, e.g. "pods". */
  plural: string;
  /** The object kind, e.g. "Pod". */
  kind: string;
  namespaced: boolean;
}

export interface ResourcePlugin<Reduced = unknown> {
  /** Unique name, used in the config's actors: `resource = "pod"`. Lower case. */
  name: string;
  /** The plugin API version this plugin was written for (see PLUGIN_API_VERSION). */
  apiVersion: number;
  resource: ApiResource;
  /**
   * Keeps only what the graph needs. Must drop every secret value the object may carry
   * (the core already drops metadata.managedFields and the
   * kubectl.kubernetes.io/last-applied-configuration annotation). Pure: no I/O.
   */
  reduce(object: KubeObject): Reduced;
  /** Set by the one plugin whose objects are the cluster's namespaces: the supervisor
   *  watches it to discover namespaces (so core names no resource kind). */
  providesNamespaces?: boolean;
}

/** Bumped when the contract changes incompatibly; a plugin declaring another is refused. */
export const PLUGIN_API_VERSION = 1;

/** Identity helper that gives plugin authors type checking. */
export function definePlugin<Reduced>(plugin: ResourcePlugin<Reduced>): ResourcePlugin<Reduced> {
  return plugin;
}
