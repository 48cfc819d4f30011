// What config validation knows about resource plugins: the built-in ones plus those in
// the directories a configuration names (`config check`).
import type { KnownResources } from "../config/model.js";
import { knownResources, loadPlugins } from "./registry.js";

export interface KnownResourcesResult {
  known: KnownResources;
  /** Plugin files that could not be loaded, as "file: reason". */
  problems: string[];
}

export async function knownResourcesFor(pluginDirs: readonly string[] = []): Promise<KnownResourcesResult> {
  const set = await loadPlugins(pluginDirs);
  return { known: knownResources(set), problems: set.errors.map((e) => e.message) };
}
