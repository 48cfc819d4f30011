// Which (label, namespace) the config observes in one cluster: a placeholder there is a
// reference to something missing, not something the agent was never asked to watch.
import type { Config } from "../../config/model.js";
import { graphLabel } from "../../dispatch/translate.js";
import type { PluginSet } from "../../plugin/registry.js";

export function observedScopes(config: Config, plugins: PluginSet, cluster: string): (label: string, namespace: string | null) => boolean {
  const scopes = config.actors
    .filter((a) => a.cluster === cluster)
    .flatMap((a) => {
      const loaded = plugins.plugins.get(a.resource);
      if (!loaded) return [];
      return [{ label: graphLabel(loaded), namespaced: loaded.plugin.resource.namespaced, namespace: a.namespace, exclude: new Set(a.exclude) }];
    });
  return (label, namespace) =>
    scopes.some((s) => {
      if (s.label !== label) return false;
      if (!s.namespaced || namespace === null) return !s.namespaced && namespace === null;
      return s.namespace === "*" ? !s.exclude.has(namespace) : s.namespace === namespace;
    });
}
