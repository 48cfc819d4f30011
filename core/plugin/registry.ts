// Finds and validates resource plugins: the built-in ones in plugins/ and those in the
// directories the config names. A broken plugin is reported with its file and reason and
// left out; the rest load. On a reload, a third-party file that breaks keeps its last
// good version running (and is reported); a changed file is imported afresh.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import type { KnownResources } from "../config/model.js";
import { PLUGIN_API_VERSION, type ResourcePlugin } from "./types.js";

export interface LoadedPlugin {
  plugin: ResourcePlugin;
  /** Absolute path of the file it came from (workers import it from there). */
  file: string;
  builtin: boolean;
  /** The file's content hash when it was loaded: workers import exactly this version,
   *  and observers restart when it changes. */
  version: string;
  /** Third-party plugins: the source of that version, for a worker that must import it
   *  after the file changed on disk (the last good version of a file broken since). */
  source?: string;
  /** Set when this is the last good version kept because the file now fails to load. */
  stale?: PluginLoadError;
}

export class PluginLoadError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    /** The name the file declares, when it got far enough to declare one. */
    readonly pluginName?: string,
  ) {
    super(`plugin ${file}: ${reason}`);
    this.name = "PluginLoadError";
  }
}

export interface PluginSet {
  plugins: Map<string, LoadedPlugin>;
  errors: PluginLoadError[];
}

export interface LoadOptions {
  /** The set in use before a reload: a third-party file that loaded then and fails now
   *  keeps its last good version (marked `stale`), unless its name is taken meanwhile. */
  previous?: PluginSet;
  /** How long importing one file may take (a top-level await that never ends). */
  importTimeoutMs?: number;
}

/** The built-in plugins directory, next to core/ in source and in dist/. */
export function builtinPluginDir(): string {
  return fileURLToPath(new URL("../../plugins/", import.meta.url));
}

const pluginShape = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower-case letters, digits and dashes, starting with a letter"),
    apiVersion: z.literal(PLUGIN_API_VERSION, { error: `must be ${PLUGIN_API_VERSION} (the plugin API this agent implements)` }),
    resource: z.object({
      group: z.string(),
      version: z.string().min(1),
      plural: z.string().regex(/^[a-z][a-z0-9.-]*$/, 'must be the lower-case URL segment, e.g. "pods"'),
      kind: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'must be the Kind, e.g. "Pod"'),
      namespaced: z.boolean(),
    }),
    providesNamespaces: z.boolean().optional(),
    graph: z
      .object({
        label: z
          .string()
          .regex(/^[A-Z][A-Za-z0-9]*$/, 'must be a label like "Pod"')
          .optional(),
        schema: z.object({
          labels: z.array(z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'labels must look like "Pod"')),
          relationships: z.array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'relationship types must look like "USES_SECRET"')),
        }),
        toGraph: z.custom<(o: unknown) => unknown>((v) => typeof v === "function", { message: "must be a function" }),
        lookups: z
          .record(
            z.string(),
            z.object({
              label: z.string(),
              namespaced: z.boolean(),
              key: z.custom<(n: string) => string>((v) => typeof v === "function", { message: "must be a function" }),
            }),
          )
          .optional(),
      })
      .optional(),
    reduce: z.custom<(o: unknown) => unknown>((v) => typeof v === "function", { message: "must be a function" }),
  })
  .superRefine((plugin, ctx) => {
    // Every message would be parked otherwise: say so once, at load time.
    // (Runs after the fields' own checks, possibly on a value that failed them.)
    const label = plugin.graph?.label ?? plugin.resource?.kind;
    const labels = plugin.graph?.schema?.labels;
    if (typeof label === "string" && Array.isArray(labels) && !labels.includes(label)) {
      ctx.addIssue({
        code: "custom",
        path: ["graph", "schema", "labels"],
        message: `must include the node's own label "${label}" (graph.label, or resource.kind without one)`,
      });
    }
  });

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(export)"}: ${i.message}`).join("; ");
}

/** Plugin files directly in dir: .js/.mjs (and .ts when running from source). */
export function pluginFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^[^_.].*\.(m?js|ts)$/.test(f) && !f.endsWith(".d.ts"))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/** The content hash of a plugin's source: its version. */
export function sourceVersion(source: string | Buffer): string {
  return createHash("sha256").update(source).digest("hex").slice(0, 16);
}

/** The content hash of a plugin file, as it is on disk now. */
export function pluginVersion(file: string): string {
  return sourceVersion(readFileSync(file));
}

/** The URL a plugin file is imported from. Node caches ES modules by URL for the life of
 *  the process: a version query makes a changed file a new module (the old one stays in
 *  memory; helpers it imports are not re-imported). Built-ins never change. */
export function pluginUrl(file: string, version?: string): string {
  const url = pathToFileURL(file).href;
  return version === undefined ? url : `${url}?plugin-version=${version}`;
}

/** `node --check` locates a syntax error (Node's import() error does not say where). */
function syntaxErrorLocation(file: string): string | undefined {
  const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
  if (check.status === 0 || typeof check.stderr !== "string") return undefined;
  const lines = check.stderr.split("\n");
  const line = lines.find((l) => l.startsWith(`${file}:`))?.slice(file.length + 1);
  const what = lines.find((l) => l.startsWith("SyntaxError: "));
  if (!line || !/^\d+$/.test(line) || !what) return undefined;
  return `${what} (line ${line})`;
}

function declaredName(value: unknown): string | undefined {
  const name = value !== null && typeof value === "object" ? (value as { name?: unknown }).name : undefined;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/**
 * Imports and validates one plugin file. `version` (the content hash; computed when
 * omitted for third-party files) selects the module: a changed file is imported afresh.
 */
export async function loadPluginFile(file: string, options: { version?: string; builtin?: boolean; importTimeoutMs?: number } = {}): Promise<ResourcePlugin> {
  let version: string | undefined;
  if (!options.builtin) {
    try {
      version = options.version ?? pluginVersion(file);
    } catch (error) {
      throw new PluginLoadError(file, `cannot be read: ${(error as Error).message}`);
    }
  }
  return importPlugin(file, pluginUrl(file, version), options.importTimeoutMs);
}

/** A plugin version from its source, for a worker whose file has changed since: only a
 *  plugin that imports nothing relative (or only node: modules) can load this way. */
export async function loadPluginSource(file: string, source: string): Promise<ResourcePlugin> {
  return importPlugin(file, `data:text/javascript;base64,${Buffer.from(source, "utf8").toString("base64")}`);
}

async function importPlugin(file: string, url: string, timeoutMs = 30_000): Promise<ResourcePlugin> {
  let module: { default?: unknown };
  let timer: NodeJS.Timeout | undefined;
  try {
    module = (await Promise.race([
      import(url),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish loading within ${timeoutMs / 1000} s (a top-level await that never ends?)`)), timeoutMs);
        timer.unref();
      }),
    ])) as { default?: unknown };
  } catch (error) {
    const message = (error instanceof Error ? error.message.split("\n")[0] : undefined) ?? String(error);
    const syntax = url.startsWith("file:") && (error instanceof SyntaxError || /syntax|parse/i.test(message)) ? syntaxErrorLocation(file) : undefined;
    throw new PluginLoadError(file, syntax ? `cannot be loaded: ${syntax}` : `cannot be loaded: ${message}`);
  } finally {
    clearTimeout(timer);
  }
  if (module.default === undefined) throw new PluginLoadError(file, "has no default export (export default definePlugin({...}))");
  const parsed = pluginShape.safeParse(module.default);
  if (!parsed.success) throw new PluginLoadError(file, `is not a valid plugin: ${describeIssues(parsed.error)}`, declaredName(module.default));
  return module.default as ResourcePlugin;
}

/** The primary graph label of a plugin's nodes (null without a graph side). */
function nodeLabel(plugin: ResourcePlugin): string | null {
  return plugin.graph ? (plugin.graph.label ?? plugin.resource.kind) : null;
}

/** Why a plugin cannot join the set (a name or node label already taken), or undefined. */
function clashIn(set: PluginSet, plugin: ResourcePlugin): string | undefined {
  const clash = set.plugins.get(plugin.name);
  if (clash) return `its name "${plugin.name}" is already taken by ${clash.file}`;
  const label = nodeLabel(plugin);
  if (label === null) return undefined;
  for (const other of set.plugins.values()) {
    // Two plugins writing nodes of one label would overwrite and sweep each other's.
    if (nodeLabel(other.plugin) === label)
      return `its graph label "${label}" is already the label of plugin "${other.plugin.name}" (${other.file}); give it its own graph.label`;
  }
  return undefined;
}

/**
 * Loads built-in plugins, then each directory in order; later name clashes are refused.
 * With `previous` (a reload), a third-party file that fails now but loaded before keeps
 * its last good version, marked `stale`; the error is still reported.
 */
export async function loadPlugins(pluginDirs: readonly string[] = [], options: LoadOptions = {}): Promise<PluginSet> {
  const set: PluginSet = { plugins: new Map(), errors: [] };
  const dirs = [{ dir: builtinPluginDir(), builtin: true }, ...pluginDirs.map((d) => ({ dir: resolve(d), builtin: false }))];
  const failed: Array<{ error: PluginLoadError; builtin: boolean }> = [];
  for (const { dir, builtin } of dirs) {
    let files: string[];
    try {
      files = pluginFiles(dir);
    } catch (error) {
      set.errors.push(new PluginLoadError(dir, `plugin directory cannot be read: ${(error as Error).message}`));
      continue;
    }
    for (const file of files) {
      try {
        let source: string;
        try {
          source = readFileSync(file, "utf8");
        } catch (error) {
          throw new PluginLoadError(file, `cannot be read: ${(error as Error).message}`);
        }
        const version = sourceVersion(source);
        const plugin = await loadPluginFile(file, { builtin, version, ...(options.importTimeoutMs ? { importTimeoutMs: options.importTimeoutMs } : {}) });
        const clash = clashIn(set, plugin);
        if (clash) throw new PluginLoadError(file, clash, plugin.name);
        set.plugins.set(plugin.name, { plugin, file, builtin, version, ...(builtin ? {} : { source }) });
      } catch (error) {
        const loadError = error instanceof PluginLoadError ? error : new PluginLoadError(file, String(error));
        set.errors.push(loadError);
        failed.push({ error: loadError, builtin });
      }
    }
  }
  // A reload: keep the last good version of a file that broke (never a built-in's).
  for (const { error, builtin } of failed) {
    if (builtin || !options.previous) continue;
    const last = [...options.previous.plugins.values()].find((p) => p.file === error.file && !p.builtin);
    if (!last || clashIn(set, last.plugin)) continue;
    set.plugins.set(last.plugin.name, { ...last, stale: error });
  }
  return set;
}

/** The load error that explains why a resource has no plugin: the file declaring that
 *  name, or else the file named after it (`backuppolicy.mjs` for "backuppolicy"). */
export function loadErrorFor(set: PluginSet, resource: string): PluginLoadError | undefined {
  return (
    set.errors.find((e) => e.pluginName === resource) ??
    set.errors.find((e) => e.pluginName === undefined && basename(e.file).replace(/\.(m?js|ts)$/, "") === resource)
  );
}

/** Changes whenever a plugin is added, removed, changed, broken or fixed (a reload with
 *  the same config still applies a plugin directory's changes). */
export function pluginSetFingerprint(set: PluginSet): string {
  const plugins = [...set.plugins.values()].map((p) => [p.plugin.name, p.file, p.version, p.stale?.message ?? null]).sort();
  return JSON.stringify({ plugins, errors: set.errors.map((e) => e.message).sort() });
}

export function knownResources(set: PluginSet): KnownResources {
  return new Map([...set.plugins].map(([name, p]) => [name, { namespaced: p.plugin.resource.namespaced }]));
}
