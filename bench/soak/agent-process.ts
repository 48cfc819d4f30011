// The agent under soak: the product's CLI (`run --config`), started, killed, stopped and
// continued as the faults need. Its output goes through a pipe into a log file, so that
// a file-size limit put on the agent (the disk-full fault) limits its own files only.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../agent.js";

const cliPath = join(repoRoot, "dist/core/cli/main.js");

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  /** Not asked for by a fault: the agent died by itself. */
  unexpected: boolean;
}

export class SoakAgent {
  readonly exits: AgentExit[] = [];
  starts = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private readonly log: WriteStream;
  private readonly lineWaiters = new Set<(line: string) => void>();
  private partial = "";

  constructor(
    private readonly configFile: string,
    logFile: string,
    private readonly env: Record<string, string>,
    /** More `run` options (e.g. --audit). */
    private readonly extraArgs: readonly string[] = [],
  ) {
    this.log = createWriteStream(logFile, { flags: "a" });
  }

  get pid(): number {
    if (!this.child?.pid || this.child.exitCode !== null || this.child.signalCode !== null) throw new Error("the agent is not running");
    return this.child.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error("the agent is already running");
    this.starts += 1;
    this.expectingExit = false;
    const child = spawn(process.execPath, [cliPath, "run", "--config", this.configFile, ...this.extraArgs], {
      cwd: repoRoot,
      env: { ...process.env, KUBE_OBSERVER_LOG_FORMAT: "json", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    const onData = (chunk: Buffer): void => {
      this.log.write(chunk);
      this.partial += chunk.toString("utf8");
      const lines = this.partial.split("\n");
      this.partial = lines.pop()!;
      for (const line of lines) for (const waiter of this.lineWaiters) waiter(line);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    this.exited = new Promise((resolveExit) =>
      child.on("exit", (code, signal) => {
        this.exits.push({ code, signal, at: Date.now(), unexpected: !this.expectingExit });
        resolveExit();
      }),
    );
  }

  /** Sends `signal` and waits for the process to end (a SIGTERM past graceMs becomes SIGKILL). */
  async end(signal: "SIGKILL" | "SIGTERM", graceMs = 30_000): Promise<AgentExit | undefined> {
    if (!this.running) return undefined;
    this.expectingExit = true;
    this.child!.kill(signal);
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
    return this.exits.at(-1);
  }

  pause(): void {
    process.kill(this.pid, "SIGSTOP");
  }

  resume(): void {
    process.kill(this.pid, "SIGCONT");
  }

  /** Resolves with the first output line (JSON log) that matches, or undefined at timeout. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolveLine) => {
      const waiter = (line: string): void => {
        if (!match(line)) return;
        this.lineWaiters.delete(waiter);
        clearTimeout(timer);
        resolveLine(line);
      };
      const timer = setTimeout(() => {
        this.lineWaiters.delete(waiter);
        resolveLine(undefined);
      }, timeoutMs);
      this.lineWaiters.add(waiter);
    });
  }

  /** Unexpected deaths since `since`, and restarts the agent after one. */
  reviveIfDead(since: number): AgentExit[] {
    const deaths = this.exits.filter((e) => e.unexpected && e.at >= since);
    if (!this.running) this.start();
    return deaths;
  }

  /** Stops the agent (SIGTERM) and closes its log; again: nothing more to do. */
  async close(): Promise<AgentExit | undefined> {
    const exit = await this.end("SIGTERM");
    if (!this.log.writableEnded) await new Promise<void>((resolveClose) => this.log.end(resolveClose));
    return exit;
  }
}
