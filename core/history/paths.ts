// Where the history is kept: the embedded graph's own file (so a change is in the graph
// and the history in one transaction), or, with Neo4j, a file beside the WAL.
import { resolve } from "node:path";
import type { Config } from "../config/model.js";

/** The history's file for a sink of this kind, or null when history is off. */
export function historyFile(config: Pick<Config, "history" | "sink" | "wal">, kind: "sqlite" | "neo4j" = config.sink.kind): string | null {
  if (!config.history.enabled) return null;
  if (config.history.path !== null) return resolve(config.history.path);
  if (kind === "sqlite") return resolve(config.sink.sqlitePath);
  const wal = resolve(config.wal.path);
  return `${wal.endsWith(".sqlite") ? wal.slice(0, -".sqlite".length) : wal}.history.sqlite`;
}

/** Whether the history shares the embedded graph's file (else it keeps a copy of the
 *  current graph of its own, to cut versions from). */
export function historyInGraphFile(config: Pick<Config, "history" | "sink" | "wal">, kind: "sqlite" | "neo4j" = config.sink.kind): boolean {
  const file = historyFile(config, kind);
  return file !== null && kind === "sqlite" && file === resolve(config.sink.sqlitePath);
}
