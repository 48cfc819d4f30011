// Third-party plugins beyond the first load: a changed file is imported afresh (Node
// caches modules by URL), a file that breaks on reload keeps its last good version, a
// worker can import a loaded version from its source, load errors say where and why and
// are tied to the resource an actor names; and the shipped example plugin itself.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import yargs from "yargs";
import { createConfigCommand } from "../../../core/cli/config-command.js";
import { knownResourcesFor } from "../../../core/plugin/builtin-names.js";
import {
  loadErrorFor,
  loadPluginFile,
  loadPlugins,
  loadPluginSource,
  pluginSetFingerprint,
  pluginVersion,
  PluginLoadError,
  type PluginSet,
} from "../../../core/plugin/registry.js";
import type { GraphContext } from "../../../core/plugin/types.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kube-observer-plugins-unit-"));
  dirs.push(dir);
  return dir;
}

/** A valid ConfigMap plugin whose reduce returns `{ version }`. */
function plugin(name: string, version: number, label = `${name[0]!.toUpperCase()}${name.slice(1).replace(/-./g, (m) => m[1]!.toUpperCase())}Config`): string {
  return `export default {
  name: ${JSON.stringify(name)},
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  reduce: () => ({ version: ${version} }),
  graph: { label: ${JSON.stringify(label)}, schema: { labels: [${JSON.stringify(label)}], relationships: [] }, toGraph: (r) => ({ properties: r }) },
};
`;
}

const reduceOf = (set: PluginSet, name: string): unknown => set.plugins.get(name)?.plugin.reduce({ metadata: { name: "x" } });

describe("reloading a plugin directory", () => {
  it("imports a changed file afresh, with a new version", async () => {
    const dir = tempDir();
    const file = join(dir, "versioned.mjs");
    writeFileSync(file, plugin("versioned", 1));
    const first = await loadPlugins([dir]);
    expect(reduceOf(first, "versioned")).toStrictEqual({ version: 1 });
    writeFileSync(file, plugin("versioned", 2));
    const second = await loadPlugins([dir], { previous: first });
    expect(second.errors).toStrictEqual([]);
    expect(reduceOf(second, "versioned")).toStrictEqual({ version: 2 });
    expect(second.plugins.get("versioned")?.version).toBe(pluginVersion(file));
    expect(second.plugins.get("versioned")?.version).not.toBe(first.plugins.get("versioned")?.version);
    expect(pluginSetFingerprint(second)).not.toBe(pluginSetFingerprint(first));
    // The same content again is the same version (and module).
    const third = await loadPlugins([dir], { previous: second });
    expect(pluginSetFingerprint(third)).toBe(pluginSetFingerprint(second));
    expect(third.plugins.get("versioned")?.plugin).toBe(second.plugins.get("versioned")?.plugin);
  });

  it("a file that breaks keeps its last good version, marked stale, and the error is reported", async () => {
    const dir = tempDir();
    const file = join(dir, "fragile.mjs");
    writeFileSync(file, plugin("fragile", 1));
    const good = await loadPlugins([dir]);
    writeFileSync(file, "export default { name: 'fragile', apiVersion: 1, reduce(o) { return o ;\n");
    const broken = await loadPlugins([dir], { previous: good });
    expect(broken.errors.map((e) => e.file)).toStrictEqual([file]);
    const kept = broken.plugins.get("fragile");
    expect(kept?.plugin).toBe(good.plugins.get("fragile")?.plugin);
    expect(kept?.version).toBe(good.plugins.get("fragile")?.version);
    expect(kept?.stale).toBe(broken.errors[0]);
    expect(reduceOf(broken, "fragile")).toStrictEqual({ version: 1 });
    // Still broken on the next reload: still the same last good version.
    const again = await loadPlugins([dir], { previous: broken });
    expect(again.plugins.get("fragile")?.version).toBe(good.plugins.get("fragile")?.version);
    // Without a previous set (a fresh start) there is no last good version.
    expect((await loadPlugins([dir])).plugins.has("fragile")).toBe(false);
    // Fixed: the new version, not stale.
    writeFileSync(file, plugin("fragile", 3));
    const fixed = await loadPlugins([dir], { previous: again });
    expect(fixed.plugins.get("fragile")?.stale).toBeUndefined();
    expect(reduceOf(fixed, "fragile")).toStrictEqual({ version: 3 });
  });

  it("a removed file is gone; a kept version never displaces a plugin that now has its name", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a.mjs"), plugin("moving", 1));
    const before = await loadPlugins([dir]);
    rmSync(join(dir, "a.mjs"));
    expect((await loadPlugins([dir], { previous: before })).plugins.has("moving")).toBe(false);

    writeFileSync(join(dir, "a.mjs"), plugin("moving", 1));
    const first = await loadPlugins([dir]);
    writeFileSync(join(dir, "a.mjs"), "syntax error here");
    writeFileSync(join(dir, "b.mjs"), plugin("moving", 2));
    const second = await loadPlugins([dir], { previous: first });
    expect(second.plugins.get("moving")?.file).toBe(join(dir, "b.mjs"));
    expect(second.plugins.get("moving")?.stale).toBeUndefined();
  });

  it("built-ins are never kept stale or versioned by URL", async () => {
    const set = await loadPlugins([]);
    for (const p of set.plugins.values()) {
      expect(p.builtin).toBe(true);
      expect(p.source).toBeUndefined();
      expect(p.version).toMatch(/^[0-9a-f]{16}$/);
    }
  });
});

describe("load errors", () => {
  it("a syntax error names the line", async () => {
    const dir = tempDir();
    const file = join(dir, "broken.mjs");
    writeFileSync(file, "export default {\n  name: 'broken',\n  reduce(o) {\n    return { a: ; }\n  },\n};\n");
    const error = await loadPluginFile(file).then(
      () => undefined,
      (e: unknown) => e as PluginLoadError,
    );
    expect(error).toBeInstanceOf(PluginLoadError);
    expect(error?.reason).toMatch(/^cannot be loaded: SyntaxError: .+ \(line 4\)$/);
  });

  it("a graph label its schema does not declare is refused at load, not per message", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "undeclared.mjs"), plugin("undeclared", 1).replace('schema: { labels: ["UndeclaredConfig"]', 'schema: { labels: ["Other"]'));
    const set = await loadPlugins([dir]);
    expect(set.errors.map((e) => e.reason)).toStrictEqual([
      'is not a valid plugin: graph.schema.labels: must include the node\'s own label "UndeclaredConfig" (graph.label, or resource.kind without one)',
    ]);
    expect(set.errors[0]?.pluginName).toBe("undeclared");
  });

  it("two plugins writing one node label clash (they would overwrite and sweep each other's nodes)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "first.mjs"), plugin("first", 1, "SharedLabel"));
    writeFileSync(join(dir, "second.mjs"), plugin("second", 1, "SharedLabel"));
    writeFileSync(join(dir, "secret-copy.mjs"), plugin("secret-copy", 1, "Secret"));
    const set = await loadPlugins([dir]);
    expect(set.plugins.has("first")).toBe(true);
    const reasons = Object.fromEntries(set.errors.map((e) => [e.pluginName, e.reason]));
    expect(reasons.second).toMatch(/^its graph label "SharedLabel" is already the label of plugin "first" \(.*first\.mjs\)/);
    expect(reasons["secret-copy"]).toMatch(/^its graph label "Secret" is already the label of plugin "secret" \(.*plugins[/\\]secret\.(ts|js)\)/);
  });

  it("loadErrorFor ties a resource to the file that declares it, or else the file named after it", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "named-after.mjs"), "this is not javascript");
    writeFileSync(join(dir, "other-file.mjs"), 'export default { name: "declared", apiVersion: 1 };');
    const set = await loadPlugins([dir]);
    expect(loadErrorFor(set, "named-after")?.file).toBe(join(dir, "named-after.mjs"));
    expect(loadErrorFor(set, "declared")?.file).toBe(join(dir, "other-file.mjs"));
    expect(loadErrorFor(set, "other-file")).toBeUndefined();
    expect(loadErrorFor(set, "nothing")).toBeUndefined();
  });

  it("config check points an unknown resource at its plugin's load error", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "backups.mjs"), "export default { name: 'backups', apiVersion: 1, resource: {}, reduce: () => 1 };");
    const config = join(dir, "config.dhall");
    const types = fileURLToPath(new URL("../../../config/types.dhall", import.meta.url));
    writeFileSync(
      config,
      `let T = ${types}\nin T.Config::{ clusters = [ T.Cluster::{ name = "c1" } ], actors = [ T.Actor::{ cluster = "c1", resource = "backups" }, T.Actor::{ cluster = "c1", resource = "widgets" } ], pluginDirs = [ ${JSON.stringify(dir)} ] }\n`,
    );
    let stderr = "";
    const command = createConfigCommand({ stdout: () => undefined, stderr: (t) => (stderr += t), knownResources: knownResourcesFor });
    process.exitCode = undefined;
    await yargs().command(command).strict().exitProcess(false).parseAsync(["config", "check", config]);
    expect(process.exitCode).toBe(1);
    process.exitCode = undefined;
    const lines = stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^warning: plugin .*backups\.mjs: is not a valid plugin: resource\.group: .*resource\.version: /);
    expect(lines.find((l) => l.includes('unknown resource "backups"'))).toMatch(
      /; it is not loaded because plugin .*backups\.mjs: is not a valid plugin: resource\.group: /,
    );
    expect(lines.find((l) => l.includes('unknown resource "widgets"'))).toMatch(/; 1 plugin file failed to load \(warnings above\): is it one of them\?$/);
  });
});

describe("a worker importing a loaded version from its source", () => {
  it("works for a plugin that imports nothing relative", async () => {
    const source = plugin("from-source", 7);
    const p = await loadPluginSource("/nowhere/from-source.mjs", source);
    expect(p.name).toBe("from-source");
    expect(p.reduce({})).toStrictEqual({ version: 7 });
  });

  it("fails with a PluginLoadError naming the file for one that does", async () => {
    const error = await loadPluginSource("/nowhere/helper-user.mjs", 'import { x } from "./_helper.mjs";\nexport default x;').then(
      () => undefined,
      (e: unknown) => e as PluginLoadError,
    );
    expect(error).toBeInstanceOf(PluginLoadError);
    expect(error?.file).toBe("/nowhere/helper-user.mjs");
  });
});

describe("the example plugin (examples/plugins/backuppolicy.mjs)", () => {
  const exampleDir = fileURLToPath(new URL("../../../examples/plugins/", import.meta.url));
  const ctx: GraphContext = {
    cluster: "c1",
    key: "c1/team/BackupPolicy/nightly",
    objectKey: (kind, namespace, name) => (namespace ? `c1/${namespace}/${kind}/${name}` : `c1/${kind}/${name}`),
  };

  it("loads beside the built-ins with no errors", async () => {
    const set = await loadPlugins([exampleDir]);
    expect(set.errors.map((e) => e.message)).toStrictEqual([]);
    const loaded = set.plugins.get("backuppolicy");
    expect(loaded?.builtin).toBe(false);
    expect(loaded?.plugin.resource).toStrictEqual({
      group: "examples.kube-observer.dev",
      version: "v1",
      plural: "backuppolicies",
      kind: "BackupPolicy",
      namespaced: true,
    });
  });

  it("reduce keeps only what the graph needs and no secret value; toGraph gives the node, Secret references and USES_SECRET edges", async () => {
    const plugin = (await loadPlugins([exampleDir])).plugins.get("backuppolicy")!.plugin;
    const reduced = plugin.reduce({
      apiVersion: "examples.kube-observer.dev/v1",
      kind: "BackupPolicy",
      metadata: { name: "nightly", namespace: "team", uid: "u1", labels: { app: "db" }, annotations: { note: "n" }, creationTimestamp: "2026-01-01T00:00:00Z" },
      spec: {
        schedule: "0 2 * * *",
        target: "s3://user:PASSWORD@bucket.example/path?X-Signature=SIG",
        retentionDays: 7,
        credentialsSecretRef: { name: "creds", key: "access" },
        encryptionKeySecretRef: { name: "key" },
        encryptionKey: "INLINE-KEY",
        somethingElse: { big: "x".repeat(1000) },
      },
      status: { lastBackupTime: "2026-01-02T00:00:00Z" },
    });
    const text = JSON.stringify(reduced);
    for (const secret of ["PASSWORD", "SIG", "INLINE-KEY", "user:", "xxxx", "lastBackupTime"]) expect(text).not.toContain(secret);
    expect(reduced).toStrictEqual({
      name: "nightly",
      namespace: "team",
      labels: ["app=db"],
      annotations: ["note=n"],
      creationTimestamp: "2026-01-01T00:00:00Z",
      schedule: "0 2 * * *",
      target: "s3://bucket.example/path",
      retentionDays: 7,
      suspended: false,
      inlineEncryptionKey: true,
      credentials: { name: "creds", key: "access" },
      encryptionKey: { name: "key", key: null },
    });
    expect(plugin.graph!.toGraph(reduced, ctx)).toStrictEqual({
      properties: {
        labels: ["app=db"],
        annotations: ["note=n"],
        creationTimestamp: "2026-01-01T00:00:00Z",
        schedule: "0 2 * * *",
        target: "s3://bucket.example/path",
        retentionDays: 7,
        suspended: false,
        inlineEncryptionKey: true,
      },
      references: [
        { label: "Secret", key: "c1/team/Secret/creds", properties: { cluster: "c1", namespace: "team", name: "creds" } },
        { label: "Secret", key: "c1/team/Secret/key", properties: { cluster: "c1", namespace: "team", name: "key" } },
      ],
      edges: [
        { type: "USES_SECRET", to: "c1/team/Secret/creds", properties: { via: "credentials", key: "access" } },
        { type: "USES_SECRET", to: "c1/team/Secret/key", properties: { via: "encryptionKey", key: null } },
      ],
    });
  });

  it("strips credentials from targets that are not URLs with a host", async () => {
    const plugin = (await loadPlugins([exampleDir])).plugins.get("backuppolicy")!.plugin;
    const targetOf = (target: string) => (plugin.reduce({ metadata: { name: "x", namespace: "team" }, spec: { target } }) as { target: string | null }).target;
    expect(targetOf("backup:PASSWORD@nas.example:/exports/backups")).toBe("nas.example:/exports/backups");
    expect(targetOf("archive-bucket")).toBe("archive-bucket");
    expect(targetOf("bucket?token=SIG")).toBe("bucket");
  });

  it("survives objects of any shape", async () => {
    const plugin = (await loadPlugins([exampleDir])).plugins.get("backuppolicy")!.plugin;
    for (const object of [
      {},
      { metadata: { name: "x" } },
      { metadata: { name: "x" }, spec: null },
      { metadata: { name: "x" }, spec: { credentialsSecretRef: "not-an-object", target: 5 } },
    ]) {
      const reduced = plugin.reduce(object);
      const fragment = plugin.graph!.toGraph(reduced, ctx);
      expect(fragment.edges).toStrictEqual([]);
    }
  });
});
