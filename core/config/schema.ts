// The shape and ranges of the JSON that dhall-to-json produces, checked with zod. The
// output type is asserted equal to Config (model.ts), so a change on either side that
// is not made on the other fails typechecking. Defaults live in config/types.dhall (the
// one exception: `rbac`, added later, also defaults here so that hand-written records
// from before still load): every other field is required, and unknown fields (typos in
// a hand-written record) are rejected.
import { z } from "zod";
import { ConfigError, type Config, type ConfigLocation } from "./model.js";

const integer = (min: number, max: number, message: string) =>
  z.number({ error: "expected a number" }).refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, { error: message });

const positiveInteger = () => integer(1, Number.MAX_SAFE_INTEGER, "expected a positive integer");
/** Every delay the agent waits on a timer: at most an hour (Node's timers overflow past
 *  2^31-1 ms and fire at once). */
const MAX_DELAY_MS = 3_600_000;
const delayMs = () => integer(1, MAX_DELAY_MS, `expected milliseconds from 1 to ${MAX_DELAY_MS} (an hour)`);
const seconds = (max: number, what: string) => integer(1, max, `expected whole seconds from 1 to ${max} (${what})`);
const nonEmptyText = () => z.string({ error: "expected text" }).min(1, { error: "must not be empty" });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.map((v) => `"${v}"`).join(", ")}` });

/** A cluster's name is in every key, scope, log line, node property and metric label: a
 *  DNS-1123 label (lowercase letters, digits and "-", at most 63), so that it can carry
 *  nothing else (an env: import's value, a path, a separator). */
const clusterName = () =>
  nonEmptyText()
    .max(63, { error: "must be at most 63 characters (a DNS-1123 label)" })
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
      error: 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit (e.g. "prod-eu-1")',
    });

const cluster = z.strictObject({
  name: clusterName(),
  kubeconfig: nonEmptyText().nullable(),
  context: nonEmptyText().nullable(),
  inCluster: z.boolean({ error: "expected True or False" }),
});

const actor = z.strictObject({
  cluster: nonEmptyText(),
  namespace: nonEmptyText(),
  role: z.literal("observer", { error: 'unknown role; the only role is "observer"' }),
  resource: nonEmptyText(),
  exclude: z.array(nonEmptyText(), { error: "expected a list of namespace names" }),
  topology: oneOf(["auto", "cluster", "namespace"]),
});

const backoff = z
  .strictObject({
    initialMs: delayMs(),
    factor: z.number({ error: "expected a number" }).min(1, { error: "expected a number >= 1.0" }),
    maxMs: delayMs(),
    resetAfterMs: positiveInteger(),
    jitter: z
      .number({ error: "expected a number" })
      .min(0, { error: "expected a number from 0.0 to 1.0" })
      .max(1, { error: "expected a number from 0.0 to 1.0" }),
    maxRetryAfterMs: delayMs(),
  })
  .superRefine((b, ctx) => {
    if (b.maxMs < b.initialMs) ctx.addIssue({ code: "custom", path: ["maxMs"], message: `must be >= initialMs (${b.initialMs})` });
  });

const observer = z
  .strictObject({
    pageSize: integer(1, 5000, "expected an integer from 1 to 5000"),
    watchTimeoutMinSeconds: seconds(86_400, "a day"),
    watchTimeoutMaxSeconds: seconds(86_400, "a day"),
    inactivityMarginSeconds: seconds(3_600, "an hour"),
    connectTimeoutSeconds: seconds(3_600, "an hour"),
    backoff,
    threads: integer(0, 64, "expected an integer from 0 to 64 (0: from the number of cores)"),
    batchMaxMessages: positiveInteger(),
    batchMaxDelayMs: integer(0, 60_000, "expected milliseconds from 0 to 60000"),
    maxObjectBytes: integer(1024, 1 << 30, "expected a number of bytes from 1024 to 1073741824"),
    maxListPageBytes: integer(1024, 1 << 30, "expected a number of bytes from 1024 to 1073741824"),
    maxConcurrentLists: integer(1, 10_000, "expected an integer from 1 to 10000"),
    withheldAnnotations: z.array(nonEmptyText()),
    maxAnnotationBytes: integer(0, 1 << 20, "expected a number of bytes from 0 to 1048576"),
  })
  .superRefine((o, ctx) => {
    if (o.maxListPageBytes < o.maxObjectBytes) {
      ctx.addIssue({ code: "custom", path: ["maxListPageBytes"], message: `must be >= maxObjectBytes (${o.maxObjectBytes}): a page must fit one object` });
    }
    if (o.watchTimeoutMaxSeconds < o.watchTimeoutMinSeconds) {
      ctx.addIssue({ code: "custom", path: ["watchTimeoutMaxSeconds"], message: `must be >= watchTimeoutMinSeconds (${o.watchTimeoutMinSeconds})` });
    }
  });

const neo4j = z.strictObject({
  uri: nonEmptyText(),
  username: nonEmptyText(),
  passwordEnv: nonEmptyText().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: "expected the name of an environment variable (the password itself never goes in the configuration)",
  }),
  database: nonEmptyText().nullable(),
  writerLeaseSeconds: integer(3, 3600, "expected whole seconds from 3 to 3600"),
});

const sink = z
  .strictObject({
    kind: oneOf(["sqlite", "neo4j"]),
    sqlitePath: nonEmptyText(),
    neo4j: neo4j.nullable(),
  })
  .superRefine((s, ctx) => {
    if (s.kind === "neo4j" && s.neo4j === null) {
      ctx.addIssue({ code: "custom", path: ["neo4j"], message: 'required when kind is "neo4j" (neo4j = Some T.Neo4j::{ uri = "bolt://..." })' });
    }
  });

// A DNS-1123 label (namespaces) or subdomain (ServiceAccounts).
const dnsLabel = () =>
  nonEmptyText()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'expected a DNS label (lowercase letters, digits and "-")' })
    .max(63, { error: "at most 63 characters" });
const dnsSubdomain = () =>
  nonEmptyText()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, { error: 'expected a DNS subdomain (lowercase letters, digits, "-" and ".")' })
    .max(253, { error: "at most 253 characters" });

const rbacRule = z
  .strictObject({
    apiGroups: z.array(z.string({ error: "expected text" }), { error: 'expected a list of API groups ("" is the core group)' }),
    resources: z.array(nonEmptyText(), { error: "expected a list of resources" }),
    verbs: z.array(nonEmptyText(), { error: "expected a list of verbs" }).min(1, { error: "needs at least one verb" }),
    resourceNames: z.array(nonEmptyText(), { error: "expected a list of names" }),
    nonResourceURLs: z.array(nonEmptyText(), { error: "expected a list of URL paths" }),
    namespace: dnsLabel().nullable(),
  })
  .superRefine((r, ctx) => {
    const resourceRule = r.apiGroups.length > 0 || r.resources.length > 0 || r.resourceNames.length > 0;
    if (r.nonResourceURLs.length > 0) {
      if (resourceRule)
        ctx.addIssue({ code: "custom", path: ["nonResourceURLs"], message: "a rule has either nonResourceURLs or apiGroups and resources, not both" });
      if (r.namespace !== null) ctx.addIssue({ code: "custom", path: ["namespace"], message: "nonResourceURLs are cluster-wide: namespace must be None Text" });
      for (const url of r.nonResourceURLs) {
        if (!url.startsWith("/")) ctx.addIssue({ code: "custom", path: ["nonResourceURLs"], message: `"${url}" is not a URL path (it starts with "/")` });
      }
    } else {
      if (r.apiGroups.length === 0)
        ctx.addIssue({ code: "custom", path: ["apiGroups"], message: 'needs at least one API group ("" is the core group), or nonResourceURLs' });
      if (r.resources.length === 0) ctx.addIssue({ code: "custom", path: ["resources"], message: "needs at least one resource, or nonResourceURLs" });
    }
  });

// Configurations written before `rbac` existed have no such field: it defaults here,
// the one default outside types.dhall.
const rbacDefaults = { serviceAccount: "kube-observer", namespace: "kube-observer", extraRules: [] };

const rbac = z
  .strictObject({
    serviceAccount: dnsSubdomain(),
    namespace: dnsLabel(),
    extraRules: z.array(rbacRule, { error: "expected a list of rules" }),
  })
  .default(() => ({ ...rbacDefaults, extraRules: [] }));

export const configSchema = z.strictObject({
  clusters: z.array(cluster, { error: "expected a list of clusters" }),
  actors: z.array(actor, { error: "expected a list of actors" }),
  sink,
  wal: z.strictObject({ path: nonEmptyText(), maxBytes: positiveInteger() }),
  pluginDirs: z.array(nonEmptyText(), { error: "expected a list of directories" }),
  observer,
  log: z.strictObject({ level: oneOf(["trace", "debug", "info", "warn", "error", "fatal"]) }),
  rbac,
  // Added after `rbac`: older records have no such field.
  listen: z
    .string()
    .regex(/^((\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?\d{1,5}$/, 'expected HOST:PORT or PORT, e.g. "0.0.0.0:8080" (every interface) or "8080" (127.0.0.1)')
    .nullable()
    .default(null),
  // Added later still; the default is also types.dhall's (core/plugin/budget.ts).
  pluginBudgetMs: integer(10, 600_000, "expected whole milliseconds from 10 to 600000").default(1000),
  // Added later still (issue 16): attack edges kept in the graph.
  attackEdges: z.boolean({ error: "expected True or False" }).default(false),
  // Added with it: what the audit checks against.
  audit: z
    .strictObject({
      allowedRegistries: z.array(
        z.string({ error: "expected text" }).regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/, {
          error: 'expected a registry host as image references name it, e.g. "docker.io" or "registry.example.com:5000" (no scheme, no path)',
        }),
        { error: "expected a list of registry hosts" },
      ),
    })
    .default({ allowedRegistries: [] }),
  // Added with issue 17: the graph through time.
  history: z
    .strictObject({
      enabled: z.boolean({ error: "expected True or False" }),
      path: nonEmptyText().nullable(),
      retentionDays: integer(0, 36_500, "expected whole days from 0 (kept for ever) to 36500"),
      maxBytes: integer(0, Number.MAX_SAFE_INTEGER, "expected bytes, 0 (no limit) or more"),
    })
    .default({ enabled: false, path: null, retentionDays: 90, maxBytes: 2_147_483_648 }),
});

// Drift between the schema and model.ts fails here, in both directions.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const schemaMatchesModel: Equal<z.output<typeof configSchema>, Config> = true;
void schemaMatchesModel;

export type JsonPath = ReadonlyArray<string | number>;

/** Where a JSON path is in the source, when it can be found (see validate.ts). */
export type Locate = (path: JsonPath, value: unknown) => ConfigLocation;

/** Checks the JSON value of a configuration. Returns the Config, or one ConfigError per
 *  problem, each reason starting with the JSON path ("observer.pageSize: ..."). */
export function parseConfigJson(json: unknown, locate: Locate): { config: Config } | { errors: ConfigError[] } {
  const result = configSchema.safeParse(json);
  if (result.success) return { config: result.data };
  return {
    errors: result.error.issues.map((issue) => {
      const at = issue.path.filter((p): p is string | number => typeof p !== "symbol");
      const where = formatJsonPath(at);
      const message = describeIssue(issue, valueAt(json, at));
      // An unknown field is written in the source even though the schema lacks it.
      const spot = issue.code === "unrecognized_keys" && issue.keys[0] !== undefined ? [...at, issue.keys[0]] : at;
      return new ConfigError(locate(spot, valueAt(json, spot)), where ? `${where}: ${message}` : message);
    }),
  };
}

/** observer.backoff.jitter, actors[2].resource */
export function formatJsonPath(at: JsonPath): string {
  return at.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === "unrecognized_keys") {
    return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  }
  if (value === undefined && issue.code === "invalid_type") {
    return "missing (config/types.dhall's record completion, T.Config::{ ... }, fills in defaults)";
  }
  if (issue.code === "invalid_type" && issue.message.startsWith("Invalid input")) return `expected ${issue.expected}`;
  const shown = value !== null && typeof value !== "object" ? `, got ${JSON.stringify(value)}` : "";
  return `${issue.message}${shown}`;
}

/** The value at a JSON path, or undefined. */
export function valueAt(json: unknown, at: JsonPath): unknown {
  let current = json;
  for (const key of at) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
