// Starting, probing and stopping the servers as detached processes that outlive
// the command that started them (so `npm run env:up` can return).
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  log: string;
}

/** Starts spec in its own process group, appending stdout and stderr to its log file. */
export function startDetached(spec: ProcessSpec): number {
  const fd = openSync(spec.log, "a");
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    if (child.pid === undefined) throw new Error(`${spec.name}: could not start ${spec.command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** SIGTERM to the process group, then SIGKILL after graceMs; resolves when it is gone. */
export async function stopProcess(pid: number, graceMs = 15_000): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
  };
  // Any member of the process group left (the server's own children); a zombie counts
  // until it is reaped, hence the bounded waits below.
  const groupAlive = (): boolean => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!isAlive(pid)) return;
  signalGroup("SIGTERM");
  const deadline = Date.now() + graceMs;
  while ((isAlive(pid) || groupAlive()) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid) || groupAlive()) {
    signalGroup("SIGKILL");
    while (isAlive(pid)) await sleep(50);
    const reaped = Date.now() + 2_000;
    while (groupAlive() && Date.now() < reaped) await sleep(50);
  }
}

export function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const text = readFileSync(file, "utf8").trimEnd().split("\n");
  return text.slice(-lines).join("\n");
}

/** Polls probe until it returns true, the process dies, or the timeout passes. */
export async function waitUntil(what: string, pid: number, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new Error(`${what} exited before it became ready`);
    try {
      if (await probe()) return;
    } catch {
      /* not up yet */
    }
    await sleep(250);
  }
  throw new Error(`${what} was not ready after ${Math.round(timeoutMs / 1000)} s`);
}
