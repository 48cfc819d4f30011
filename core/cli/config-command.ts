// `kube-observer config check FILE` and `kube-observer config print FILE`.
// Failures set process.exitCode (never process.exit), so the command can run inside
// tests and inside a caller that still has output to flush.
import type { Argv, CommandModule } from "yargs";
import { loadConfig, loadConfigJson } from "../config/load.js";
import { ConfigError } from "../config/model.js";
import { configErrorList } from "../config/validate.js";
import { knownResourcesFor, type KnownResourcesResult } from "../plugin/builtin-names.js";
import { actorTopology } from "../supervisor/desired.js";

export interface ConfigCommandDeps {
  /** Receives whole lines, newline included. */
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The resource plugins a configuration may name: built-in plus its plugin directories. */
  knownResources: (pluginDirs: readonly string[]) => Promise<KnownResourcesResult>;
}

interface FileArgs {
  file: string;
}

/** The `config` command, with its output and plugin lookup replaceable (for tests). */
export function createConfigCommand(overrides: Partial<ConfigCommandDeps> = {}): CommandModule {
  const deps: ConfigCommandDeps = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    knownResources: knownResourcesFor,
    ...overrides,
  };

  /** Prints each problem as `file:line:col: reason`; an unknown resource whose plugin
   *  failed to load points at that plugin's error. */
  const fail = (file: string, error: unknown, plugins?: KnownResourcesResult) => {
    const explained = (message: string): string => {
      const resource = /unknown resource "([^"]+)"/.exec(message)?.[1];
      if (resource === undefined || !plugins) return message;
      const why = plugins.explain?.(resource);
      if (why) return `${message}; it is not loaded because ${why}`;
      if (plugins.problems.length > 0)
        return `${message}; ${count(plugins.problems.length, "plugin file")} failed to load (warnings above): is it one of them?`;
      return message;
    };
    const lines =
      error instanceof ConfigError
        ? configErrorList(error).map((e) => explained(e.message))
        : [`${file}: ${error instanceof Error ? error.message : String(error)}`];
    for (const line of lines) deps.stderr(`${line}\n`);
    process.exitCode = 1;
  };

  const fileArgument = (yargs: Argv) =>
    yargs.positional("file", { type: "string", demandOption: true, describe: "the Dhall configuration file" }) as unknown as Argv<FileArgs>;

  const check: CommandModule<object, FileArgs> = {
    command: "check <file>",
    describe: "Evaluate a configuration and report every problem with its file, line and column",
    builder: (yargs) => fileArgument(yargs).example("$0 config check config/example.dhall", 'prints "config/example.dhall: ok (1 cluster, 7 actors)"'),
    handler: async ({ file }) => {
      let plugins: KnownResourcesResult | undefined;
      try {
        const { pluginDirs } = await loadConfigJson(file);
        plugins = await deps.knownResources(pluginDirs);
        for (const problem of plugins.problems) deps.stderr(`warning: ${problem}\n`);
        const config = await loadConfig(file, plugins.known);
        deps.stdout(`${file}: ok (${count(config.clusters.length, "cluster")}, ${count(config.actors.length, "actor")})\n`);
      } catch (error) {
        fail(file, error, plugins);
      }
    },
  };

  const print: CommandModule<object, FileArgs> = {
    command: "print <file>",
    describe: "Print a configuration as JSON, with every default filled in, and how each actor is watched (topology, and why)",
    builder: (yargs) => fileArgument(yargs).example("$0 config print config/example.dhall > config.json", "the configuration the agent would run with"),
    handler: async ({ file }) => {
      try {
        const config = await loadConfigJson(file);
        const { known } = await deps.knownResources(config.pluginDirs);
        // Derived, not configuration: the topology each actor gets (as the start-up log says).
        const topology = config.actors.map((actor, i) => ({
          actor: i,
          cluster: actor.cluster,
          resource: actor.resource,
          namespace: actor.namespace,
          ...actorTopology(actor, known.get(actor.resource)),
        }));
        deps.stdout(`${JSON.stringify({ ...config, topology }, null, 2)}\n`);
      } catch (error) {
        fail(file, error);
      }
    },
  };

  return {
    command: "config <command>",
    describe: "Check or print a Dhall configuration file",
    builder: (yargs) =>
      yargs
        .command(check as CommandModule)
        .command(print as CommandModule)
        .demandCommand(1, "name a config command: check or print")
        .example("$0 config check config/example.dhall", "check a configuration before deploying it")
        .example("$0 config print config/example.dhall", "show it as JSON, defaults included"),
    handler: () => {},
  };
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export const configCommand: CommandModule = createConfigCommand();
