// Finds and validates resource plugins: the built-in ones in plugins/ and those in the
// directories the config names. A broken plugin is reported with its file and reason and
// left out; the rest load.
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import type { KnownResources } from "../config/model.js";
import { PLUGIN_API_VERSION, type ResourcePlugin } from "./types.js";

export interface LoadedPlugin {
  plugin: ResourcePlugin;
  /** Absolute path of the file it came from (workers import it from there). */
  file: string;
  builtin: boolean;
}

export class PluginLoadError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`plugin ${file}: ${reason}`);
    this.name = "PluginLoadError";
  }
}

export interface PluginSet {
  plugins: Map<string, LoadedPlugin>;
  errors: PluginLoadError[];
}

/** The built-in plugins directory, next to core/ in source and in dist/. */
export function builtinPluginDir(): string {
  return fileURLToPath(new URL("../../plugins/", import.meta.url));
}

const pluginShape = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be lower-case letters, digits and dashes, starting with a letter"),
  apiVersion: z.literal(PLUGIN_API_VERSION, { error: `must be ${PLUGIN_API_VERSION} (the plugin API this agent implements)` }),
  resource: z.object({
    group: z.string(),
    version: z.string().min(1),
    plural: z.string().regex(/^[a-z][a-z0-9.-]*$/, "must be the lower-case URL segment, e.g. \"pods\""),
    kind: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "must be the Kind, e.g. \"Pod\""),
    namespaced: z.boolean(),
  }),
  providesNamespaces: z.boolean().optional(),
  graph: z
    .object({
      label: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "must be a label like \"Pod\"").optional(),
      schema: z.object({
        labels: z.array(z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "labels must look like \"Pod\"")),
        relationships: z.array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "relationship types must look like \"USES_SECRET\"")),
      }),
      toGraph: z.custom<(o: unknown) => unknown>((v) => typeof v === "function", { message: "must be a function" }),
      lookups: z
        .record(z.string(), z.object({ label: z.string(), namespaced: z.boolean(), key: z.custom<(n: string) => string>((v) => typeof v === "function", { message: "must be a function" }) }))
        .optional(),
    })
    .optional(),
  reduce: z.custom<(o: unknown) => unknown>((v) => typeof v === "function", { message: "must be a function" }),
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

export async function loadPluginFile(file: string): Promise<ResourcePlugin> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    throw new PluginLoadError(file, `cannot be loaded: ${(error as Error).message.split("\n")[0]}`);
  }
  if (module.default === undefined) throw new PluginLoadError(file, "has no default export (export default definePlugin({...}))");
  const parsed = pluginShape.safeParse(module.default);
  if (!parsed.success) throw new PluginLoadError(file, `is not a valid plugin: ${describeIssues(parsed.error)}`);
  return module.default as ResourcePlugin;
}

/** Loads built-in plugins, then each directory in order; later name clashes are refused. */
export async function loadPlugins(pluginDirs: readonly string[] = []): Promise<PluginSet> {
  const set: PluginSet = { plugins: new Map(), errors: [] };
  const dirs = [{ dir: builtinPluginDir(), builtin: true }, ...pluginDirs.map((d) => ({ dir: resolve(d), builtin: false }))];
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
        const plugin = await loadPluginFile(file);
        const clash = set.plugins.get(plugin.name);
        if (clash) throw new PluginLoadError(file, `its name "${plugin.name}" is already taken by ${clash.file}`);
        set.plugins.set(plugin.name, { plugin, file, builtin });
      } catch (error) {
        set.errors.push(error instanceof PluginLoadError ? error : new PluginLoadError(file, String(error)));
      }
    }
  }
  return set;
}

export function knownResources(set: PluginSet): KnownResources {
  return new Map([...set.plugins].map(([name, p]) => [name, { namespaced: p.plugin.resource.namespaced }]));
}
