// Keeps `npm run soak` working: its short form (tier XS, every fault kind the SQLite sink
// has once) through the same code path. The run itself checks the graph
// against an independent LIST after every fault; this test reads its result file.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SoakResult } from "../../../bench/soak/report.js";
import { repoRoot } from "../../support/agent.js";

describe("npm run soak (short form)", () => {
  it("injects every fault kind, and after each the graph converges with nothing lost, duplicated or stale", async () => {
    const out = mkdtempSync(join(tmpdir(), "kube-observer-soak-results-"));
    const args = ["--tier", "XS", "--minutes", "0", "--min-sigkills", "1", "--min-each", "1", "--rate", "10", "--gap", "1,2", "--seed", "7", "--out", out];
    const child = spawn(process.execPath, [join(repoRoot, "dist/bench/soak/run.js"), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    const code = await new Promise<number | null>((resolveExit) => child.on("exit", resolveExit));
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(join(out, "soak-sqlite-XS-0min.json"), "utf8")) as SoakResult;
    const kinds = ["sigkill", "sigstop", "apiserver-restart", "etcd-compaction", "wal-disk-full", "namespace-deleted-while-down", "worker-killed"];
    expect(result.rows.map((r) => r.kind).sort()).toStrictEqual([...kinds].sort());
    for (const row of result.rows) {
      expect(row, output).toMatchObject({ converged: row.injected, lost: 0, duplicates: 0, stale: 0, agentDeaths: 0 });
    }
    expect(result.rows.find((r) => r.kind === "sigkill")?.injected).toBe(1);
    expect(result.final.equal).toBe(true);
    expect(result.agentExit).toStrictEqual({ code: 0, signal: null });
    expect(result.churnWrites.ok).toBeGreaterThan(0);
    expect(result.machine.cores).toBeGreaterThan(0);
  }, 900_000);
});
