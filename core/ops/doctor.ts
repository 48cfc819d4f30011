// `kube-observer doctor`: is this configuration ready to run here? It checks, in order,
// the configuration (and its plugins), each cluster (its /version endpoint and who the
// credentials authenticate as), every permission the agent needs there (the same list
// `kube-observer rbac` derives, core/rbac/plan.ts) through SelfSubjectAccessReview, the
// graph sink (through core/graph/open-sink.ts) and the WAL directory. Each check is a
// row: check, target, result, hint.
import { historyFile, historyInGraphFile } from "../history/paths.js";
import { trustProblems } from "./trust-check.js";
import { closeSync, existsSync, openSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadAgentConfig } from "../agent-config.js";
import { ConfigError, type ClusterConfig, type Config } from "../config/model.js";
import { configErrorList } from "../config/validate.js";
import { openSink } from "../graph/open-sink.js";
import { describeFound, GRAPH_SCHEMA_VERSION, GraphSchemaError, type StorageSchemaStatus } from "../graph/schema-version.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { ExclusiveFile } from "../lock/exclusive-file.js";
import { readHolder } from "../lock/meta-table.js";
import { findDamage, tooManyAsides, type StoreName } from "../storage/damaged-file.js";
import { loadPlugins } from "../plugin/registry.js";
import { describePermission, planRbac, type Permission, type RbacPlan } from "../rbac/plan.js";
import { kubeJson, statusMessage } from "./kube-api.js";

export type DoctorResult = "ok" | "warn" | "FAIL";

export interface DoctorRow {
  check: "config" | "plugin" | "trust" | "cluster" | "permission" | "sink" | "schema" | "wal" | "history";
  target: string;
  result: DoctorResult;
  /** What was found: a version, a denial reason, an error. */
  detail: string;
  /** What to do about a failure or warning; empty when ok. */
  hint: string;
}

export interface DoctorOptions {
  configFile: string;
  /** Like `run --sink`. */
  sink?: "sqlite" | "neo4j";
  env?: NodeJS.ProcessEnv;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Called with each row as soon as it is known (rows are also returned). */
  onRow?: (row: DoctorRow) => void;
}

const CONCURRENCY = 8;

export async function runDoctor(options: DoctorOptions): Promise<DoctorRow[]> {
  const rows: DoctorRow[] = [];
  const add = (row: DoctorRow): void => {
    rows.push(row);
    options.onRow?.(row);
  };
  const file = options.configFile;

  let config: Config;
  try {
    ({ config } = await loadAgentConfig(file));
  } catch (error) {
    const problems = error instanceof ConfigError ? configErrorList(error).map((e) => e.message) : [error instanceof Error ? error.message : String(error)];
    add({ check: "config", target: file, result: "FAIL", detail: problems.join("; "), hint: `fix the configuration (kube-observer config check ${file})` });
    return rows;
  }
  const plugins = await loadPlugins(config.pluginDirs);
  add({
    check: "config",
    target: file,
    result: "ok",
    detail: `${count(config.clusters.length, "cluster")}, ${count(config.actors.length, "actor")}`,
    hint: "",
  });
  for (const problem of plugins.errors) {
    add({ check: "plugin", target: problem.file, result: "warn", detail: problem.reason, hint: "fix or remove the plugin; actors naming it are refused" });
  }
  for (const problem of trustProblems(file, config.pluginDirs)) {
    add({
      check: "trust",
      target: problem.path,
      result: "warn",
      detail: problem.reason,
      hint: 'whoever can write it can run code as the agent: chmod go-w and chown it to the agent\'s user (README, "Security")',
    });
  }

  for (const cluster of config.clusters) {
    const kc = await checkCluster(cluster, options, add);
    let plan: RbacPlan;
    try {
      plan = planRbac(config, plugins.plugins, cluster.name);
    } catch (error) {
      add({
        check: "permission",
        target: cluster.name,
        result: "FAIL",
        detail: `cannot derive the permissions: ${(error as Error).message}`,
        hint: "fix the plugin the actor names",
      });
      continue;
    }
    if (!kc) {
      add({
        check: "permission",
        target: `${cluster.name}: ${count(plan.permissions.length, "permission")}`,
        result: "FAIL",
        detail: "not checked: the cluster cannot be reached",
        hint: "",
      });
      continue;
    }
    const results = await mapLimited(plan.permissions, CONCURRENCY, (p) => checkPermission(kc, p, options.timeoutMs));
    plan.permissions.forEach((permission, i) => {
      const outcome = results[i]!;
      const needed = `needed by ${permission.neededBy.join(", ")}`;
      add({
        check: "permission",
        target: `${cluster.name}: ${describePermission(permission)}`,
        result: outcome.allowed ? "ok" : "FAIL",
        detail: outcome.allowed ? needed : outcome.reason,
        hint: outcome.allowed ? "" : `${needed}; grant it: kube-observer rbac --config ${file} | kubectl apply -f -`,
      });
    });
  }

  await checkSink(config, options, add);
  checkWal(config, add);
  checkHistory(config, options, add);
  return rows;
}

async function checkCluster(cluster: ClusterConfig, options: DoctorOptions, add: (row: DoctorRow) => void): Promise<KubeConfig | undefined> {
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(cluster);
  } catch (error) {
    add({
      check: "cluster",
      target: cluster.name,
      result: "FAIL",
      detail: `no credentials: ${(error as Error).message}`,
      hint: cluster.inCluster
        ? "inCluster needs the pod's ServiceAccount token (automountServiceAccountToken) and KUBERNETES_SERVICE_HOST/PORT"
        : "check kubeconfig/context in the config, $KUBECONFIG or ~/.kube/config",
    });
    return undefined;
  }
  const server = kc.getCurrentCluster()?.server ?? "?";
  try {
    const version = await kubeJson(kc, "GET", "/version", undefined, options.timeoutMs);
    if (version.status !== 200) {
      add({
        check: "cluster",
        target: cluster.name,
        result: "FAIL",
        detail: `${server}/version: ${statusMessage(version)}`,
        hint: hintForStatus(version.status),
      });
      return undefined;
    }
    const gitVersion = (version.body as { gitVersion?: string } | undefined)?.gitVersion ?? "unknown version";
    const user = await whoAmI(kc, options.timeoutMs);
    if (user.failed) {
      add({ check: "cluster", target: cluster.name, result: "FAIL", detail: `${server}: ${user.failed.reason}`, hint: hintForStatus(user.failed.status) });
      return undefined;
    }
    add({
      check: "cluster",
      target: cluster.name,
      result: "ok",
      detail: `Kubernetes ${gitVersion} at ${server}${user.name ? `, as ${user.name}` : ""}`,
      hint: "",
    });
    return kc;
  } catch (error) {
    add({
      check: "cluster",
      target: cluster.name,
      result: "FAIL",
      detail: `cannot reach ${server}: ${(error as Error).message}`,
      hint: "check the server address, the network path and the CA the kubeconfig trusts",
    });
    return undefined;
  }
}

function hintForStatus(status: number): string {
  if (status === 401) return "the credentials are not accepted (expired or revoked token, wrong client certificate)";
  if (status === 403) return "the credentials may not do this; see kube-observer rbac";
  return "check the API server";
}

/** The authenticated user's name (SelfSubjectReview); a 401 is a failure, anything else unknown. */
async function whoAmI(kc: KubeConfig, timeoutMs?: number): Promise<{ name?: string; failed?: { status: number; reason: string } }> {
  const response = await kubeJson(
    kc,
    "POST",
    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    timeoutMs,
  );
  if (response.status === 401) return { failed: { status: 401, reason: `not authenticated: ${statusMessage(response)}` } };
  if (response.status !== 201 && response.status !== 200) return {};
  return { name: (response.body as { status?: { userInfo?: { username?: string } } }).status?.userInfo?.username };
}

async function checkPermission(kc: KubeConfig, p: Permission, timeoutMs?: number): Promise<{ allowed: boolean; reason: string }> {
  const spec =
    p.nonResourceURL !== null
      ? { nonResourceAttributes: { path: p.nonResourceURL, verb: p.verb } }
      : {
          resourceAttributes: {
            verb: p.verb,
            group: p.group ?? "",
            resource: p.resource ?? "",
            ...(p.namespace !== null ? { namespace: p.namespace } : {}),
            ...(p.name !== null ? { name: p.name } : {}),
          },
        };
  try {
    const response = await kubeJson(
      kc,
      "POST",
      "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec },
      timeoutMs,
    );
    if (response.status !== 201 && response.status !== 200) return { allowed: false, reason: `SelfSubjectAccessReview failed: ${statusMessage(response)}` };
    const status = (response.body as { status?: { allowed?: boolean; reason?: string; evaluationError?: string } }).status ?? {};
    if (status.allowed) return { allowed: true, reason: "" };
    const why = [status.reason, status.evaluationError].filter((s) => s).join("; ");
    return { allowed: false, reason: `denied${why ? `: ${why}` : " (no RBAC rule grants it)"}` };
  } catch (error) {
    return { allowed: false, reason: `not checked: ${(error as Error).message}` };
  }
}

async function checkSink(config: Config, options: DoctorOptions, add: (row: DoctorRow) => void): Promise<void> {
  const env = options.env ?? process.env;
  const kind = options.sink ?? config.sink.kind;
  const target = kind === "sqlite" ? `sqlite ${config.sink.sqlitePath}` : `neo4j ${redactUri(env.NEO4J_URI ?? config.sink.neo4j?.uri ?? "?")}`;
  if (kind === "sqlite") {
    const unwritable = notWritable(config.sink.sqlitePath);
    if (unwritable) {
      add({
        check: "sink",
        target,
        result: "FAIL",
        detail: unwritable,
        hint: "point sink.sqlitePath at a writable volume (in a pod: an emptyDir or a PersistentVolume)",
      });
      return;
    }
    const held = lockRow("sink", config.sink.sqlitePath, "sink.sqlitePath");
    if (held) {
      add({ ...held, target });
      return;
    }
    const damaged = damageRow("sink", config.sink.sqlitePath, "embedded graph");
    if (damaged) {
      add({ ...damaged, target });
      return;
    }
  }
  try {
    // Read-only when the graph exists: never the writer's lock (an agent may start now).
    const access = kind === "sqlite" && existsSync(config.sink.sqlitePath) ? "read" : "write";
    const sink = await openSink(config.sink, { kind, env, access });
    try {
      const answers = await sink.ping();
      if (answers) {
        add({
          check: "sink",
          target,
          result: "ok",
          detail: kind === "sqlite" ? "opened, writable" : "answers RETURN 1 with the configured credentials",
          hint: "",
        });
        const schema = await sink.storageSchema?.().catch((error: unknown) => error);
        if (schema !== undefined) add(schemaRow(target, schema));
      } else {
        add({
          check: "sink",
          target,
          result: "FAIL",
          detail: kind === "sqlite" ? "the database does not answer" : "Neo4j did not answer (unreachable, or the credentials were refused)",
          hint:
            kind === "sqlite"
              ? "check the file"
              : `check NEO4J_URI / sink.neo4j.uri, NEO4J_USERNAME and $${config.sink.neo4j?.passwordEnv ?? "NEO4J_PASSWORD"}`,
        });
      }
    } finally {
      await sink.close().catch(() => undefined);
    }
  } catch (error) {
    // A graph file at another storage version: readable as a file, refused as a graph.
    if (error instanceof GraphSchemaError) {
      add(schemaRow(target, error));
      return;
    }
    add({
      check: "sink",
      target,
      result: "FAIL",
      detail: (error as Error).message,
      hint: kind === "sqlite" ? "point sink.sqlitePath at a writable volume" : "check NEO4J_URI / sink.neo4j.uri and the credentials' environment variables",
    });
  }
}

/** The stored graph's storage schema version, and what the agent will do about it. */
function schemaRow(target: string, found: StorageSchemaStatus | unknown): DoctorRow {
  if (found instanceof GraphSchemaError) {
    const older = found.found === "unversioned" || (typeof found.found === "number" && found.found < GRAPH_SCHEMA_VERSION);
    return older
      ? {
          check: "schema",
          target,
          result: "warn",
          detail: `${describeFound(found.found)}; the agent migrates it to version ${GRAPH_SCHEMA_VERSION} when it starts`,
          hint: "graph commands refuse it until the agent has run once",
        }
      : { check: "schema", target, result: "FAIL", detail: found.message, hint: "the agent will refuse to start (exit 2)" };
  }
  if (!isStatus(found))
    return { check: "schema", target, result: "FAIL", detail: `the storage version could not be read: ${(found as Error).message}`, hint: "" };
  const detail = {
    keep: `version ${found.version}, current`,
    create: `no graph yet; the agent creates version ${GRAPH_SCHEMA_VERSION}`,
    migrate: `${describeFound(found.found)}; the agent migrates it to version ${GRAPH_SCHEMA_VERSION} when it starts`,
    rebuild: `${describeFound(found.found)} cannot be migrated; the agent empties the graph and rebuilds it from the cluster when it starts`,
    refuse: `${describeFound(found.found)} is newer than this kube-observer knows`,
  }[found.action];
  return { check: "schema", target, result: found.action === "keep" || found.action === "create" ? "ok" : "warn", detail, hint: "" };
}

function isStatus(value: unknown): value is StorageSchemaStatus {
  return typeof value === "object" && value !== null && "action" in value;
}

function checkWal(config: Config, add: (row: DoctorRow) => void): void {
  const unwritable = notWritable(config.wal.path);
  if (unwritable) {
    add({
      check: "wal",
      target: config.wal.path,
      result: "FAIL",
      detail: unwritable,
      hint: "point wal.path at a writable volume (in a pod: an emptyDir or a PersistentVolume)",
    });
    return;
  }
  add(
    lockRow("wal", config.wal.path, "wal.path") ??
      damageRow("wal", config.wal.path, "WAL") ?? { check: "wal", target: config.wal.path, result: "ok", detail: "writable", hint: "" },
  );
}

/** With history kept: where, and, in a file of its own (Neo4j), that it can be written. */
function checkHistory(config: Config, options: DoctorOptions, add: (row: DoctorRow) => void): void {
  const kind = options.sink ?? config.sink.kind;
  const file = historyFile(config, kind);
  if (file === null) return;
  const retention = `${config.history.retentionDays > 0 ? `${config.history.retentionDays} days` : "kept for ever"}${config.history.maxBytes > 0 ? `, at most ${(config.history.maxBytes / 2 ** 30).toFixed(1)} GiB` : ""}`;
  if (historyInGraphFile(config, kind)) {
    add({ check: "history", target: file, result: "ok", detail: `kept in the embedded graph's file, in its transactions (${retention})`, hint: "" });
    return;
  }
  const unwritable = notWritable(file);
  if (unwritable) {
    add({
      check: "history",
      target: file,
      result: "FAIL",
      detail: unwritable,
      hint: "point history.path (or wal.path, which it sits beside) at a writable volume",
    });
    return;
  }
  add(
    lockRow("history", file, "history.path") ??
      damageRow("history", file, "embedded graph") ?? { check: "history", target: file, result: "ok", detail: `writable (${retention})`, hint: "" },
  );
}

/** A damaged file (PRAGMA quick_check, read-only): a warning, as the agent replaces it when
 *  it starts; a failure when it would refuse to (too many damaged copies lately). Files a
 *  live agent holds are its to check. */
function damageRow(check: "wal" | "sink" | "history", file: string, what: StoreName): DoctorRow | undefined {
  if (!existsSync(file)) return undefined;
  let found: string | undefined;
  try {
    found = findDamage(file);
  } catch (error) {
    return { check, target: file, result: "FAIL", detail: `cannot be read: ${(error as Error).message}`, hint: "check the file and its permissions" };
  }
  if (found === undefined) return undefined;
  const copies = tooManyAsides(file);
  if (copies) {
    return {
      check,
      target: file,
      result: "FAIL",
      detail: `damaged (${found}), and ${copies.length} damaged copies were moved aside within the last hour (${copies.join(", ")}): the agent will stop with exit code 3`,
      hint: "the disk or filesystem may be failing: check the volume, then delete the copies or use another volume",
    };
  }
  const cost = what === "WAL" ? "messages not yet in the graph are observed again by its relist" : "the graph is rebuilt from the cluster";
  return {
    check,
    target: file,
    result: "warn",
    detail: `damaged (${found}); the agent moves it aside to ${file}.corrupt-<time> when it starts and starts a fresh one (${cost})`,
    hint: "find out why (disk errors, a copy taken while the agent wrote it); delete the copy once it is not needed",
  };
}

/** A file a live agent holds: fine (doctor is usually run beside its own agent, e.g. in
 *  the pod); the row names the holder and says another `run` with this config would be
 *  refused. */
function lockRow(check: "wal" | "sink" | "history", file: string, setting: string): DoctorRow | undefined {
  if (!ExclusiveFile.isHeld(file)) return undefined;
  let holder: ReturnType<typeof readHolder>;
  try {
    holder = readHolder(file);
  } catch {
    holder = undefined; // a damaged file: its holder deals with it
  }
  return {
    check,
    target: file,
    result: "ok",
    detail: `held by a live agent${holder ? ` (pid ${holder.pid} on host ${holder.host} since ${holder.since})` : ""}; a second \`run\` with this config would exit 2 (or change ${setting})`,
    hint: "",
  };
}

/** Why a file could not be created or written at path, or undefined if it can. Tried,
 *  not inferred from permission bits (root passes those, a read-only mount does not):
 *  an existing file is opened for writing, a directory gets a probe file, created and
 *  removed at once. */
function notWritable(path: string): string | undefined {
  const absolute = resolve(path);
  try {
    if (existsSync(absolute)) {
      if (!statSync(absolute).isFile()) return `${absolute} is not a file`;
      closeSync(openSync(absolute, "r+"));
      probeDirectory(dirname(absolute)); // SQLite's -wal and -shm files go beside it
      return undefined;
    }
    // The nearest existing directory must let the rest be created.
    let dir = dirname(absolute);
    while (!existsSync(dir)) dir = dirname(dir);
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    probeDirectory(dir);
    return undefined;
  } catch (error) {
    return `not writable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (${absolute})`;
  }
}

function probeDirectory(dir: string): void {
  const probe = join(dir, `.kube-observer-doctor-${process.pid}-${Date.now()}`);
  closeSync(openSync(probe, "wx"));
  unlinkSync(probe);
}

function redactUri(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return uri.replace(/\/\/[^@/]*@/, "//");
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

/** The rows as an aligned text table: CHECK, TARGET, RESULT (with its detail), HINT. */
export function formatDoctorTable(rows: readonly DoctorRow[]): string {
  const cells = rows.map((r) => [r.check, r.target, r.detail ? `${r.result}: ${r.detail}` : r.result, r.hint]);
  const header = ["CHECK", "TARGET", "RESULT", "HINT"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (i < 3 ? c[i]!.length : 0))));
  const line = (c: string[]) =>
    c
      .map((text, i) => (i < c.length - 1 ? text.padEnd(widths[i]!) : text))
      .join("  ")
      .trimEnd();
  const failed = rows.filter((r) => r.result === "FAIL").length;
  const warned = rows.filter((r) => r.result === "warn").length;
  const summary = failed > 0 ? `${count(failed, "check")} failed` : warned > 0 ? `all checks passed, ${count(warned, "warning")}` : "all checks passed";
  return `${[line(header), ...cells.map(line)].join("\n")}\n\n${summary}\n`;
}
