// `kube-observer graph stats|export|dangling|view`: read the configured graph sink.
import type { Argv, CommandModule } from "yargs";
import { graphLabel } from "../dispatch/translate.js";
import { danglingReferences } from "../graph/dangling.js";
import { graphViewCommand } from "./graph-view-command.js";
import { withHistory } from "./open-history.js";
import { parseTime } from "../history/time.js";
import { withGraph } from "./open-graph.js";

interface GraphArgs {
  config: string;
  sink?: "sqlite" | "neo4j";
  json?: boolean;
  format?: "jsonl";
  at?: string;
}

const common = (y: Argv) =>
  y
    .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the sink)" })
    .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" }) as unknown as Argv<GraphArgs>;

const stats: CommandModule<object, GraphArgs> = {
  command: "stats",
  describe: "Nodes per label and edges per type",
  builder: (y) =>
    common(y)
      .option("json", { type: "boolean", default: false, describe: 'Print {"nodes": {...}, "edges": {...}}' })
      .example("$0 graph stats --config config/example.dhall", "a table of counts") as Argv<GraphArgs>,
  handler: (args) =>
    withGraph(args.config, args.sink, async ({ sink }) => {
      const s = await sink.stats();
      if (args.json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      const rows = [...Object.entries(s.nodes).map(([k, n]) => ["node", k, n] as const), ...Object.entries(s.edges).map(([k, n]) => ["edge", k, n] as const)];
      const width = Math.max(10, ...rows.map((r) => r[1].length));
      for (const [what, name, n] of rows) process.stdout.write(`${what}  ${name.padEnd(width)}  ${n}\n`);
    }),
};

const exportCommand: CommandModule<object, GraphArgs> = {
  command: "export",
  describe: "Every node, then every edge, one JSON object per line",
  builder: (y) =>
    common(y)
      .option("format", { choices: ["jsonl"] as const, default: "jsonl" as const, describe: "Output format" })
      .option("at", {
        type: "string",
        describe: "From the history: the graph as it was at this time (ISO 8601, or e.g. now-2h); nodes without observedAt",
      })
      .example("$0 graph export --config config/example.dhall > graph.jsonl", "the whole graph, sorted, for diffing or loading elsewhere")
      .example("$0 graph export --at 2026-12-01T09:00:00Z -c config/example.dhall > before.jsonl", "the graph as it was then") as Argv<GraphArgs>,
  handler: (args) => {
    const write = async (lines: AsyncIterable<unknown>) => {
      for await (const line of lines) {
        if (!process.stdout.write(`${JSON.stringify(line)}\n`)) await new Promise((r) => process.stdout.once("drain", r));
      }
    };
    if (args.at !== undefined) {
      const at = parseTime(args.at);
      return withHistory(args.config, args.sink, async ({ reader }) => write(reader.at(at).export()));
    }
    return withGraph(args.config, args.sink, async ({ sink }) => write(sink.export()));
  },
};

const dangling: CommandModule<object, GraphArgs> = {
  command: "dangling",
  describe: "References to objects that do not exist (e.g. a pod naming a missing Secret), and who makes them",
  builder: (y) =>
    common(y)
      .option("json", { type: "boolean", default: false, describe: "Print as JSON" })
      .example(
        "$0 graph dangling --config config/example.dhall",
        "missing Secrets, ConfigMaps, PVCs and ServiceAccounts that pods still reference",
      ) as Argv<GraphArgs>,
  handler: (args) =>
    withGraph(args.config, args.sink, async ({ sink, plugins, config }) => {
      const observed = new Set(config.actors.map((a) => plugins.plugins.get(a.resource)).flatMap((p) => (p?.plugin.graph ? [graphLabel(p)] : [])));
      const found = await danglingReferences(sink, observed);
      if (args.json) {
        process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
        return;
      }
      if (found.length === 0) process.stdout.write("no dangling references\n");
      for (const d of found) {
        process.stdout.write(`${d.label} ${d.key} does not exist; referenced by:\n`);
        for (const u of d.usedBy)
          process.stdout.write(
            `  ${u.user.label} ${u.user.namespace ? `${u.user.namespace}/` : ""}${u.user.name} (${u.how.map((h) => h.rel + (h.via ? ` ${h.via}` : "")).join(" → ")})\n`,
          );
      }
    }),
};

export const graphCommand: CommandModule = {
  command: "graph <command>",
  describe: "Read the graph the agent wrote (embedded SQLite or Neo4j)",
  builder: (y) =>
    y
      .command(stats as CommandModule)
      .command(exportCommand as CommandModule)
      .command(dangling as CommandModule)
      .command(graphViewCommand as CommandModule)
      .demandCommand(1, "name a graph command: stats, export, dangling or view"),
  handler: () => undefined,
};
