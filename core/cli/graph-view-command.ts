// `kube-observer graph view KIND NAME`: a picture of an object and its neighbourhood, as a
// self-contained HTML page (--out) or served and kept live (--serve).
import { writeFileSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { storedKey } from "../graph/limits.js";
import { readView } from "../view/neighbourhood.js";
import { renderPage } from "../view/page.js";
import { parseServeAddress, serveView, serverUrl } from "../view/serve.js";
import { withGraph } from "./open-graph.js";
import { lookupKey } from "./who-uses-command.js";

interface ViewArgs {
  type: string;
  name: string;
  namespace?: string;
  cluster?: string;
  config: string;
  sink?: "sqlite" | "neo4j";
  depth: number;
  maxNodes: number;
  out?: string;
  serve?: string;
}

export const graphViewCommand: CommandModule<object, ViewArgs> = {
  command: "view <type> <name>",
  describe: "Draw an object and everything within --depth hops of it (both directions) as a self-contained HTML page, or serve it live",
  builder: (y) =>
    (y as Argv)
      .positional("type", {
        type: "string",
        demandOption: true,
        describe: "as who-uses takes it: a resource plugin's name (secret, pod, serviceaccount, clusterrole, …) or a lookup (image, user, group, …)",
      })
      .positional("name", { type: "string", demandOption: true, describe: "the object's name (for image: a reference, e.g. nginx:1.27)" })
      .option("namespace", { alias: "n", type: "string", default: "default", describe: "namespace of the object (namespaced types)" })
      .option("cluster", { type: "string", describe: "cluster name from the config (default: the first)" })
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the sink)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" })
      .option("depth", { type: "number", default: 2, describe: "hops from the object, either direction (a Volume counts with its Pod)" })
      .option("max-nodes", { type: "number", default: 300, describe: "draw at most this many nodes, the nearest first (the page says when capped)" })
      .option("out", { alias: "o", type: "string", describe: "write the page to this file (default: standard output)" })
      .option("serve", {
        type: "string",
        describe: "serve the page on HOST:PORT (or PORT, on 127.0.0.1) and keep it live: it re-reads the graph every second",
      })
      .conflicts("out", "serve")
      .check((a) => {
        if (!Number.isInteger(a.depth) || (a.depth as number) < 0 || (a.depth as number) > 10) throw new Error("--depth must be a whole number from 0 to 10");
        if (!Number.isInteger(a["max-nodes"]) || (a["max-nodes"] as number) < 1) throw new Error("--max-nodes must be a whole number of at least 1");
        if (a.serve !== undefined) parseServeAddress(String(a.serve));
        return true;
      })
      .example(
        "$0 graph view secret db-credentials -n payments --depth 4 --config config/example.dhall --out secret.html",
        "the Secret, who mounts it or reads it from env, the ServiceAccounts they run as and the RoleBindings naming those",
      )
      .example(
        "$0 graph view serviceaccount api -n payments --depth 3 --config config/example.dhall --serve 127.0.0.1:8080",
        "open http://127.0.0.1:8080/; it follows the cluster",
      )
      .example(
        "$0 graph view image nginx:1.27 --config config/example.dhall -o nginx.html",
        "every pod and workload running that image",
      ) as unknown as Argv<ViewArgs>,
  handler: (args) =>
    withGraph(args.config, args.sink, async ({ config, plugins, sink }) => {
      const target = storedKey(lookupKey(plugins, config, args));
      // Each poll of a served page reads again: a failure is said once, not once a second.
      let lastFailure = "";
      const read = async () => {
        const view = await readView(sink, target, { depth: args.depth, maxNodes: args.maxNodes });
        lastFailure = "";
        return view;
      };
      if (args.serve === undefined) {
        const page = renderPage(await read());
        if (args.out) writeFileSync(args.out, page);
        else process.stdout.write(page);
        return;
      }
      const server = await serveView(parseServeAddress(args.serve), read, (error) => {
        const message = error instanceof Error ? error.message : String(error);
        if (message !== lastFailure) process.stderr.write(`reading the graph failed: ${message}\n`);
        lastFailure = message;
      });
      process.stdout.write(`serving ${target} on ${serverUrl(server)} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          server.closeAllConnections();
          server.close(() => resolve());
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    }),
};
