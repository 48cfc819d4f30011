// What config validation knows about resource plugins: the built-in ones plus those in
// the directories a configuration names (`config check`).
import type { KnownResources } from "../config/model.js";
import { knownResources, loadErrorFor, loadPlugins } from "./registry.js";

export interface KnownResourcesResult {
  known: KnownResources;
  /** Plugin files that could not be loaded, as "file: reason". */
  problems: string[];
  /** Why a resource no loaded plugin provides is missing, when a plugin file that failed
   *  to load declares it (or is named after it): "plugin FILE: reason". */
  explain?: (resource: string) => string | undefined;
}

export async function knownResourcesFor(pluginDirs: readonly string[] = []): Promise<KnownResourcesResult> {
  const set = await loadPlugins(pluginDirs);
  return {
    known: knownResources(set),
    problems: set.errors.map((e) => e.message),
    explain: (resource) => loadErrorFor(set, resource)?.message,
  };
}
