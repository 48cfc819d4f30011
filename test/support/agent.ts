// Runs the compiled kube-observer CLI (dist/, built by `npm test`'s pretest) as a real
// child process, collecting its KubeMessages (stdout) and JSON logs (stderr).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { KubeMessage } from "../../core/messages.js";
import { devEnv } from "./cluster.js";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const cliPath = join(repoRoot, "dist/core/cli/main.js");

export type LogLine = Record<string, unknown> & { level: number; msg: string };

export interface ActorSpec {
  resource: string;
  namespace?: string;
  exclude?: string[];
  topology?: "auto" | "cluster" | "namespace";
}

export interface ConfigSpec {
  actors: ActorSpec[];
  /** Graph sink; paths are absolute. Neo4j reads its password from $KO_TEST_NEO4J_PASSWORD. */
  sink?: { kind: "sqlite"; sqlitePath: string } | { kind: "neo4j"; uri: string; writerLeaseSeconds?: number };
  walPath?: string;
  walMaxBytes?: number;
  kubeconfig?: string;
  cluster?: string;
  observer?: Record<string, number>;
  backoff?: Record<string, number>;
  pluginDirs?: string[];
  logLevel?: string;
  /** pluginBudgetMs: how long a third-party toGraph may run on one object. */
  pluginBudgetMs?: number;
  /** Keep attack edges in the graph (and expect them in verify). */
  attackEdges?: boolean;
  /** audit.allowedRegistries: the registry hosts images may come from (KO-IMG-002). */
  allowedRegistries?: string[];
  /** Keep the history (history.enabled), with these settings. */
  history?: { path?: string; retentionDays?: number; maxBytes?: number };
}

const dhallText = (value: string): string => JSON.stringify(value);

function historyText(history: ConfigSpec["history"]): string {
  if (!history) return "";
  const fields = [
    "enabled = True",
    ...(history.path ? [`path = Some ${dhallText(history.path)}`] : []),
    ...(history.retentionDays !== undefined ? [`retentionDays = ${history.retentionDays}`] : []),
    ...(history.maxBytes !== undefined ? [`maxBytes = ${history.maxBytes}`] : []),
  ];
  return `, history = T.History::{ ${fields.join(", ")} }`;
}

/** A Dhall config using the repo's types.dhall, pointing at the local environment. */
export function configText(spec: ConfigSpec): string {
  const cluster = spec.cluster ?? "local";
  const actors = spec.actors
    .map((a) => {
      const fields = [`cluster = ${dhallText(cluster)}`, `resource = ${dhallText(a.resource)}`];
      if (a.namespace) fields.push(`namespace = ${dhallText(a.namespace)}`);
      if (a.exclude?.length) fields.push(`exclude = [ ${a.exclude.map(dhallText).join(", ")} ]`);
      if (a.topology) fields.push(`topology = ${dhallText(a.topology)}`);
      return `T.Actor::{ ${fields.join(", ")} }`;
    })
    .join("\n      , ");
  const observer = Object.entries(spec.observer ?? {}).map(([k, v]) => `, ${k} = ${v}`);
  const backoff = Object.entries(spec.backoff ?? {}).map(([k, v]) => `, ${k} = ${Number.isInteger(v) && !["factor", "jitter"].includes(k) ? v : v.toFixed(2)}`);
  const observerBlock =
    observer.length || backoff.length
      ? `, observer = T.Observer::{ ${observer.join(" ")} ${backoff.length ? `, backoff = T.Backoff::{ ${backoff.join(" ")} }` : ""} }`
      : "";
  const plugins = spec.pluginDirs?.length ? `, pluginDirs = [ ${spec.pluginDirs.map(dhallText).join(", ")} ]` : "";
  const log = spec.logLevel ? `, log = { level = ${dhallText(spec.logLevel)} }` : "";
  const budget = `${spec.pluginBudgetMs !== undefined ? `, pluginBudgetMs = ${spec.pluginBudgetMs}` : ""}${spec.attackEdges ? ", attackEdges = True" : ""}${spec.allowedRegistries ? `, audit.allowedRegistries = [ ${spec.allowedRegistries.map(dhallText).join(", ")} ] : List Text` : ""}${historyText(spec.history)}`;
  const sink =
    spec.sink?.kind === "sqlite"
      ? `, sink = T.Sink::{ sqlitePath = ${dhallText(spec.sink.sqlitePath)} }`
      : spec.sink?.kind === "neo4j"
        ? `, sink = T.Sink::{ kind = "neo4j", neo4j = Some T.Neo4j::{ uri = ${dhallText(spec.sink.uri)}, passwordEnv = "KO_TEST_NEO4J_PASSWORD"${spec.sink.writerLeaseSeconds ? `, writerLeaseSeconds = ${spec.sink.writerLeaseSeconds}` : ""} } }`
        : "";
  const wal = spec.walPath ? `, wal = T.Wal::{ path = ${dhallText(spec.walPath)}${spec.walMaxBytes ? `, maxBytes = ${spec.walMaxBytes}` : ""} }` : "";
  return `let T = ${join(repoRoot, "config/types.dhall")}
in  T.Config::{
    , clusters = [ T.Cluster::{ name = ${dhallText(cluster)}, kubeconfig = Some ${dhallText(spec.kubeconfig ?? devEnv().kubeconfig)} } ]
    , actors =
      [ ${actors}
      ]
    ${observerBlock}
    ${plugins}
    ${log}
    ${budget}
    ${sink}
    ${wal}
    }
`;
}

export function writeConfig(spec: ConfigSpec, dir = mkdtempSync(join(tmpdir(), "kube-observer-config-"))): string {
  const file = join(dir, "config.dhall");
  writeFileSync(file, configText(spec));
  return file;
}

export class AgentProcess {
  readonly messages: KubeMessage[] = [];
  readonly logs: LogLine[] = [];
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private partialOut = "";
  private partialErr = "";

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, KUBE_OBSERVER_LOG_FORMAT: "json", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      this.partialOut = this.collect(this.partialOut + chunk, (line) => {
        // Other commands (wal status --json, graph export) print other JSON: keep only messages.
        try {
          const value = JSON.parse(line) as KubeMessage;
          if (value && typeof value === "object" && "action" in value) this.messages.push(value);
        } catch {
          /* not a message line */
        }
      });
    });
    this.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      this.partialErr = this.collect(this.partialErr + chunk, (line) => {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ level: 60, msg: line });
        }
      });
    });
    this.exited = new Promise((resolveExit) =>
      this.child.on("exit", (code, signal) => {
        this.notify();
        resolveExit({ code, signal });
      }),
    );
  }

  static run(configFile: string, extra: string[] = [], env: Record<string, string> = {}): AgentProcess {
    return new AgentProcess(["run", "--config", configFile, "--output", "jsonl", ...extra], env);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGTERM and wait; SIGKILL if it has not exited within graceMs. */
  async stop(graceMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  async waitForMessage(what: string, predicate: (m: KubeMessage) => boolean, timeoutMs = 30_000): Promise<KubeMessage> {
    return this.waitFor(what, () => this.messages.find(predicate), timeoutMs);
  }

  async waitForLog(what: string, predicate: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return this.waitFor(what, () => this.logs.find(predicate), timeoutMs);
  }

  /** Resolves when check() returns something; rejects with the agent's log tail on timeout or exit. */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolveWait, reject) => {
      const attempt = (): boolean => {
        const value = check();
        if (value !== undefined) {
          cleanup();
          resolveWait(value);
          return true;
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          cleanup();
          reject(new Error(`agent exited while waiting for ${what}\n${this.logTail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.logTail()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
      };
      const listener = (): void => void attempt();
      if (!attempt()) this.waiters.add(listener);
    });
  }

  logTail(lines = 40): string {
    return this.stderr.trimEnd().split("\n").slice(-lines).join("\n");
  }

  private collect(buffer: string, onLine: (line: string) => void): string {
    let newline = buffer.indexOf("\n");
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      if (line.trim()) onLine(line);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
    }
    this.notify();
    return buffer;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Messages of one observer scope. */
export function scopeMessages(messages: KubeMessage[], resource: string, namespace: string | null): KubeMessage[] {
  return messages.filter((m) => m.resource === resource && m.namespace === namespace);
}
