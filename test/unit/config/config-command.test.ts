// `kube-observer config check|print`, run through yargs as the CLI entry runs it.
import { afterEach, describe, expect, it } from "vitest";
import yargs from "yargs";
import { configCommand, createConfigCommand } from "../../../core/cli/config-command.js";
import { fixture, knownResources, repoFile } from "./helpers.js";

interface Run {
  stdout: string;
  stderr: string;
  exitCode: number;
}

async function run(args: string[]): Promise<Run> {
  const out = { stdout: "", stderr: "" };
  const command = createConfigCommand({
    stdout: (text) => (out.stdout += text),
    stderr: (text) => (out.stderr += text),
    knownResources: async () => ({ known: knownResources, problems: [] }),
  });
  process.exitCode = undefined;
  await yargs().scriptName("kube-observer").command(command).strict().exitProcess(false).parseAsync(args);
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { ...out, exitCode };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe("config check", () => {
  it("accepts the example", async () => {
    const file = repoFile("config/example.dhall");
    expect(await run(["config", "check", file])).toStrictEqual({ stdout: `${file}: ok (1 cluster, 21 actors)\n`, stderr: "", exitCode: 0 });
  });

  it("prints every problem as file:line:col: reason and exits 1", async () => {
    const file = fixture("duplicate-actors.dhall");
    const result = await run(["config", "check", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n")).toStrictEqual([
      `${file}:8:36: actors[2].resource: duplicates actors[0] (cluster "c1", namespace "*", resource "pod")`,
      `${file}:9:36: actors[3].namespace: namespace "default" of resource "pod" is already observed by actors[0] (namespace "*"); remove one, or add "default" to that actor's exclude`,
      "",
    ]);
  });

  it("reports a missing file", async () => {
    const file = fixture("nope.dhall");
    expect(await run(["config", "check", file])).toStrictEqual({ stdout: "", stderr: `${file}: file not found\n`, exitCode: 1 });
  });
});

describe("config print", () => {
  it("prints the configuration with its defaults as indented JSON", async () => {
    const result = await run(["config", "print", fixture("minimal.dhall")]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^\{\n {2}"clusters": \[\n/);
    expect(JSON.parse(result.stdout)).toMatchObject({ clusters: [{ name: "c1" }], observer: { pageSize: 500 }, sink: { neo4j: null } });
  });

  it("says how each actor is watched, and why", async () => {
    const result = await run(["config", "print", fixture("minimal.dhall")]);
    const printed = JSON.parse(result.stdout) as { actors: Array<{ topology: string }>; topology: unknown[] };
    expect(printed.actors[0]!.topology).toBe("auto");
    expect(printed.topology).toStrictEqual([
      {
        actor: 0,
        cluster: "c1",
        resource: "pod",
        namespace: "*",
        topology: "cluster",
        why: 'namespace = "*" (topology "auto"): one cluster-wide list+watch, excluded namespaces filtered out',
      },
    ]);
  });

  it("does not need the plugins: an unknown resource still prints", async () => {
    const result = await run(["config", "print", fixture("unknown-resource.dhall")]);
    expect(result.exitCode).toBe(0);
  });

  it("reports a Dhall error and exits 1", async () => {
    const file = fixture("type-error.dhall");
    const result = await run(["config", "print", file]);
    expect(result).toMatchObject({ stdout: "", exitCode: 1 });
    expect(result.stderr).toMatch(new RegExp(`^${file.replace(/[.]/g, "\\.")}:6:18: Expression doesn't match annotation`));
  });
});

describe("help", () => {
  it("describes each command with an example", async () => {
    for (const sub of ["check", "print"]) {
      let output = "";
      await yargs()
        .scriptName("kube-observer")
        .command(configCommand)
        .exitProcess(false)
        .wrap(null)
        .parseAsync(["config", sub, "--help"], {}, (_err, _argv, text) => {
          output = text;
        });
      expect(output).toContain(`kube-observer config ${sub} <file>`);
      expect(output).toContain("Examples:");
      expect(output).toContain(`kube-observer config ${sub} config/example.dhall`);
    }
  });
});
