// The process helpers behind `npm run env:down`: stopping a server stops its whole
// process group, and a server that dies during start-up is reported, not waited on.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isAlive, startDetached, stopProcess, tail, waitUntil } from "../../../scripts/devenv/proc.js";
import { freePorts } from "../../../scripts/devenv/ports.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-proc-"));

describe("startDetached / stopProcess", () => {
  it("stops the process and the children it started", async () => {
    const log = join(dir, "group.log");
    const pid = startDetached({
      name: "group",
      command: "bash",
      args: ["-c", "sleep 300 & echo child=$!; wait"],
      log,
    });
    const child = await waitFor(() => /child=(\d+)/.exec(tail(log))?.[1]);
    expect(isAlive(pid)).toBe(true);
    expect(isAlive(Number(child))).toBe(true);

    await stopProcess(pid, 2_000);
    expect(isAlive(pid)).toBe(false);
    expect(isAlive(Number(child))).toBe(false);
  });

  it("escalates to SIGKILL when SIGTERM is ignored", async () => {
    const pid = startDetached({
      name: "stubborn",
      command: "bash",
      args: ["-c", "trap '' TERM; while true; do sleep 0.1; done"],
      log: join(dir, "stubborn.log"),
    });
    await new Promise((r) => setTimeout(r, 200));
    await stopProcess(pid, 300);
    expect(isAlive(pid)).toBe(false);
  });
});

describe("waitUntil", () => {
  it("fails at once, naming the server, when it exits before becoming ready", async () => {
    const pid = startDetached({ name: "dies", command: "bash", args: ["-c", "exit 3"], log: join(dir, "dies.log") });
    const started = Date.now();
    await expect(waitUntil("dies", pid, async () => false, 30_000)).rejects.toThrow("dies exited before it became ready");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("reports a timeout when the probe never succeeds", async () => {
    const pid = startDetached({ name: "slow", command: "sleep", args: ["30"], log: join(dir, "slow.log") });
    try {
      await expect(waitUntil("slow", pid, async () => false, 600)).rejects.toThrow("slow was not ready after 1 s");
    } finally {
      await stopProcess(pid, 1_000);
    }
  });
});

describe("tail", () => {
  it("returns the last lines of a log", () => {
    const file = join(dir, "tail.log");
    writeFileSync(file, Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n") + "\n");
    expect(tail(file, 2)).toBe("line 48\nline 49");
  });
});

describe("freePorts", () => {
  it("hands out distinct ports that can be bound", async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) expect(port).toBeGreaterThan(1023);
  });
});

async function waitFor<T>(check: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
