// Plugin loading: built-ins always load; each broken third-party plugin is reported with
// its file and what is wrong with it, and the others still load.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { PluginLoadError, builtinPluginDir, knownResources, loadPluginFile, loadPlugins, pluginFiles, type PluginSet } from "../../../core/plugin/registry.js";

const brokenDir = fileURLToPath(new URL("../../fixtures/plugins/broken/", import.meta.url));
const broken = (name: string): string => join(brokenDir, name);
const builtinNames = [
  "clusterrole",
  "clusterrolebinding",
  "configmap",
  "cronjob",
  "daemonset",
  "deployment",
  "ingress",
  "job",
  "namespace",
  "node",
  "persistentvolume",
  "persistentvolumeclaim",
  "pod",
  "replicaset",
  "role",
  "rolebinding",
  "secret",
  "service",
  "serviceaccount",
  "statefulset",
  "storageclass",
];

function errorFor(set: PluginSet, file: string): PluginLoadError {
  const matches = set.errors.filter((e) => e.file === file);
  expect(matches, `errors for ${file}: ${set.errors.map((e) => e.message).join(" | ")}`).toHaveLength(1);
  return matches[0]!;
}

describe("loadPlugins with built-ins only", () => {
  it("loads every built-in from plugins/, with no errors", async () => {
    const set = await loadPlugins([]);
    expect(set.errors.map((e) => e.message)).toStrictEqual([]);
    expect([...set.plugins.keys()].sort()).toStrictEqual(builtinNames);
    for (const [name, loaded] of set.plugins) {
      expect(loaded.builtin).toBe(true);
      expect(loaded.plugin.name).toBe(name);
      expect(loaded.file.startsWith(builtinPluginDir())).toBe(true);
    }
    // plugins/_shared holds helpers, not plugins.
    expect([...set.plugins.values()].some((p) => p.file.includes("_shared"))).toBe(false);
  });

  it("knownResources says which are namespaced", async () => {
    const known = knownResources(await loadPlugins([]));
    expect(known.get("pod")).toStrictEqual({ namespaced: true });
    expect(known.get("node")).toStrictEqual({ namespaced: false });
    expect(known.get("namespace")).toStrictEqual({ namespaced: false });
  });
});

describe("loadPlugins with a directory of broken plugins", () => {
  let set: PluginSet;
  beforeAll(async () => {
    set = await loadPlugins([brokenDir]);
  });

  it("still loads every built-in, plus the valid extra plugin (not marked built-in)", () => {
    expect([...set.plugins.keys()].sort()).toStrictEqual([...builtinNames, "extra-widget"].sort());
    const extra = set.plugins.get("extra-widget")!;
    expect(extra.builtin).toBe(false);
    expect(extra.file).toBe(broken("extra-widget.mjs"));
    expect(extra.plugin.reduce({ metadata: { name: "w" }, spec: { size: 3 } })).toStrictEqual({ name: "w", size: 3 });
    expect(set.plugins.get("pod")?.builtin).toBe(true);
  });

  it("reports exactly the broken files, each once", () => {
    expect(set.errors.map((e) => e.file).sort()).toStrictEqual(
      ["bad-kind.mjs", "clash-pod.mjs", "missing-reduce.mjs", "no-default.mjs", "syntax-error.mjs", "wrong-api-version.mjs"].map(broken).sort(),
    );
    for (const e of set.errors) {
      expect(e).toBeInstanceOf(PluginLoadError);
      expect(e.message).toBe(`plugin ${e.file}: ${e.reason}`);
    }
  });

  it("a syntax error: cannot be loaded", () => {
    expect(errorFor(set, broken("syntax-error.mjs")).reason).toMatch(/^cannot be loaded: \S/);
  });

  it("no default export: says how to export", () => {
    expect(errorFor(set, broken("no-default.mjs")).reason).toMatch(/has no default export.*export default/);
  });

  it("a wrong apiVersion: names the field and the version this agent implements", () => {
    expect(errorFor(set, broken("wrong-api-version.mjs")).reason).toMatch(/^is not a valid plugin: apiVersion: must be 1\b/);
  });

  it("a missing reduce: names reduce and that it must be a function", () => {
    expect(errorFor(set, broken("missing-reduce.mjs")).reason).toMatch(/reduce: must be a function/);
  });

  it("a kind in the wrong case: names resource.kind and what a Kind looks like", () => {
    const reason = errorFor(set, broken("bad-kind.mjs")).reason;
    expect(reason).toMatch(/resource\.kind: must be the Kind/);
    expect(reason).not.toMatch(/resource\.plural/);
  });

  it("a name clash with a built-in: refused, naming the built-in's file; the built-in stays", () => {
    const reason = errorFor(set, broken("clash-pod.mjs")).reason;
    expect(reason).toMatch(/name "pod" is already taken by .*plugins[/\\]pod\.(ts|js)$/);
    expect(set.plugins.get("pod")?.file).not.toBe(broken("clash-pod.mjs"));
  });

  it("ignores files starting with _, non-plugin extensions and subdirectories", () => {
    const mentioned = [...set.errors.map((e) => e.file), ...[...set.plugins.values()].map((p) => p.file)];
    expect(mentioned.filter((f) => /_helper|README|nested|deep-plugin/.test(f))).toStrictEqual([]);
    expect(set.plugins.has("deep-plugin")).toBe(false);
  });
});

describe("loadPlugins edge cases", () => {
  it("a missing directory is reported with its path; built-ins still load", async () => {
    const missing = join(brokenDir, "does-not-exist");
    const set = await loadPlugins([missing]);
    expect(set.errors).toHaveLength(1);
    expect(set.errors[0]?.file).toBe(missing);
    expect(set.errors[0]?.reason).toMatch(/plugin directory cannot be read/);
    expect(set.errors[0]?.reason).toMatch(/ENOENT/);
    expect(set.plugins.size).toBe(builtinNames.length);
  });

  it("the same directory twice: the second copy of a plugin clashes with the first", async () => {
    const set = await loadPlugins([brokenDir, brokenDir]);
    const clashes = set.errors.filter((e) => e.file === broken("extra-widget.mjs"));
    expect(clashes).toHaveLength(1);
    expect(clashes[0]?.reason).toMatch(/"extra-widget" is already taken by .*extra-widget\.mjs/);
  });
});

describe("pluginFiles and loadPluginFile", () => {
  it("pluginFiles lists plugin files directly in the directory, sorted", () => {
    expect(pluginFiles(brokenDir)).toStrictEqual(
      ["bad-kind.mjs", "clash-pod.mjs", "extra-widget.mjs", "missing-reduce.mjs", "no-default.mjs", "syntax-error.mjs", "wrong-api-version.mjs"].map(broken),
    );
  });

  it("loadPluginFile returns the plugin or throws a PluginLoadError naming the file", async () => {
    expect((await loadPluginFile(broken("extra-widget.mjs"))).name).toBe("extra-widget");
    const error = await loadPluginFile(broken("missing-reduce.mjs")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PluginLoadError);
    expect((error as PluginLoadError).file).toBe(broken("missing-reduce.mjs"));
  });
});
