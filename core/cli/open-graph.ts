// Shared by the read-only graph commands: the config, its plugins, and its sink.
import { loadAgentConfig } from "../agent-config.js";
import type { Config } from "../config/model.js";
import { configErrorList } from "../config/validate.js";
import { ConfigError } from "../config/model.js";
import type { GraphSink } from "../graph/model.js";
import { openSink } from "../graph/open-sink.js";
import { loadPlugins, type PluginSet } from "../plugin/registry.js";

export interface OpenedGraph {
  config: Config;
  plugins: PluginSet;
  sink: GraphSink;
}

export async function openGraph(configFile: string, sinkKind?: "sqlite" | "neo4j"): Promise<OpenedGraph> {
  const { config } = await loadAgentConfig(configFile);
  const plugins = await loadPlugins(config.pluginDirs);
  // Read-only: these commands run beside a live agent, which holds the writer's lock.
  const sink = await openSink(config.sink, { access: "read", ...(sinkKind ? { kind: sinkKind } : {}) });
  return { config, plugins, sink };
}

/** Prints a command's failure and sets the exit code (config errors with their locations).
 *  An internal error (TypeError and the like: a bug, not bad input) also names where it
 *  was thrown, so that a report of it can be acted on: frame locations only. */
export function reportFailure(error: unknown): void {
  const lines =
    error instanceof ConfigError
      ? configErrorList(error).map((e) => e.message)
      : isInternal(error)
        ? internalErrorLines(error)
        : [error instanceof Error ? error.message : String(error)];
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exitCode = 1;
}

function isInternal(error: unknown): error is Error {
  return error instanceof TypeError || error instanceof ReferenceError || error instanceof RangeError;
}

function internalErrorLines(error: Error): string[] {
  const frames = (error.stack ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("at "))
    .slice(0, 5);
  return [`internal error (a bug in kube-observer; please report it with the lines below): ${error.name}: ${error.message}`, ...frames.map((f) => `  ${f}`)];
}

/** Opens something a command reads, runs fn with it, closes it, and reports a failure as
 *  the command's (the graph here, the history in open-history.ts). */
export async function withOpened<T>(open: () => Promise<T>, close: (opened: T) => Promise<void> | void, fn: (opened: T) => Promise<void>): Promise<void> {
  try {
    const opened = await open();
    try {
      await fn(opened);
    } finally {
      await close(opened);
    }
  } catch (error) {
    reportFailure(error);
  }
}

/** Runs fn with the config's graph open, closes it, and reports a failure as the command's. */
export function withGraph(configFile: string, sinkKind: "sqlite" | "neo4j" | undefined, fn: (graph: OpenedGraph) => Promise<void>): Promise<void> {
  return withOpened(
    () => openGraph(configFile, sinkKind),
    (graph) => graph.sink.close(),
    fn,
  );
}
