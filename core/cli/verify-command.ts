// `kube-observer verify --config FILE`: is the graph complete? Compares the sink's graph
// with what a fresh, direct LIST of every configured scope implies (core/verify/).
import type { Argv, CommandModule } from "yargs";
import { createLogger } from "../log/logger.js";
import { formatReport } from "../verify/report.js";
import { verifyGraph } from "../verify/verify.js";
import { withGraph } from "./open-graph.js";

interface VerifyArgs {
  config: string;
  sink?: "sqlite" | "neo4j";
  json: boolean;
  "settle-seconds": number;
  "interval-seconds": number;
  examples: number;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: "verify",
  describe: "Is the graph complete? Compare the graph with a fresh LIST of every configured scope",
  builder: (y) =>
    y
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the clusters, the actors and the sink)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" })
      .option("json", { type: "boolean", default: false, describe: "Print the whole report as one JSON object" })
      .option("settle-seconds", {
        type: "number",
        default: 10,
        describe:
          "While the graph differs, list and compare again (see --interval-seconds) for up to this long (a live cluster changes meanwhile); 0 looks once",
      })
      .option("interval-seconds", { type: "number", default: 2, describe: "The pause between looks while the graph differs" })
      .option("examples", { type: "number", default: 3, describe: "Example keys shown per non-zero cell" })
      .check((a) => {
        if (!Number.isFinite(a["settle-seconds"]) || a["settle-seconds"] < 0) throw new Error("--settle-seconds must be a number >= 0");
        if (!Number.isFinite(a["interval-seconds"]) || a["interval-seconds"] < 0) throw new Error("--interval-seconds must be a number >= 0");
        if (!Number.isInteger(a.examples) || a.examples < 0) throw new Error("--examples must be a whole number >= 0");
        return true;
      })
      .example("$0 verify --config config/example.dhall", "a table per node label and relationship type, examples, and a verdict")
      .example("$0 verify --config config/example.dhall --sink neo4j --json > verify.json", "the whole report as JSON, for an audit record")
      .example("$0 verify --config config/example.dhall --settle-seconds 0", "one look, no waiting (nothing is changing)")
      .epilogue(
        [
          'What it compares: for every configured cluster and actor, the scopes the agent observes (every namespace for "*" actors, minus exclusions), listed now with the agent\'s own client and credentials but not through its observers, WAL or dispatcher. Each object goes through the same plugin and translation into a scratch graph. Nodes are compared by key (missing, stale, different labels or properties; observedAt is ignored), edges by type, ends, owner and properties (missing, extra). Nodes of clusters not in the config are not compared; shared nodes (images, registries) are, unless only other clusters use them. Output shows keys and property names, never property values.',
          "",
          "Exit codes: 0 the graph equals the cluster; 1 it differs, a scope cannot be listed (forbidden, not served: the message names the scope), or the sink cannot be read.",
          "",
        ].join("\n"),
      ) as unknown as Argv<VerifyArgs>,
  handler: (args) =>
    withGraph(args.config, args.sink, async ({ config, plugins, sink }) => {
      const log = createLogger({ level: config.log.level });
      const report = await verifyGraph({
        config,
        plugins,
        sink,
        log,
        settleSeconds: args["settle-seconds"],
        intervalSeconds: args["interval-seconds"],
        maxExamples: args.examples,
      });
      if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(formatReport(report));
      // The reason a scope could not be listed also goes to stderr, where failures go.
      for (const failure of report.failures) process.stderr.write(`kube-observer verify: ${failure.message}\n`);
      process.exitCode = report.equal ? 0 : 1;
    }),
};
