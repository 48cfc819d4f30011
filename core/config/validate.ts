// Checks that need more than the shape of the configuration: resources the loaded
// plugins know, actors naming configured clusters, nothing observed twice. All problems
// are reported, not just the first, each located in the top-level Dhall file when its
// value can be found there (best effort: values built in other files or by functions
// are not found, and the error then names the file only).
import { scanDhall, lineColumn } from "./dhall.js";
import { ConfigError, type ActorConfig, type Config, type ConfigLocation, type KnownResources } from "./model.js";
import { formatJsonPath, valueAt, type JsonPath, type Locate } from "./schema.js";

/** Several configuration problems at once. It is a ConfigError itself (location and
 *  reason of the first problem; message: one `file:line:col: reason` line per problem),
 *  so callers that only need "the config is bad" can catch ConfigError. */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors[0]?.location ?? { file: "" }, errors[0]?.reason ?? "invalid configuration");
    this.name = "ConfigErrors";
    this.message = errors.map((e) => e.message).join("\n");
  }
}

/** Errors in source order; those without a line (file-wide) last, in their order. */
export function byLocation(errors: readonly ConfigError[]): ConfigError[] {
  const rank = (e: ConfigError) => [e.location.line ?? Number.MAX_SAFE_INTEGER, e.location.column ?? 0] as const;
  return [...errors].sort((a, b) => {
    const [la, ca] = rank(a);
    const [lb, cb] = rank(b);
    return la - lb || ca - cb;
  });
}

/** The individual problems behind a ConfigError. */
export function configErrorList(error: ConfigError): readonly ConfigError[] {
  return error instanceof ConfigErrors ? error.errors : [error];
}

/** Semantic problems of a structurally valid configuration; empty when there are none. */
export function validateConfig(config: Config, knownResources: KnownResources, locate: Locate): ConfigError[] {
  const errors: ConfigError[] = [];
  const fail = (at: JsonPath, value: unknown, reason: string) => {
    errors.push(new ConfigError(locate(at, value), `${formatJsonPath(at)}: ${reason}`));
  };

  if (config.clusters.length === 0) fail(["clusters"], config.clusters, "no cluster is configured");
  const clusterIndex = new Map<string, number>();
  config.clusters.forEach((cluster, i) => {
    const earlier = clusterIndex.get(cluster.name);
    if (earlier === undefined) clusterIndex.set(cluster.name, i);
    else fail(["clusters", i, "name"], cluster.name, `cluster "${cluster.name}" is defined twice (also clusters[${earlier}])`);
  });

  if (config.actors.length === 0) fail(["actors"], config.actors, "no actor is configured, so nothing would be observed");
  const seen = new Map<string, number>();
  config.actors.forEach((actor, i) => {
    const at = (field: keyof ActorConfig): JsonPath => ["actors", i, field];

    if (!clusterIndex.has(actor.cluster)) {
      const names = [...clusterIndex.keys()].map((n) => `"${n}"`).join(", ") || "none";
      fail(at("cluster"), actor.cluster, `unknown cluster "${actor.cluster}"; the configured clusters are: ${names}`);
    }

    if (actor.namespace !== "*" && !isNamespaceName(actor.namespace)) {
      fail(at("namespace"), actor.namespace, `"${actor.namespace}" is neither "*" nor a valid namespace name (lowercase letters, digits and "-", at most 63)`);
    }
    for (const excluded of actor.exclude) {
      if (!isNamespaceName(excluded)) fail(at("exclude"), excluded, `"${excluded}" is not a valid namespace name`);
    }
    if (actor.topology === "cluster" && actor.namespace !== "*") {
      fail(
        at("topology"),
        actor.topology,
        `topology "cluster" watches every namespace; this actor names namespace "${actor.namespace}" (use namespace = "*", or topology "auto")`,
      );
    }
    if (actor.exclude.length > 0 && actor.namespace !== "*") {
      fail(at("exclude"), actor.exclude[0], `only an actor with namespace "*" can exclude namespaces (this one has namespace "${actor.namespace}")`);
    }

    const resource = knownResources.get(actor.resource);
    if (!resource) {
      fail(at("resource"), actor.resource, unknownResource(actor.resource, knownResources));
    } else if (!resource.namespaced) {
      if (actor.namespace !== "*") {
        fail(at("namespace"), actor.namespace, `resource "${actor.resource}" is cluster-scoped; its namespace must be "*", not "${actor.namespace}"`);
      } else if (actor.exclude.length > 0) {
        fail(at("exclude"), actor.exclude[0], `resource "${actor.resource}" is cluster-scoped; it has no namespaces to exclude`);
      }
    }

    const key = JSON.stringify([actor.cluster, actor.namespace, actor.resource]);
    const twin = seen.get(key);
    if (twin !== undefined) {
      fail(
        at("resource"),
        actor.resource,
        `duplicates actors[${twin}] (cluster "${actor.cluster}", namespace "${actor.namespace}", resource "${actor.resource}")`,
      );
    } else {
      seen.set(key, i);
    }
  });

  // An explicit namespace that a "*" actor for the same resource also covers would be
  // observed twice.
  config.actors.forEach((actor, i) => {
    if (actor.namespace === "*") return;
    const wildcard = config.actors.findIndex(
      (other) => other.namespace === "*" && other.cluster === actor.cluster && other.resource === actor.resource && !other.exclude.includes(actor.namespace),
    );
    if (wildcard < 0) return;
    fail(
      ["actors", i, "namespace"],
      actor.namespace,
      `namespace "${actor.namespace}" of resource "${actor.resource}" is already observed by actors[${wildcard}] (namespace "*"); ` +
        `remove one, or add "${actor.namespace}" to that actor's exclude`,
    );
  });

  return errors;
}

function unknownResource(name: string, known: KnownResources): string {
  const names = [...known.keys()].sort();
  // One typo per four letters: "pods" suggests "pod", not "node".
  const close = names.filter((n) => editDistance(n, name) <= Math.max(1, Math.floor(name.length / 4)));
  const hint = close.length > 0 ? ` (did you mean ${close.map((n) => `"${n}"`).join(" or ")}?)` : "";
  return `unknown resource "${name}"${hint}; the known resources are: ${names.join(", ") || "none"}`;
}

// A Kubernetes namespace name is an RFC 1123 label.
function isNamespaceName(name: string): boolean {
  return name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// ---------------------------------------------------------------------------------------
// Locating a JSON value in the Dhall source
// ---------------------------------------------------------------------------------------

/** Errors name only the file. */
export function fileLocator(file: string): Locate {
  return () => ({ file });
}

/** Finds `field = value` (then the bare literal `"value"`) for the JSON path, in the
 *  top-level file with its comments blanked out. For the n-th array element with a
 *  given value, the n-th match is taken (duplicates point at the second one). A value
 *  absent from the JSON (a missing field), or not written in the file (a default), is
 *  located at its nearest enclosing field that is written there. */
export function sourceLocator(file: string, source: string, json: unknown): Locate {
  const text = scanDhall(source).masked;

  const find = (patterns: RegExp[], occurrence: number): ConfigLocation | undefined => {
    let fallback: number | undefined;
    for (const pattern of patterns) {
      const offsets = [...text.matchAll(pattern)].map((m) => m.index);
      const exact = offsets[occurrence];
      if (exact !== undefined) return { file, ...lineColumn(source, exact) };
      fallback ??= offsets.at(-1);
    }
    return fallback === undefined ? undefined : { file, ...lineColumn(source, fallback) };
  };

  /** The nearest enclosing field that is written in the source (a record left at its
   *  default has no text of its own). */
  const enclosing = (at: JsonPath): ConfigLocation | undefined => {
    for (const key of at.filter((p): p is string => typeof p === "string").reverse()) {
      const found = find([fieldPattern(key)], 0);
      if (found) return found;
    }
    return undefined;
  };

  return (at, value) => {
    const keyIndex = at.findLastIndex((p) => typeof p === "string");
    const key = at[keyIndex];
    if (typeof key !== "string") return { file };
    const literal = value === undefined ? undefined : dhallLiteral(value);
    const patterns = literal ? [fieldPattern(key, literal)] : [fieldPattern(key)];
    if (typeof value === "string" && literal) patterns.push(new RegExp(literal, "g"));
    // A missing value has no text: go straight to the record that lacks it.
    const found = value === undefined ? undefined : find(patterns, occurrenceOf(json, at, value));
    return found ?? enclosing(at.slice(0, keyIndex)) ?? { file };
  };
}

function fieldPattern(key: string, literal?: string): RegExp {
  return new RegExp(`(?<![A-Za-z0-9_\\-/])${escapeRegExp(key)}\\s*=\\s*${literal ?? ""}`, "g");
}

/** A regular expression for how the value is written in Dhall, for simple values. */
function dhallLiteral(value: unknown): string | undefined {
  if (typeof value === "string") return escapeRegExp(JSON.stringify(value));
  if (typeof value === "number") return `${escapeRegExp(String(value))}(?![0-9.])`;
  if (typeof value === "boolean") return value ? "True\\b" : "False\\b";
  return undefined;
}

/** How many earlier elements of the innermost array on the path hold the same value. */
function occurrenceOf(json: unknown, at: JsonPath, value: unknown): number {
  const arrayAt = at.findLastIndex((p) => typeof p === "number");
  const index = at[arrayAt];
  if (typeof index !== "number") return 0;
  const list = valueAt(json, at.slice(0, arrayAt));
  if (!Array.isArray(list)) return 0;
  const rest = at.slice(arrayAt + 1);
  return list.slice(0, index).filter((element) => {
    const v = rest.length > 0 ? valueAt(element, rest) : element;
    return v === value || (Array.isArray(v) && v.includes(value));
  }).length;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
