// `kube-observer completion bash|zsh` and the completions the scripts ask for, from the
// built CLI (npm test builds dist/ first).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const cli = join(import.meta.dirname, "../../../dist/core/cli/main.js");
const run = (...args: string[]): string => execFileSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, SHELL: "/bin/sh" } });

describe("kube-observer completion", () => {
  it("prints a bash script for bash and a zsh one for zsh, whatever $SHELL says", () => {
    const bash = run("completion", "bash");
    expect(bash).toContain("complete -o bashdefault -o default -F _kube-observer_yargs_completions kube-observer");
    expect(bash).not.toContain("#compdef");
    const zsh = run("completion", "zsh");
    expect(zsh.split("\n")[0]).toBe("#compdef kube-observer");
    expect(zsh).toContain("compdef _kube-observer_yargs_completions kube-observer");
  });

  it("answers the scripts with commands, subcommands and options", () => {
    expect(run("--get-yargs-completions", "kube-observer", "").split("\n")).toEqual(expect.arrayContaining(["run", "verify", "who-uses", "completion"]));
    expect(run("--get-yargs-completions", "kube-observer", "wal", "").split("\n")).toEqual(expect.arrayContaining(["status", "replay", "drop"]));
    expect(run("--get-yargs-completions", "kube-observer", "verify", "--")).toContain("--settle-seconds");
  });

  it("refuses a shell it has no script for", () => {
    expect(() => execFileSync(process.execPath, [cli, "completion", "fish"], { encoding: "utf8", stdio: "pipe" })).toThrow(
      /no script for "fish"; name bash or zsh/,
    );
  });
});
