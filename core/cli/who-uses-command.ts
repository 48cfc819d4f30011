// `kube-observer who-uses TYPE NAME`: which objects use a Secret, ConfigMap, PVC, image, …
import type { Argv, CommandModule } from "yargs";
import { objectKey } from "../graph/keys.js";
import { storedKey } from "../graph/limits.js";
import { usageLine, whoUses } from "../graph/who-uses.js";
import { graphLabel } from "../dispatch/translate.js";
import type { GraphLookup } from "../plugin/types.js";
import type { PluginSet } from "../plugin/registry.js";
import { withGraph } from "./open-graph.js";
import { withHistory } from "./open-history.js";
import { whoUsedBetween } from "../history/who-used.js";
import { formatTime, parseTime } from "../history/time.js";

interface WhoUsesArgs {
  type: string;
  name: string;
  namespace?: string;
  cluster?: string;
  config: string;
  sink?: "sqlite" | "neo4j";
  json: boolean;
  at?: string;
  between?: string[];
}

/** Every name who-uses accepts: plugin names (their own nodes) plus the plugins' lookups. */
export function lookups(plugins: PluginSet): Map<string, GraphLookup> {
  const table = new Map<string, GraphLookup>();
  for (const [name, loaded] of plugins.plugins) {
    if (!loaded.plugin.graph) continue;
    const label = graphLabel(loaded);
    const namespaced = loaded.plugin.resource.namespaced;
    table.set(name, { label, namespaced, key: (n, ctx) => ctx.objectKey(label, namespaced ? ctx.namespace : null, n) });
    for (const [alias, lookup] of Object.entries(loaded.plugin.graph.lookups ?? {})) table.set(alias, lookup);
  }
  return table;
}

/** The key of the object a command names by TYPE NAME [-n NS] [--cluster C] (who-uses, graph view). */
export function lookupKey(
  plugins: PluginSet,
  config: { clusters: readonly { name: string }[] },
  what: { type: string; name: string; namespace?: string | undefined; cluster?: string | undefined },
): string {
  const table = lookups(plugins);
  const lookup = table.get(what.type);
  if (!lookup) throw new Error(`unknown type "${what.type}"; known: ${[...table.keys()].sort().join(", ")}`);
  const cluster = what.cluster ?? config.clusters[0]?.name ?? "";
  const namespace = lookup.namespaced ? (what.namespace ?? "default") : null;
  return lookup.key(what.name, { cluster, namespace, objectKey: (kind, ns, name) => objectKey(cluster, ns, kind, name) });
}

export const whoUsesCommand: CommandModule<object, WhoUsesArgs> = {
  command: "who-uses <type> <name>",
  describe: "List the objects that point at an object (anything a plugin or its lookups name: secret, configmap, image, registry, role, …), and how",
  builder: (y) =>
    (y as Argv)
      .positional("type", {
        type: "string",
        demandOption: true,
        describe:
          "a resource plugin's name (secret, configmap, service, clusterrole, …) or a lookup a plugin declares (pvc, image, registry, user, group, …); an unknown one lists them all",
      })
      .positional("name", { type: "string", demandOption: true, describe: "the object's name (for image: a reference, e.g. nginx:1.27)" })
      .option("namespace", { alias: "n", type: "string", default: "default", describe: "namespace of the object (namespaced types)" })
      .option("cluster", { type: "string", describe: "cluster name from the config (default: the first)" })
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the sink)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" })
      .option("json", { type: "boolean", default: false, describe: "Print the usages as JSON" })
      .option("at", { type: "string", describe: "From the history: who used it at this time (ISO 8601, or e.g. now-2h, 3d ago)" })
      .option("between", {
        type: "string",
        array: true,
        nargs: 2,
        describe: "From the history: who used it at any time between these two, with the intervals in which each did",
      })
      .conflicts("at", "between")
      .example("$0 who-uses secret db-credentials -n payments --config config/example.dhall", "pods that mount it, read it from env, or pull images with it")
      .example("$0 who-uses image nginx:1.27 --config config/example.dhall", "pods (in every cluster) running that image")
      .example(
        "$0 who-uses secret db -n payments --between 2026-11-30 2026-12-05 -c config/example.dhall",
        "every pod that used it that week, even those long gone, and when",
      ) as unknown as Argv<WhoUsesArgs>,
  handler: (args) =>
    args.at !== undefined || args.between !== undefined
      ? pastUsers(args)
      : withGraph(args.config, args.sink, async ({ config, plugins, sink }) => {
          const key = lookupKey(plugins, config, args);
          const usages = await whoUses(sink, key);
          // As stored: a name longer than a key may be is shown as its bounded form (limits.ts).
          const shown = storedKey(key);
          if (args.json) {
            process.stdout.write(`${JSON.stringify({ target: shown, usages }, null, 2)}\n`);
            return;
          }
          if (usages.length === 0) {
            process.stdout.write(`nothing in the graph uses ${shown}\n`);
            return;
          }
          process.stdout.write(`${shown} is used by:\n`);
          for (const u of usages) process.stdout.write(`  ${usageLine(u)}\n`);
        }),
};

/** who-uses --at / --between: from the history. */
function pastUsers(args: WhoUsesArgs): Promise<void> {
  return withHistory(args.config, args.sink, async ({ config, plugins, reader }) => {
    if (args.between !== undefined && args.between.length !== 2) throw new Error("--between takes two times: FROM TO");
    const [from, to] = args.between ? args.between.map((t) => parseTime(t)) : [parseTime(args.at!), parseTime(args.at!)];
    if (to! < from!) throw new Error(`--between: ${args.between![1]} is before ${args.between![0]}`);
    const key = storedKey(lookupKey(plugins, config, args));
    const usages = whoUsedBetween(reader, key, from!, to!);
    const pruned = reader.prunedBeforeMs();
    const window = from === to ? `at ${formatTime(from!)}` : `between ${formatTime(from!)} and ${formatTime(to!)}`;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ target: key, fromMs: from, toMs: to, prunedBeforeMs: pruned ?? null, usages }, null, 2)}\n`);
      return;
    }
    if (pruned !== undefined && from! < pruned)
      process.stdout.write(`(the history before ${formatTime(pruned)} was pruned: uses that ended before then are not shown)\n`);
    if (usages.length === 0) {
      process.stdout.write(`nothing in the history used ${key} ${window}\n`);
      return;
    }
    process.stdout.write(`${key} was used ${window} by:\n`);
    for (const u of usages)
      process.stdout.write(
        `  ${usageLine(u)}\n      ${u.intervals.map((i) => `${formatTime(i.fromMs)} → ${i.toMs === null ? "still" : formatTime(i.toMs)}`).join("\n      ")}\n`,
      );
  });
}
