// Shared by the commands that read the history: the config, its plugins, and the history
// file the config names (read-only: they run beside a live agent).
import { loadAgentConfig } from "../agent-config.js";
import type { Config } from "../config/model.js";
import { historyFile } from "../history/paths.js";
import { HistoryReader } from "../history/reader.js";
import { loadPlugins, type PluginSet } from "../plugin/registry.js";
import { withOpened } from "./open-graph.js";

export interface OpenedHistory {
  config: Config;
  plugins: PluginSet;
  reader: HistoryReader;
  /** The history's file. */
  file: string;
}

export async function openHistory(configFile: string, sinkKind?: "sqlite" | "neo4j"): Promise<OpenedHistory> {
  const { config } = await loadAgentConfig(configFile);
  const file = historyFile(config, sinkKind ?? config.sink.kind);
  if (file === null)
    throw new Error(`${configFile} keeps no history: set history = T.History::{ enabled = True } in it (docs/history.md), and the agent keeps it from then on`);
  const plugins = await loadPlugins(config.pluginDirs);
  return { config, plugins, reader: HistoryReader.open(file), file };
}

/** Runs fn with the config's history open, closes it, and reports a failure as the command's. */
export function withHistory(configFile: string, sinkKind: "sqlite" | "neo4j" | undefined, fn: (opened: OpenedHistory) => Promise<void>): Promise<void> {
  return withOpened(
    () => openHistory(configFile, sinkKind),
    (opened) => opened.reader.close(),
    fn,
  );
}
