// The Helm chart (deploy/helm/kube-observer) against the real apiserver, for its default
// values and two other value sets:
//   - one source: `kubectl kustomize deploy/` (and deploy/persistent-wal) is exactly the
//     chart rendered with its defaults (scripts/deploy/generate-manifests.sh);
//   - `helm lint` passes; `helm template` is accepted by a server-side dry run, then
//     applied for real, and every rendered object exists; the Deployment's pod passes
//     "restricted" Pod Security admission;
//   - the rendered RBAC is what `kube-observer rbac` generates for that value set's config
//     (the custom sets get their rules from `kube-observer rbac --format helm-values`);
//   - impersonating the chart's ServiceAccount, the apiserver's SelfSubjectRulesReview
//     grants exactly those list/watch rules beyond what any ServiceAccount has, and
//     `kubectl auth can-i` refuses what the config does not need.
// helm comes from scripts/helm/build.sh and the ServiceMonitor CRD from the Prometheus
// Operator's Go module (scripts/helm/servicemonitor-crd.sh); neither is optional.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { rbacPlanFor } from "../../../core/cli/rbac-command.js";
import { rbacManifests } from "../../../core/rbac/manifests.js";
import type { PolicyRule, RbacPlan } from "../../../core/rbac/plan.js";
import { repoRoot } from "../../support/agent.js";
import { eventually } from "../../support/cluster.js";
import { kubectl, kubectlCleanup, kubectlOk } from "./support.js";

const run = promisify(execFile);
const chart = join(repoRoot, "deploy/helm/kube-observer");
const suffix = Math.random().toString(16).slice(2, 10);
const work = mkdtempSync(join(tmpdir(), "kube-observer-helm-"));
const types = join(repoRoot, "config/types.dhall");

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = (yaml: string): Doc[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
const key = (d: Doc) => `${d.kind} ${d.metadata?.namespace ?? ""}/${d.metadata?.name}`;
const byKey = (list: Doc[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));

/** A script of the project's that prints a path (and builds or downloads on first use). */
async function toolPath(script: string): Promise<string> {
  const { stdout } = await run("bash", [join(repoRoot, script)], { cwd: repoRoot, maxBuffer: 16 << 20, timeout: 600_000 });
  return stdout.trim();
}

let helm = "";
async function helmOk(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(helm, args, {
      cwd: repoRoot,
      maxBuffer: 64 << 20,
      env: { ...process.env, HELM_CACHE_HOME: join(work, "helm-cache"), HELM_CONFIG_HOME: join(work, "helm-config") },
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A Dhall config as an operator would write it for the chart: the schema from the image,
 *  or from this checkout when evaluated here (kube-observer rbac). */
function dhallConfig(actors: string, sa: string, ns: string, sink: "neo4j" | "sqlite"): string {
  return [
    `let T = ${types} ? /app/config/types.dhall`,
    `let cluster = "in-cluster"`,
    "in  T.Config::{",
    "    , clusters = [ T.Cluster::{ name = cluster, inCluster = True } ]",
    `    , actors = ${actors}`,
    `    , sink = T.Sink::{ kind = "${sink}", sqlitePath = "/var/lib/kube-observer/graph/graph.sqlite"`,
    '      , neo4j = Some T.Neo4j::{ uri = "bolt://neo4j.neo4j.svc:7687", username = "neo4j", passwordEnv = "NEO4J_PASSWORD" } }',
    '    , wal = T.Wal::{ path = "/var/lib/kube-observer/wal/wal.sqlite" }',
    `    , rbac = T.Rbac::{ serviceAccount = "${sa}", namespace = "${ns}" }`,
    "    }",
    "",
  ].join("\n");
}

interface ValueSet {
  name: string;
  release: string;
  namespace: string;
  /** Namespaces the test creates besides the release's (Roles go there). */
  extraNamespaces: string[];
  /** The config file the RBAC must match (evaluable here). */
  configFile: string;
  /** Install with the RBAC values `kube-observer rbac --format helm-values` prints for
   *  configFile (a custom config), or with the chart's defaults (which must match it). */
  rbacValuesFromCli: boolean;
  values: Doc;
  /** Before the apply: what the value set says exists already (Secret, ConfigMap). */
  prepare?: () => Promise<void>;
  /** Namespaces to ask SelfSubjectRulesReview about, and can-i checks: [args, allowed]. */
  canI: Array<[string[], boolean]>;
}

const teamA = `ko-helm-team-a-${suffix}`;
const teamB = `ko-helm-team-b-${suffix}`;

function valueSets(): ValueSet[] {
  const sets: ValueSet[] = [];
  // 1. The defaults (as deploy/): the deploy config, every namespace, Neo4j via <release>-neo4j.
  {
    const release = `ko-helm-default-${suffix}`;
    sets.push({
      name: "default values",
      release,
      namespace: release,
      extraNamespaces: [],
      configFile: join(repoRoot, "deploy/config/kube-observer.dhall"),
      rbacValuesFromCli: false,
      values: { namespace: { create: true } },
      canI: [
        [["list", "secrets", "--all-namespaces"], true],
        [["watch", "clusterrolebindings.rbac.authorization.k8s.io"], true],
        [["get", "secrets", "-n", "kube-system"], false],
        [["create", "pods", "-n", release], false],
        [["list", "leases.coordination.k8s.io", "-n", release], false],
      ],
    });
  }
  // 2. An inline config (pods, ConfigMaps, nodes, namespaces), Neo4j credentials from an
  //    existing Secret, a ServiceMonitor, the WAL on a claim, egress restricted too.
  {
    const release = `ko-helm-neo4j-${suffix}`;
    const configFile = join(work, "neo4j.dhall");
    writeFileSync(configFile, dhallConfig('T.everyNamespaceOf cluster [ "pod", "configmap", "node", "namespace" ]', release, release, "neo4j"));
    const secret = `neo4j-credentials-${suffix}`;
    sets.push({
      name: "inline config, Neo4j from an existing Secret, ServiceMonitor, persistence, egress policy",
      release,
      namespace: release,
      extraNamespaces: [],
      configFile,
      rbacValuesFromCli: true,
      values: {
        namespace: { create: true },
        config: { inline: dhallConfigInline(configFile) },
        sink: { type: "neo4j", neo4j: { existingSecret: secret } },
        serviceMonitor: { enabled: true, labels: { release: "prometheus" } },
        persistence: { enabled: true, size: "1Gi" },
        networkPolicy: {
          enabled: true,
          egress: {
            enabled: true,
            apiserver: [{ ipBlock: { cidr: "127.0.0.1/32" } }],
            apiserverPorts: [6443],
            neo4j: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "neo4j" } } }],
          },
        },
      },
      prepare: async () => {
        await kubectlOk(["-n", release, "create", "secret", "generic", secret, "--from-literal=NEO4J_PASSWORD=not-a-real-password"]);
      },
      canI: [
        [["list", "pods", "--all-namespaces"], true],
        [["watch", "nodes"], true],
        [["list", "secrets", "-n", release], false],
        [["get", "secrets", "-n", release], false],
        [["list", "deployments.apps", "--all-namespaces"], false],
        [["create", "configmaps", "-n", release], false],
      ],
    });
  }
  // 3. A config from an existing ConfigMap, observing named namespaces only (a Role in
  //    each, no ClusterRole but for nodes), the SQLite sink, no NetworkPolicy.
  {
    const release = `ko-helm-cm-${suffix}`;
    const configFile = join(work, "configmap.dhall");
    const actors = `[ T.inNamespace cluster "${teamA}" "pod", T.inNamespace cluster "${teamA}" "secret", T.inNamespace cluster "${teamB}" "deployment", T.everyNamespace cluster "node" ]`;
    writeFileSync(configFile, dhallConfig(actors, release, release, "sqlite"));
    const configMap = `my-config-${suffix}`;
    sets.push({
      name: "existing ConfigMap, named namespaces, SQLite, no NetworkPolicy",
      release,
      namespace: release,
      extraNamespaces: [teamA, teamB],
      configFile,
      rbacValuesFromCli: true,
      values: {
        namespace: { create: true },
        config: { existingConfigMap: configMap },
        sink: { type: "sqlite" },
        networkPolicy: { enabled: false },
        resources: { requests: { cpu: "50m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
      },
      prepare: async () => {
        await kubectlOk(["-n", release, "create", "configmap", configMap, `--from-file=kube-observer.dhall=${configFile}`]);
      },
      canI: [
        [["list", "pods", "-n", teamA], true],
        [["watch", "secrets", "-n", teamA], true],
        [["list", "deployments.apps", "-n", teamB], true],
        [["watch", "nodes"], true],
        [["list", "pods", "-n", teamB], false],
        [["list", "pods", "--all-namespaces"], false],
        [["list", "namespaces"], false],
        [["get", "secrets", "-n", teamA], false],
        [["list", "secrets", "-n", release], false],
      ],
    });
  }
  return sets;
}

/** The config text for config.inline: the image's schema path only (as in the pod). */
function dhallConfigInline(file: string): string {
  return readFileSync(file, "utf8").replace(`${types} ? /app/config/types.dhall`, "/app/config/types.dhall");
}

const sets = valueSets();
const rendered = new Map<string, string>();
let crdCreated = false;
const crdName = "servicemonitors.monitoring.coreos.com";

beforeAll(async () => {
  helm = await toolPath("scripts/helm/build.sh");
  const crd = await toolPath("scripts/helm/servicemonitor-crd.sh");
  crdCreated = (await kubectl(["get", "crd", crdName])).code !== 0;
  await kubectlOk(["apply", "--server-side", "-f", crd]);
  await kubectlOk(["wait", "--for=condition=Established", `crd/${crdName}`, "--timeout=60s"]);
});

afterAll(async () => {
  for (const set of sets) {
    const yaml = rendered.get(set.release);
    if (yaml !== undefined) await kubectlCleanup(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], { input: yaml });
    for (const ns of [set.namespace, ...set.extraNamespaces]) await kubectlCleanup(["delete", "namespace", ns, "--ignore-not-found", "--wait=false"]);
  }
  if (crdCreated) await kubectlCleanup(["delete", "crd", crdName, "--ignore-not-found", "--wait=false"]);
  rmSync(work, { recursive: true, force: true });
});

describe("one source: deploy/ is the chart with its default values", () => {
  const defaults = ["template", "kube-observer", chart, "--namespace", "kube-observer", "--set", "namespace.create=true"];
  const stale = "deploy/ differs from the chart's rendering: run scripts/deploy/generate-manifests.sh (and commit the result)";

  it("kubectl kustomize deploy/ renders the same objects as helm template", async () => {
    const kustomized = docs(await kubectlOk(["kustomize", join(repoRoot, "deploy")]));
    const templated = docs(await helmOk(defaults));
    expect(byKey(kustomized), stale).toStrictEqual(byKey(templated));
  });

  it("and deploy/persistent-wal the chart with persistence.enabled", async () => {
    const kustomized = docs(await kubectlOk(["kustomize", join(repoRoot, "deploy/persistent-wal")]));
    const templated = docs(await helmOk([...defaults, "--set", "persistence.enabled=true"]));
    expect(byKey(kustomized), stale).toStrictEqual(byKey(templated));
  });
});

/** "verb group/resource" for every verb, group and resource of the rules. */
function permissions(rules: PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const verb of r.verbs) for (const group of r.apiGroups ?? []) for (const resource of r.resources ?? []) out.add(`${verb} ${group}/${resource}`);
    for (const verb of r.verbs) for (const url of r.nonResourceURLs ?? []) out.add(`${verb} ${url}`);
  }
  return [...out].sort();
}

/** What the apiserver says a user may do in a namespace (SelfSubjectRulesReview, impersonated). */
async function rulesReview(user: string, namespace: string): Promise<string[]> {
  const review = { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectRulesReview", spec: { namespace } };
  const out = JSON.parse(await kubectlOk(["create", "-f", "-", "-o", "json", `--as=${user}`, "--validate=false"], { input: JSON.stringify(review) })) as Doc;
  expect(out.status.incomplete, JSON.stringify(out.status)).toBe(false);
  return permissions([...(out.status.resourceRules as PolicyRule[]), ...(out.status.nonResourceRules as PolicyRule[])]);
}

describe.each(sets)("the chart with $name", (set) => {
  const valuesFile = join(work, `${set.release}.values.yaml`);
  const rbacValuesFile = join(work, `${set.release}.rbac-values.yaml`);
  const sa = set.release;
  const user = `system:serviceaccount:${set.namespace}:${sa}`;
  let plan: RbacPlan;
  let args: string[] = [];

  beforeAll(async () => {
    writeFileSync(valuesFile, stringify(set.values));
    // The RBAC for this config, as the chart README says: kube-observer rbac --format helm-values.
    const { stdout } = await run(process.execPath, [join(repoRoot, "dist/core/cli/main.js"), "rbac", "--config", set.configFile, "--format", "helm-values"], {
      cwd: repoRoot,
    });
    writeFileSync(rbacValuesFile, stdout);
    ({ plan } = await rbacPlanFor(set.configFile, { namespace: set.namespace, serviceAccount: sa }));
    args = [set.release, chart, "--namespace", set.namespace, "-f", valuesFile, ...(set.rbacValuesFromCli ? ["-f", rbacValuesFile] : [])];
    for (const ns of [set.namespace, ...set.extraNamespaces]) await kubectlOk(["create", "namespace", ns]);
    await set.prepare?.();
  });

  it("passes helm lint", async () => {
    const out = await helmOk(["lint", "--strict", ...args.slice(1)]);
    expect(out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("renders the RBAC that kube-observer rbac generates for its config", async () => {
    const yaml = await helmOk(["template", ...args]);
    rendered.set(set.release, yaml);
    const rbacKinds = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
    const withoutLabels = (d: Doc) => ({ ...d, metadata: { ...d.metadata, labels: undefined } });
    const chartRbac = docs(yaml).filter((d) => rbacKinds.has(d.kind));
    expect(byKey(chartRbac.map(withoutLabels))).toStrictEqual(byKey(rbacManifests(plan).map(withoutLabels)));
  });

  it("is accepted by a server-side dry run, then applied: every object exists and the pod passes admission", async () => {
    const yaml = rendered.get(set.release)!;
    const objects = docs(yaml);
    const dry = await kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], { input: yaml });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/serverside-applied \(server dry run\)/);
    // The dry run created nothing.
    const before = await kubectl(["get", "deployment", "-n", set.namespace, set.release]);
    expect(before.code).not.toBe(0);

    await kubectlOk(["apply", "--server-side", "-f", "-"], { input: yaml });
    const names = (await kubectlOk(["get", "-f", "-", "-o", "name"], { input: yaml })).trim().split("\n");
    expect(names).toHaveLength(objects.length);
    const kinds = objects.map((o) => o.kind);
    expect(kinds).toContain("Deployment");
    if (set.values.serviceMonitor?.enabled) expect(kinds).toEqual(expect.arrayContaining(["ServiceMonitor", "Service"]));
    if (set.values.persistence?.enabled) expect(kinds).toContain("PersistentVolumeClaim");
    expect(kinds.includes("NetworkPolicy")).toBe(set.values.networkPolicy?.enabled !== false);
    expect(kinds.includes("ConfigMap")).toBe(set.values.config?.existingConfigMap === undefined);

    const ns = JSON.parse(await kubectlOk(["get", "namespace", set.namespace, "-o", "json"])) as Doc;
    expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    // The ReplicaSet controller creates the pod (Pending: no kubelet) only if admission lets it.
    const pod = await eventually(
      "the Deployment's pod",
      async () => {
        const out = JSON.parse(await kubectlOk(["get", "pods", "-n", set.namespace, "-l", `app.kubernetes.io/instance=${set.release}`, "-o", "json"])) as Doc;
        return out.items[0] as Doc | undefined;
      },
      60_000,
    );
    expect(pod.spec.serviceAccountName).toBe(sa);
    const container = pod.spec.containers[0];
    expect(container.args.slice(container.args.indexOf("--sink"), container.args.indexOf("--sink") + 2)).toStrictEqual([
      "--sink",
      set.values.sink?.type ?? "neo4j",
    ]);
    const secretRefs = (container.env as Doc[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom.secretKeyRef.name);
    const secret = set.values.sink?.type === "sqlite" ? [] : [set.values.sink?.neo4j?.existingSecret ?? `${set.release}-neo4j`];
    expect([...new Set(secretRefs)]).toStrictEqual(secret);
  });

  it("its ServiceAccount may list and watch what the config needs, and nothing else", async () => {
    const baseline = `system:serviceaccount:${set.namespace}:nobody-${suffix}`;
    const expected = (namespace: string) => permissions([...plan.clusterRules, ...(plan.namespaceRules.find((r) => r.namespace === namespace)?.rules ?? [])]);
    const grantedIn = async (namespace: string) => {
      const base = new Set(await rulesReview(baseline, namespace));
      return (await rulesReview(user, namespace)).filter((p) => !base.has(p));
    };
    for (const namespace of [set.namespace, ...set.extraNamespaces, "default"]) {
      const want = expected(namespace);
      // The apiserver's RBAC authorizer sees new bindings through its informers: give it a moment.
      const granted = await eventually(
        `the rules of ${user} in ${namespace}`,
        async () => {
          const got = await grantedIn(namespace);
          return JSON.stringify(got) === JSON.stringify(want) ? got : undefined;
        },
        15_000,
      ).catch(() => grantedIn(namespace));
      expect(granted, `what ${user} may do in namespace ${namespace}, beyond any ServiceAccount`).toStrictEqual(want);
      expect(granted.every((p) => /^(list|watch) /.test(p))).toBe(true);
    }
    for (const [canI, allowed] of set.canI) {
      const result = await kubectl(["auth", "can-i", ...canI, `--as=${user}`]);
      expect(`${canI.join(" ")}: ${result.stdout.trim()}`).toBe(`${canI.join(" ")}: ${allowed ? "yes" : "no"}`);
    }
  });
});
