// Dhall file -> validated Config: dhall-to-json, then the shape (schema.ts), then the
// semantics (validate.ts). Every failure is a ConfigError; several problems found in the
// same stage come as one ConfigErrors (see configErrorList), in source order.
//
// Relative paths inside the configuration (kubeconfig, sqlitePath, wal.path,
// pluginDirs) are returned as written; their consumers resolve them against the
// working directory.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { dhallToJson, type DhallOptions } from "./dhall.js";
import type { Config, KnownResources } from "./model.js";
import { parseConfigJson } from "./schema.js";
import { byLocation, ConfigErrors, sourceLocator, validateConfig } from "./validate.js";

/** Loads, checks and returns the configuration in `file`. Rejects with a ConfigError
 *  (a ConfigErrors when there are several problems). */
export async function loadConfig(file: string, knownResources: KnownResources, options: DhallOptions = {}): Promise<Config> {
  const { config, locate } = await evaluate(file, options);
  const errors = validateConfig(config, knownResources, locate);
  if (errors.length > 0) throw new ConfigErrors(byLocation(errors));
  return config;
}

/** The file evaluated once: its shape now, the checks that need the plugins later. A
 *  reload scans the plugin directories in between, and must not evaluate the file a
 *  second time: it may have changed meanwhile (a config naming a plugin file written just
 *  after the scan would be refused). */
export async function evaluateConfig(
  file: string,
  options: DhallOptions = {},
): Promise<{ config: Config; validate: (knownResources: KnownResources) => Config }> {
  const { config, locate } = await evaluate(file, options);
  return {
    config,
    validate: (knownResources) => {
      const errors = validateConfig(config, knownResources, locate);
      if (errors.length > 0) throw new ConfigErrors(byLocation(errors));
      return config;
    },
  };
}

/** The configuration with every default filled in and its shape checked, but without
 *  the checks that need the plugins (for `config print`). Keys are in model order. */
export async function loadConfigJson(file: string, options: DhallOptions = {}): Promise<Config> {
  return (await evaluate(file, options)).config;
}

async function evaluate(file: string, options: DhallOptions) {
  const json = await dhallToJson(file, options);
  // Dhall has succeeded, so the file is readable; its text is only used to point
  // errors at lines.
  const source = await readFile(path.resolve(options.cwd ?? process.cwd(), file), "utf8").catch(() => "");
  const locate = sourceLocator(file, source, json);
  const parsed = parseConfigJson(json, locate);
  if ("errors" in parsed) throw new ConfigErrors(byLocation(parsed.errors));
  return { config: parsed.config, locate };
}
