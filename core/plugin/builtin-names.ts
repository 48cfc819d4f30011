// What config validation knows about the built-in plugins when no plugin directories are
// involved (`config check`).
import type { KnownResources } from "../config/model.js";
import { knownResources, loadPlugins } from "./registry.js";

export async function builtinKnownResources(): Promise<KnownResources> {
  return knownResources(await loadPlugins([]));
}
