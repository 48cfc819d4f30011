// A config file checked against the plugins it names: the Dhall is evaluated, its plugin
// directories loaded, and the actors validated against built-in plus third-party plugins.
import { loadConfig, loadConfigJson } from "./config/load.js";
import type { Config } from "./config/model.js";
import { knownResources, loadPlugins, type PluginLoadError } from "./plugin/registry.js";

export interface LoadedAgentConfig {
  config: Config;
  pluginErrors: PluginLoadError[];
}

export async function loadAgentConfig(file: string): Promise<LoadedAgentConfig> {
  const shape = await loadConfigJson(file);
  const plugins = await loadPlugins(shape.pluginDirs);
  const config = await loadConfig(file, knownResources(plugins));
  return { config, pluginErrors: plugins.errors };
}
