// An object through its plugin's reduce, as it will travel: scrubbed of secret values
// first, and returned as plain JSON (what crosses to the main thread and the WAL), so
// that a value JSON cannot hold (a BigInt, a cycle, a Date) is this object's error
// rather than a batch that can never be delivered, and what the graph function sees live
// is what it sees after a replay.
import type { KubeObject } from "../messages.js";
import type { AnnotationFilter } from "../plugin/annotation-rules.js";
import { scrubObject } from "../plugin/sdk.js";
import { describePluginFailure } from "../plugin/plugin-error.js";
import type { ResourcePlugin } from "../plugin/types.js";

export interface Reduction {
  object: unknown;
  /** Set when the plugin failed on this object: the message still flows (downstream
   *  parks it), its content does not. */
  error?: string;
}

/** Core Secrets: every annotation value is withheld, whichever plugin observes them. */
export function observesSecrets(plugin: ResourcePlugin): boolean {
  return plugin.resource.group === "" && plugin.resource.kind === "Secret";
}

export function reduceObject(plugin: ResourcePlugin, object: KubeObject, annotations?: AnnotationFilter, pluginFile?: string): Reduction {
  let reduced: unknown;
  try {
    reduced = plugin.reduce(scrubObject(object, { ...(annotations ? { annotations } : {}), secret: observesSecrets(plugin) }));
  } catch (error) {
    return { object: null, error: describePluginFailure(error, plugin.name, "reduce", pluginFile) };
  }
  try {
    const text = JSON.stringify(reduced);
    if (text === undefined) return { object: null, error: `plugin "${plugin.name}" reduce returned ${typeof reduced}, not a JSON value` };
    return { object: JSON.parse(text) as unknown };
  } catch (error) {
    // JSON.stringify's own errors (a cycle, a BigInt) name no values; anything else came
    // from the plugin's code (a toJSON that throws) and is described like a throw.
    const own = error instanceof TypeError && /^(Converting circular structure|Do not know how to serialize a BigInt)/.test(error.message);
    const why = own ? error.message.split("\n")[0]! : describePluginFailure(error, plugin.name, "reduce", pluginFile);
    return { object: null, error: `plugin "${plugin.name}" reduce returned a value that is not JSON: ${why}` };
  }
}
