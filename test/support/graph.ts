// Helpers for graph tests: a workspace (config, WAL and SQLite graph in a temp dir), the
// sinks opened in-process for reading, and exports normalised for comparison.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteGraphSink } from "../../core/graph/sqlite-sink.js";
import type { ExportLine, GraphSink } from "../../core/graph/model.js";
import { AgentProcess, writeConfig, type ActorSpec, type ConfigSpec } from "./agent.js";
import { devEnv, neo4jDriver } from "./cluster.js";

export type SinkKind = "sqlite" | "neo4j";

export interface Workspace {
  dir: string;
  config: string;
  sink: SinkKind;
  walPath: string;
  graphPath: string;
  /** Environment the agent needs (the Neo4j password). */
  env: Record<string, string>;
  run(extra?: string[], env?: Record<string, string>): AgentProcess;
  runOnce(): Promise<AgentProcess>;
  openSink(): Promise<GraphSink>;
  exportLines(): Promise<ExportLine[]>;
  rewrite(spec: Partial<ConfigSpec>): void;
}

export function workspace(sink: SinkKind, actors: ActorSpec[], extra: Partial<ConfigSpec> = {}): Workspace {
  const dir = mkdtempSync(join(tmpdir(), `kube-observer-graph-${sink}-`));
  const walPath = join(dir, "wal.sqlite");
  const graphPath = join(dir, "graph.sqlite");
  const env = { KO_TEST_NEO4J_PASSWORD: devEnv().neo4j.password };
  const base: ConfigSpec = {
    actors,
    walPath,
    sink: sink === "sqlite" ? { kind: "sqlite", sqlitePath: graphPath } : { kind: "neo4j", uri: devEnv().neo4j.boltUrl },
    ...extra,
  };
  const config = writeConfig(base, dir);
  const ws: Workspace = {
    dir,
    config,
    sink,
    walPath,
    graphPath,
    env,
    run: (args = [], more = {}) => new AgentProcess(["run", "--config", config, ...args], { ...env, ...more }),
    runOnce: async () => {
      const agent = ws.run(["--once"]);
      const exit = await agent.exited;
      if (exit.code !== 0) throw new Error(`run --once exited ${exit.code}\n${agent.logTail()}`);
      return agent;
    },
    openSink: () => openTestSink(sink, graphPath),
    exportLines: async () => {
      const s = await ws.openSink();
      try {
        const lines: ExportLine[] = [];
        for await (const line of s.export()) lines.push(line);
        return lines;
      } finally {
        await s.close();
      }
    },
    rewrite: (spec) => void writeConfig({ ...base, ...spec }, dir),
  };
  return ws;
}

/** The graph, opened for reading beside a running agent (which holds the embedded
 *  graph's writer lock). */
export async function openTestSink(kind: SinkKind, graphPath: string): Promise<GraphSink> {
  if (kind === "sqlite") return new SqliteGraphSink(graphPath, { access: "read" });
  const { Neo4jSink } = await import("../../core/graph/neo4j-sink.js");
  const { boltUrl, user, password } = devEnv().neo4j;
  return new Neo4jSink({ uri: boltUrl, username: user, password });
}

/** Neo4j Community has one database: graph tests start from an empty one. */
export async function wipeNeo4j(): Promise<void> {
  const driver = neo4jDriver();
  try {
    await driver.executeQuery("MATCH (n) DETACH DELETE n");
  } finally {
    await driver.close();
  }
}

/** Properties that differ between two correct runs (times, versions, uids). */
export const VOLATILE = ["observedAt", "resourceVersion", "uid", "creationTimestamp"];

export function normalise(lines: ExportLine[], drop: string[] = VOLATILE): ExportLine[] {
  return lines.map((line) => {
    const properties = Object.fromEntries(Object.entries(line.properties).filter(([k]) => !drop.includes(k)));
    return { ...line, properties } as ExportLine;
  });
}

export function nodesOf(lines: ExportLine[]): Extract<ExportLine, { type: "node" }>[] {
  return lines.filter((l): l is Extract<ExportLine, { type: "node" }> => l.type === "node");
}

export function edgesOf(lines: ExportLine[]): Extract<ExportLine, { type: "edge" }>[] {
  return lines.filter((l): l is Extract<ExportLine, { type: "edge" }> => l.type === "edge");
}

/** Polls the sink's export until check returns a value; `beforePoll` runs before each
 *  look (e.g. to recompute what is expected). */
export async function waitForGraph<T>(
  ws: Workspace,
  what: string,
  check: (lines: ExportLine[]) => T | undefined,
  timeoutMs = 30_000,
  beforePoll?: () => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: ExportLine[] = [];
  for (;;) {
    await beforePoll?.();
    try {
      last = await ws.exportLines();
      const value = check(last);
      if (value !== undefined) return value;
    } catch {
      /* the sink may not exist yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last export had ${last.length} lines`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
