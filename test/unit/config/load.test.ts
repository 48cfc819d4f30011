// loadConfig end to end with the real dhall-to-json binary: Dhall -> JSON -> shape ->
// semantics, and the file:line:col each problem is reported at.
import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { evaluateConfig, loadConfig, loadConfigJson } from "../../../core/config/load.js";
import type { Config } from "../../../core/config/model.js";
import { configErrors, fixture, knownResources, repoFile } from "./helpers.js";

const defaults = {
  sink: { kind: "sqlite", sqlitePath: "./kube-observer-graph.sqlite", neo4j: null },
  wal: { path: "./kube-observer-wal.sqlite", maxBytes: 1073741824 },
  pluginDirs: [],
  observer: {
    pageSize: 500,
    watchTimeoutMinSeconds: 290,
    watchTimeoutMaxSeconds: 600,
    inactivityMarginSeconds: 30,
    connectTimeoutSeconds: 10,
    backoff: { initialMs: 800, factor: 2, maxMs: 30000, resetAfterMs: 120000, jitter: 0.2, maxRetryAfterMs: 300_000 },
    threads: 0,
    batchMaxMessages: 500,
    batchMaxDelayMs: 50,
    maxObjectBytes: 8388608,
    maxListPageBytes: 67108864,
    maxConcurrentLists: 16,
    withheldAnnotations: ["kapp.k14s.io/original", "kapp.k14s.io/original-diff", "objectset.rio.cattle.io/applied", "*last-applied*"],
    maxAnnotationBytes: 4096,
  },
  log: { level: "info" },
  rbac: { serviceAccount: "kube-observer", namespace: "kube-observer", extraRules: [] },
  listen: null,
  pluginBudgetMs: 1000,
  attackEdges: false,
  audit: { allowedRegistries: [] },
  history: { enabled: false, path: null, retentionDays: 90, maxBytes: 2147483648 },
} satisfies Omit<Config, "clusters" | "actors">;

const everywhere = (resource: string) => ({ cluster: "local", namespace: "*", role: "observer" as const, resource, exclude: [], topology: "auto" as const });

describe("loadConfig", () => {
  it("loads config/example.dhall", async () => {
    const expected: Config = {
      clusters: [{ name: "local", kubeconfig: null, context: null, inCluster: false }],
      actors: [
        "pod",
        "configmap",
        "secret",
        "serviceaccount",
        "persistentvolumeclaim",
        "deployment",
        "replicaset",
        "statefulset",
        "daemonset",
        "job",
        "cronjob",
        "service",
        "ingress",
        "role",
        "rolebinding",
        "node",
        "namespace",
        "persistentvolume",
        "storageclass",
        "clusterrole",
        "clusterrolebinding",
      ].map(everywhere),
      ...defaults,
    };
    expect(await loadConfig(repoFile("config/example.dhall"), knownResources)).toStrictEqual(expected);
  });

  it("fills in every default through record completion", async () => {
    expect(await loadConfig(fixture("minimal.dhall"), knownResources)).toStrictEqual({
      clusters: [{ name: "c1", kubeconfig: null, context: null, inCluster: false }],
      actors: [{ cluster: "c1", namespace: "*", role: "observer", resource: "pod", exclude: [], topology: "auto" }],
      ...defaults,
    });
  });

  it("keeps the defaults beside fields given explicitly, and relative paths as written", async () => {
    const config = await loadConfig(fixture("overrides.dhall"), knownResources);
    expect(config.clusters).toStrictEqual([{ name: "prod", kubeconfig: "./kc", context: "admin", inCluster: false }]);
    expect(config.actors).toStrictEqual([
      { cluster: "prod", namespace: "*", role: "observer", resource: "pod", exclude: ["kube-system"], topology: "auto" },
      { cluster: "prod", namespace: "team-a", role: "observer", resource: "secret", exclude: [], topology: "auto" },
    ]);
    expect(config.sink).toStrictEqual({
      kind: "neo4j",
      sqlitePath: "./kube-observer-graph.sqlite",
      neo4j: { uri: "bolt://localhost:7687", username: "neo4j", passwordEnv: "NEO4J_PASSWORD", database: null, writerLeaseSeconds: 30 },
    });
    expect(config.observer).toStrictEqual({ ...defaults.observer, pageSize: 100, backoff: { ...defaults.observer.backoff, jitter: 0.5 } });
    expect(config.log).toStrictEqual({ level: "debug" });
  });

  it("reads env: imports, as Text and as Dhall code", async () => {
    const env = {
      ...process.env,
      KO_TEST_CLUSTER: "from-env",
      KO_TEST_ACTORS: '[ { cluster = "from-env", namespace = "team-a", role = "observer", resource = "secret", exclude = [] : List Text, topology = "auto" } ]',
    };
    const config = await loadConfig(fixture("env.dhall"), knownResources, { env });
    expect(config.clusters.map((c) => c.name)).toStrictEqual(["from-env"]);
    expect(config.actors).toStrictEqual([{ cluster: "from-env", namespace: "team-a", role: "observer", resource: "secret", exclude: [], topology: "auto" }]);

    // Without KO_TEST_ACTORS the `?` alternative applies; without KO_TEST_CLUSTER Dhall says which variable is missing.
    const fallback = await loadConfig(fixture("env.dhall"), knownResources, { env: { ...process.env, KO_TEST_CLUSTER: "c" } });
    expect(fallback.actors.map((a) => a.resource)).toStrictEqual(["pod"]);
    const env2 = { ...process.env };
    delete env2.KO_TEST_CLUSTER;
    expect(await configErrors(loadConfig(fixture("env.dhall"), knownResources, { env: env2 }))).toStrictEqual([
      `${fixture("env.dhall")}:4:12: Missing environment variable: KO_TEST_CLUSTER`,
    ]);
  });

  it("reports a Dhall type error at its file, line and column", async () => {
    expect(await configErrors(loadConfig(fixture("type-error.dhall"), knownResources))).toStrictEqual([
      `${fixture("type-error.dhall")}:6:18: Expression doesn't match annotation: { pageSize : - Natural + Text , … }`,
    ]);
  });

  it("reports a missing file by name", async () => {
    expect(await configErrors(loadConfig(fixture("no-such.dhall"), knownResources))).toStrictEqual([`${fixture("no-such.dhall")}: file not found`]);
  });
});

describe("loadConfig: semantic errors, all of them, located in the source", () => {
  it("unknown resources, with the known names and a suggestion", async () => {
    const f = fixture("unknown-resource.dhall");
    const known =
      "clusterrole, clusterrolebinding, configmap, cronjob, daemonset, deployment, ingress, job, namespace, node, persistentvolume, " +
      "persistentvolumeclaim, pod, replicaset, role, rolebinding, secret, service, serviceaccount, statefulset, storageclass";
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:7:36: actors[1].resource: unknown resource "pods" (did you mean "pod"?); the known resources are: ${known}`,
      `${f}:8:36: actors[2].resource: unknown resource "deploymnet" (did you mean "deployment"?); the known resources are: ${known}`,
    ]);
  });

  it("unknown and duplicate clusters", async () => {
    const f = fixture("unknown-cluster.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:4:61: clusters[1].name: cluster "c1" is defined twice (also clusters[0])`,
      `${f}:7:20: actors[1].cluster: unknown cluster "c2"; the configured clusters are: "c1"`,
    ]);
  });

  it("evaluates once: the plugin checks run on the config as evaluated, not on the file as it is later", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kube-observer-evaluate-"));
    const f = join(dir, "config.dhall");
    const text = (resource: string): string =>
      `let T = ${resolve(repoFile("config/types.dhall"))}\nin T.Config::{ clusters = [ T.Cluster::{ name = "c1" } ], actors = [ T.Actor::{ cluster = "c1", resource = "${resource}" } ] }\n`;
    writeFileSync(f, text("pod"));
    const evaluated = await evaluateConfig(f);
    writeFileSync(f, text("not-a-plugin"));
    expect(evaluated.validate(knownResources).actors.map((a) => a.resource)).toStrictEqual(["pod"]);
    expect(await configErrors(loadConfig(f, knownResources))).toHaveLength(1);
  });

  it("a cluster name that is not a DNS-1123 label (it is in every key, log line and metric label)", async () => {
    const f = fixture("cluster-name.dhall");
    const errors = await configErrors(loadConfig(f, knownResources));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4:\\d+: clusters\\[0\\]\\.name: must be a DNS-1123 label`));
  });

  it('duplicate actors, and a namespace that a "*" actor already covers', async () => {
    const f = fixture("duplicate-actors.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:8:36: actors[2].resource: duplicates actors[0] (cluster "c1", namespace "*", resource "pod")`,
      `${f}:9:36: actors[3].namespace: namespace "default" of resource "pod" is already observed by actors[0] (namespace "*"); ` +
        `remove one, or add "default" to that actor's exclude`,
    ]);
  });

  it('a namespace or exclude on a cluster-scoped resource, exclude without "*"', async () => {
    const f = fixture("cluster-scoped.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:6:55: actors[0].namespace: resource "node" is cluster-scoped; its namespace must be "*", not "default"`,
      `${f}:7:72: actors[1].exclude: resource "namespace" is cluster-scoped; it has no namespaces to exclude`,
      `${f}:8:88: actors[2].exclude: only an actor with namespace "*" can exclude namespaces (this one has namespace "team-a")`,
    ]);
  });

  it("no clusters and no actors", async () => {
    const f = fixture("empty.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:3:17: clusters: no cluster is configured`,
      `${f}:3:54: actors: no actor is configured, so nothing would be observed`,
    ]);
  });
});

describe("loadConfig: shape and range errors name the JSON path", () => {
  it("reports every range error with its path and line", async () => {
    const f = fixture("ranges.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:6:7: sink.neo4j: required when kind is "neo4j" (neo4j = Some T.Neo4j::{ uri = "bolt://..." })`,
      `${f}:8:9: observer.pageSize: expected an integer from 1 to 5000, got 0`,
      `${f}:10:9: observer.watchTimeoutMaxSeconds: must be >= watchTimeoutMinSeconds (600), got 300`,
      `${f}:11:9: observer.threads: expected an integer from 0 to 64 (0: from the number of cores), got 65`,
      `${f}:12:32: observer.backoff.factor: expected a number >= 1.0, got 0.5`,
      `${f}:12:46: observer.backoff.jitter: expected a number from 0.0 to 1.0, got 1.5`,
      `${f}:14:22: log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", got "verbose"`,
    ]);
  });

  it("checks watch timeouts min <= max and backoff initialMs <= maxMs", async () => {
    const f = fixture("timeouts.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:8:9: observer.watchTimeoutMaxSeconds: must be >= watchTimeoutMinSeconds (600), got 300`,
      `${f}:9:50: observer.backoff.maxMs: must be >= initialMs (5000), got 1000`,
    ]);
  });

  it("takes pluginBudgetMs from 10 ms to 10 minutes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kube-observer-budget-"));
    const f = join(dir, "config.dhall");
    const text = (ms: number): string =>
      `let T = ${resolve(repoFile("config/types.dhall"))}\nin T.Config::{ clusters = [ T.Cluster::{ name = "c1" } ], actors = [ T.Actor::{ cluster = "c1", resource = "pod" } ], pluginBudgetMs = ${ms} }\n`;
    writeFileSync(f, text(250));
    expect((await loadConfig(f, knownResources)).pluginBudgetMs).toBe(250);
    writeFileSync(f, text(5));
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:2:119: pluginBudgetMs: expected whole milliseconds from 10 to 600000, got 5`,
    ]);
  });

  it("takes the audit's registry allow list as hosts, and names a URL or path given instead", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kube-observer-registries-"));
    const f = join(dir, "config.dhall");
    const text = (hosts: string[]): string =>
      `let T = ${resolve(repoFile("config/types.dhall"))}\nin T.Config::{ clusters = [ T.Cluster::{ name = "c1" } ], actors = [ T.Actor::{ cluster = "c1", resource = "pod" } ]\n, audit.allowedRegistries = [ ${hosts.map((h) => JSON.stringify(h)).join(", ")} ] : List Text }\n`;
    writeFileSync(f, text(["docker.io", "registry.example.com:5000", "localhost", "[::1]:5000"]));
    expect((await loadConfig(f, knownResources)).audit.allowedRegistries).toStrictEqual(["docker.io", "registry.example.com:5000", "localhost", "[::1]:5000"]);
    writeFileSync(f, text(["docker.io", "https://quay.io", "ghcr.io/team"]));
    const errors = await configErrors(loadConfig(f, knownResources));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(
      new RegExp(
        `^${f}:3:\\d+: audit\\.allowedRegistries\\[1\\]: expected a registry host as image references name it, e\\.g\\. "docker\\.io".*got "https://quay\\.io"$`,
      ),
    );
    expect(errors[1]).toMatch(/audit\.allowedRegistries\[2\]: .*got "ghcr\.io\/team"$/);
  });

  it("bounds every delay a timer waits on: over an hour (or a Retry-After cap of 0) is refused", async () => {
    const f = fixture("delays.dhall");
    expect(await configErrors(loadConfig(f, knownResources))).toStrictEqual([
      `${f}:7:9: observer.connectTimeoutSeconds: expected whole seconds from 1 to 3600 (an hour), got 100000000`,
      `${f}:8:9: observer.batchMaxDelayMs: expected milliseconds from 0 to 60000, got 9000000000`,
      `${f}:9:32: observer.backoff.maxMs: expected milliseconds from 1 to 3600000 (an hour), got 9000000000000`,
      `${f}:9:55: observer.backoff.maxRetryAfterMs: expected milliseconds from 1 to 3600000 (an hour), got 0`,
    ]);
  });

  it("rejects unknown and missing fields of a record written without types.dhall", async () => {
    const f = fixture("hand-written.dhall");
    const messages = await configErrors(loadConfigJson(f));
    expect(messages).toContain(`${f}: sink: missing (config/types.dhall's record completion, T.Config::{ ... }, fills in defaults)`);
    expect(messages).toContain(`${f}:4:3: unknown field "pagesize"`);
  });
});

describe("loadConfigJson", () => {
  it("returns the configuration with defaults, in model key order, without plugin checks", async () => {
    const config = await loadConfigJson(fixture("unknown-resource.dhall"));
    expect(Object.keys(config)).toStrictEqual([
      "clusters",
      "actors",
      "sink",
      "wal",
      "pluginDirs",
      "observer",
      "log",
      "rbac",
      "listen",
      "pluginBudgetMs",
      "attackEdges",
      "audit",
      "history",
    ]);
    expect(config.actors.map((a) => a.resource)).toStrictEqual(["pod", "pods", "deploymnet"]);
  });
});
