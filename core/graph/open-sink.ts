// The configured graph sink, with the command line's --sink and Neo4j's own environment
// variables (NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD) taken into account.
import type { SinkConfig } from "../config/model.js";
import type { GraphSink } from "./model.js";
import type { SchemaLog } from "./schema-version.js";
import { SqliteGraphSink } from "./sqlite-sink.js";
import type { DamageRecovery } from "../storage/damaged-file.js";

export interface SinkOverrides {
  kind?: "sqlite" | "neo4j";
  env?: NodeJS.ProcessEnv;
  /** "read" for commands that only look (works beside a live agent); "write" (the
   *  default) for the agent, which takes the embedded graph's lock. */
  access?: "write" | "read";
  /** Neo4j: called when another agent has taken this one's writer registration. */
  onWriterLost?: (error: Error) => void;
  /** Where the sink logs a migration or rebuild of an older stored graph (and Neo4j outages). */
  log?: SchemaLog;
  /** The agent's: a damaged embedded graph is moved aside and rebuilt (sqlite-sink.ts). */
  recovery?: DamageRecovery;
  /** The embedded graph keeps the history in its own file (core/history/). */
  history?: boolean;
}

export async function openSink(config: SinkConfig, overrides: SinkOverrides = {}): Promise<GraphSink> {
  const env = overrides.env ?? process.env;
  const kind = overrides.kind ?? config.kind;
  if (kind === "sqlite") {
    return new SqliteGraphSink(config.sqlitePath, {
      access: overrides.access ?? "write",
      ...(overrides.log ? { log: overrides.log } : {}),
      ...(overrides.recovery ? { recovery: overrides.recovery } : {}),
      ...(overrides.history ? { history: true } : {}),
    });
  }
  const uri = env.NEO4J_URI ?? config.neo4j?.uri;
  if (!uri) throw new Error("the Neo4j sink needs a URI: set sink.neo4j.uri in the config or NEO4J_URI");
  const username = env.NEO4J_USERNAME ?? config.neo4j?.username ?? "neo4j";
  const passwordEnv = config.neo4j?.passwordEnv ?? "NEO4J_PASSWORD";
  const password = env[passwordEnv] ?? env.NEO4J_PASSWORD;
  if (password === undefined) throw new Error(`the Neo4j sink needs a password in $${passwordEnv}`);
  const { Neo4jSink } = await import("./neo4j-sink.js");
  const sink = new Neo4jSink({
    uri,
    username,
    password,
    database: config.neo4j?.database ?? null,
    writerLeaseSeconds: config.neo4j?.writerLeaseSeconds,
    onWriterLost: overrides.onWriterLost,
    ...(overrides.log ? { log: overrides.log } : {}),
  });
  // Read-only commands never migrate: a graph at another version is refused before any read.
  if (overrides.access === "read") {
    try {
      await sink.checkReadable();
    } catch (error) {
      await sink.close().catch(() => undefined);
      throw error;
    }
  }
  return sink;
}

/** The union of every plugin's declared graph schema. */
export function combinedSchema(plugins: Iterable<{ plugin: { graph?: { schema: { labels: string[]; relationships: string[] } } } }>): {
  labels: string[];
  relationships: string[];
} {
  const labels = new Set<string>();
  const relationships = new Set<string>();
  for (const p of plugins) {
    for (const l of p.plugin.graph?.schema.labels ?? []) labels.add(l);
    for (const r of p.plugin.graph?.schema.relationships ?? []) relationships.add(r);
  }
  return { labels: [...labels].sort(), relationships: [...relationships].sort() };
}
