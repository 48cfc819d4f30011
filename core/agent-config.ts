// A config file checked against the plugins it names: the Dhall is evaluated, its plugin
// directories loaded, and the actors validated against built-in plus third-party plugins.
import { evaluateConfig } from "./config/load.js";
import type { Config, KnownResource } from "./config/model.js";
import { knownResources, loadErrorFor, loadPlugins, type PluginLoadError, type PluginSet } from "./plugin/registry.js";

export interface LoadedAgentConfig {
  config: Config;
  pluginErrors: PluginLoadError[];
  /** The plugins the config was checked against (the agent runs these). */
  plugins: PluginSet;
}

/**
 * `previous` is the plugin set in use (a reload): a plugin file that breaks keeps its
 * last good version. An actor whose resource is provided by a plugin file that failed
 * to load (the file declares that name, or is named after it) is accepted: the agent
 * reports it, runs everything else, and observes it once the plugin loads on a reload.
 * Any other unknown resource is a config error, as before.
 */
export async function loadAgentConfig(file: string, previous?: PluginSet): Promise<LoadedAgentConfig> {
  // Evaluated once: the plugins are checked against the same config that named them.
  const evaluated = await evaluateConfig(file);
  const shape = evaluated.config;
  const plugins = await loadPlugins(shape.pluginDirs, previous ? { previous } : {});
  const known = new Map<string, KnownResource>(knownResources(plugins));
  for (const actor of shape.actors) {
    // Scope checks need the plugin; until it loads, any namespace is accepted.
    if (!known.has(actor.resource) && loadErrorFor(plugins, actor.resource)) known.set(actor.resource, { namespaced: true });
  }
  const config = evaluated.validate(known);
  return { config, pluginErrors: plugins.errors, plugins };
}
