// The bench's side of one agent run: writes its Dhall config, forks bench/agent-host.ts,
// follows its events, samples its /proc entry, and stops it.
import { fork, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AGENT_ENV, AGENT_NODE_FLAGS } from "../core/memory-tuning.js";
import { fileURLToPath } from "node:url";
import type { DevEnvState } from "../scripts/devenv/env.js";
import { ProcSampler } from "./measure.js";
import type { HostCommand, HostEvent, HostStats } from "./protocol.js";
import { BENCH_CLUSTER } from "./tiers.js";

export const benchDir = fileURLToPath(new URL(".", import.meta.url));
/** The repository root (dist/bench/ -> ../..). */
export const repoRoot = resolve(benchDir, "../..");
const hostPath = join(benchDir, "agent-host.js");

export type SinkKind = "sqlite" | "neo4j";
export const NEO4J_PASSWORD_ENV = "KO_BENCH_NEO4J_PASSWORD";

export interface AgentConfigSpec {
  dir: string;
  env: DevEnvState;
  sink: SinkKind;
  /** Resource plugin names, one actor each. */
  resources: string[];
  /** With namespace "*" (the default): namespaces not to observe. */
  exclude?: string[];
  /** The actors' topology; unset: the default ("auto": cluster-wide for "*"). */
  topology?: "cluster" | "namespace";
  threads?: number;
  logLevel?: string;
  /** More T.Observer fields, as Dhall text per field (e.g. { watchTimeoutMaxSeconds: "20" }). */
  observer?: Record<string, string>;
  /** Third-party plugin directories (absolute). */
  pluginDirs?: string[];
  /** Keep the history (history.enabled): in the graph's file, or beside the WAL (Neo4j). */
  history?: boolean;
}

const text = (value: string): string => JSON.stringify(value);

/** A config like a user's: one actor per resource, every namespace minus `exclude`. */
export function writeAgentConfig(spec: AgentConfigSpec): { file: string; graphPath: string; walPath: string; historyPath: string | null } {
  mkdirSync(spec.dir, { recursive: true });
  const graphPath = join(spec.dir, "graph.sqlite");
  const walPath = join(spec.dir, "wal.sqlite");
  const exclude = spec.exclude?.length ? `[ ${spec.exclude.map(text).join(", ")} ]` : "[] : List Text";
  const topology = spec.topology ? `, topology = ${text(spec.topology)}` : "";
  const actors = spec.resources
    .map((r) => `T.Actor::{ cluster = ${text(BENCH_CLUSTER)}, resource = ${text(r)}, exclude = others${topology} }`)
    .join("\n      , ");
  const sink =
    spec.sink === "sqlite"
      ? `T.Sink::{ sqlitePath = ${text(graphPath)} }`
      : `T.Sink::{ kind = "neo4j", neo4j = Some T.Neo4j::{ uri = ${text(spec.env.neo4j.boltUrl)}, username = ${text(spec.env.neo4j.user)}, passwordEnv = ${text(NEO4J_PASSWORD_ENV)} } }`;
  const body = `let T = ${join(repoRoot, "config/types.dhall")}
let others = ${exclude}
in  T.Config::{
    , clusters = [ T.Cluster::{ name = ${text(BENCH_CLUSTER)}, kubeconfig = Some ${text(spec.env.kubeconfig)} } ]
    , actors =
      [ ${actors}
      ]
    , sink = ${sink}
    , wal = T.Wal::{ path = ${text(walPath)} }
    , observer = T.Observer::{ threads = ${spec.threads ?? 0}${Object.entries(spec.observer ?? {})
      .map(([k, v]) => `, ${k} = ${v}`)
      .join("")} }${
      spec.pluginDirs?.length
        ? `
    , pluginDirs = [ ${spec.pluginDirs.map(text).join(", ")} ]`
        : ""
    }
    , log = { level = ${text(spec.logLevel ?? "info")} }${spec.history ? "\n    , history = T.History::{ enabled = True }" : ""}
    }
`;
  const file = join(spec.dir, "config.dhall");
  writeFileSync(file, body);
  const historyPath = spec.history ? (spec.sink === "sqlite" ? graphPath : join(spec.dir, "wal.history.sqlite")) : null;
  return { file, graphPath, walPath, historyPath };
}

type EventOf<T extends HostEvent["type"]> = Extract<HostEvent, { type: T }>;

export class AgentRun {
  readonly spawnedAt = Date.now();
  readonly sampler: ProcSampler;
  readonly events: HostEvent[] = [];
  onCommits: (at: number, items: string[]) => void = () => undefined;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  constructor(
    configFile: string,
    readonly sink: SinkKind,
    readonly logFile: string,
    env: DevEnvState,
  ) {
    const log = openSync(logFile, "a");
    this.child = fork(hostPath, [configFile, sink], {
      cwd: repoRoot,
      stdio: ["ignore", log, log, "ipc"],
      // Started as the deploy image starts it (core/memory-tuning.ts).
      env: { ...process.env, ...AGENT_ENV, KUBE_OBSERVER_LOG_FORMAT: "json", [NEO4J_PASSWORD_ENV]: env.neo4j.password },
      // BENCH_AGENT_NODE_FLAGS: more flags for the agent's Node (e.g. --cpu-prof, bench/README.md).
      execArgv: [...AGENT_NODE_FLAGS, ...(process.env.BENCH_AGENT_NODE_FLAGS?.split(" ").filter(Boolean) ?? [])],
    });
    closeSync(log);
    this.sampler = new ProcSampler(this.child.pid!, 250).start();
    this.child.on("message", (event: HostEvent) => {
      if (event.type === "commits") {
        this.onCommits(event.at, event.items);
        return;
      }
      this.events.push(event);
      this.notify();
    });
    this.exited = new Promise((resolveExit) =>
      this.child.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        this.sampler.stop();
        this.notify();
        resolveExit();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  command(command: HostCommand): void {
    if (this.child.connected) this.child.send(command);
  }

  track(on: boolean): void {
    this.command({ type: "track", on });
  }

  /** Resolves with the first event of this type (already received or still to come). */
  waitFor<T extends HostEvent["type"]>(type: T, timeoutMs: number, after = 0): Promise<EventOf<T>> {
    return new Promise((resolveEvent, reject) => {
      const check = (): boolean => {
        const found = this.events.slice(after).find((e) => e.type === type) as EventOf<T> | undefined;
        const error = this.events.find((e) => e.type === "error") as EventOf<"error"> | undefined;
        if (found) {
          done();
          resolveEvent(found);
          return true;
        }
        if (error || this.exitInfo) {
          done();
          reject(
            new Error(
              `the agent ${error ? `failed: ${error.message}` : `exited (${JSON.stringify(this.exitInfo)})`} while the bench waited for "${type}"\n${this.logTail()}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no "${type}" from the agent within ${timeoutMs / 1000} s\n${this.logTail()}`));
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
      };
      if (!check()) this.waiters.add(listener);
    });
  }

  async stats(timeoutMs = 30_000): Promise<HostStats> {
    const after = this.events.length;
    this.command({ type: "stats" });
    return (await this.waitFor("stats", timeoutMs, after)).stats;
  }

  /** Asks the host to stop (it delivers what is in flight for up to 5 s); SIGKILL after timeoutMs. */
  async stop(timeoutMs = 30_000): Promise<HostStats | undefined> {
    if (this.exitInfo) return (this.events.find((e) => e.type === "stopped") as EventOf<"stopped"> | undefined)?.stats;
    this.command({ type: "stop" });
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return (this.events.find((e) => e.type === "stopped") as EventOf<"stopped"> | undefined)?.stats;
  }

  logTail(lines = 15): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
