// The RBAC a configuration needs: list/watch only, on exactly the resources its actors
// name, cluster-wide or per namespace, plus namespace discovery and extra rules; sorted,
// so the same config always prints the same YAML.
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import type { ActorConfig, Config, RbacRuleConfig } from "../../../core/config/model.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import type { ApiResource } from "../../../core/plugin/types.js";
import { rbacHelmValues, rbacManifests, rbacYaml } from "../../../core/rbac/manifests.js";
import { describePermission, pickCluster, planRbac, RbacPlanError } from "../../../core/rbac/plan.js";

function plugin(name: string, resource: Omit<ApiResource, "version" | "kind"> & { version?: string }, providesNamespaces = false): [string, LoadedPlugin] {
  return [
    name,
    {
      plugin: {
        name,
        apiVersion: 1,
        resource: { version: "v1", kind: "Thing", ...resource },
        reduce: () => ({}),
        ...(providesNamespaces ? { providesNamespaces } : {}),
      },
      file: `/plugins/${name}.js`,
      builtin: true,
      version: "test",
    },
  ];
}

const plugins = new Map<string, LoadedPlugin>([
  plugin("pod", { group: "", plural: "pods", namespaced: true }),
  plugin("secret", { group: "", plural: "secrets", namespaced: true }),
  plugin("configmap", { group: "", plural: "configmaps", namespaced: true }),
  plugin("deployment", { group: "apps", version: "v1", plural: "deployments", namespaced: true }),
  plugin("replicaset", { group: "apps", plural: "replicasets", namespaced: true }),
  plugin("job", { group: "batch", plural: "jobs", namespaced: true }),
  plugin("node", { group: "", plural: "nodes", namespaced: false }),
  plugin("clusterrole", { group: "rbac.authorization.k8s.io", plural: "clusterroles", namespaced: false }),
  plugin("namespace", { group: "", plural: "namespaces", namespaced: false }, true),
]);

const actor = (resource: string, namespace = "*", extra: Partial<ActorConfig> = {}): ActorConfig => ({
  cluster: "c1",
  namespace,
  role: "observer",
  resource,
  exclude: [],
  topology: "auto",
  ...extra,
});

const rule = (fields: Partial<RbacRuleConfig> & { verbs: string[] }): RbacRuleConfig => ({
  apiGroups: [],
  resources: [],
  resourceNames: [],
  nonResourceURLs: [],
  namespace: null,
  ...fields,
});

function config(actors: ActorConfig[], extra: Partial<Config> = {}): Config {
  return {
    clusters: [{ name: "c1", kubeconfig: null, context: null, inCluster: false }],
    actors,
    sink: { kind: "sqlite", sqlitePath: "./g.sqlite", neo4j: null },
    wal: { path: "./w.sqlite", maxBytes: 1 << 20 },
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
    ...extra,
  };
}

const LW = ["list", "watch"];

describe("planRbac", () => {
  it('grants list and watch cluster-wide for "*" actors, one rule per API group, and no namespace discovery for cluster-wide watches', () => {
    const plan = planRbac(config([actor("secret"), actor("deployment"), actor("pod"), actor("job")]), plugins, "c1");
    expect(plan.clusterRules).toStrictEqual([
      { apiGroups: [""], resources: ["pods", "secrets"], verbs: LW },
      { apiGroups: ["apps"], resources: ["deployments"], verbs: LW },
      { apiGroups: ["batch"], resources: ["jobs"], verbs: LW },
    ]);
    expect(plan.permissions.filter((p) => p.resource === "namespaces")).toStrictEqual([]);
  });

  it('adds namespace discovery for "*" actors watched per namespace', () => {
    const perNamespace = { topology: "namespace" } as const;
    const plan = planRbac(config([actor("secret", "*", perNamespace), actor("deployment"), actor("pod"), actor("job"), actor("replicaset")]), plugins, "c1");
    expect(plan.clusterRules).toStrictEqual([
      { apiGroups: [""], resources: ["namespaces", "pods", "secrets"], verbs: LW },
      { apiGroups: ["apps"], resources: ["deployments", "replicasets"], verbs: LW },
      { apiGroups: ["batch"], resources: ["jobs"], verbs: LW },
    ]);
    expect(plan.namespaceRules).toStrictEqual([]);
    expect(plan.permissions.filter((p) => p.resource === "namespaces")).toMatchObject([
      { verb: "list", neededBy: ["namespace discovery"] },
      { verb: "watch", neededBy: ["namespace discovery"] },
    ]);
  });

  it("an exclude list changes nothing: RBAC cannot leave namespaces out", () => {
    const a = planRbac(config([actor("pod")]), plugins, "c1");
    const b = planRbac(config([actor("pod", "*", { exclude: ["kube-system"] })]), plugins, "c1");
    expect(b.clusterRules).toStrictEqual(a.clusterRules);
  });

  it("cluster-scoped resources go cluster-wide and need no namespace discovery", () => {
    const plan = planRbac(config([actor("node"), actor("clusterrole")]), plugins, "c1");
    expect(plan.clusterRules).toStrictEqual([
      { apiGroups: [""], resources: ["nodes"], verbs: LW },
      { apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: LW },
    ]);
    expect(plan.permissions.map(describePermission)).toStrictEqual([
      "list nodes (cluster-wide)",
      "watch nodes (cluster-wide)",
      "list clusterroles.rbac.authorization.k8s.io (cluster-wide)",
      "watch clusterroles.rbac.authorization.k8s.io (cluster-wide)",
    ]);
  });

  it("actors naming namespaces get a Role per namespace, sorted, and no discovery", () => {
    const plan = planRbac(
      config([actor("secret", "team-b"), actor("pod", "team-a"), actor("deployment", "team-b"), actor("configmap", "team-a")]),
      plugins,
      "c1",
    );
    expect(plan.clusterRules).toStrictEqual([]);
    expect(plan.namespaceRules).toStrictEqual([
      { namespace: "team-a", rules: [{ apiGroups: [""], resources: ["configmaps", "pods"], verbs: LW }] },
      {
        namespace: "team-b",
        rules: [
          { apiGroups: [""], resources: ["secrets"], verbs: LW },
          { apiGroups: ["apps"], resources: ["deployments"], verbs: LW },
        ],
      },
    ]);
    expect(plan.permissions.map(describePermission)).toStrictEqual([
      "list configmaps in team-a",
      "watch configmaps in team-a",
      "list pods in team-a",
      "watch pods in team-a",
      "list secrets in team-b",
      "watch secrets in team-b",
      "list deployments.apps in team-b",
      "watch deployments.apps in team-b",
    ]);
    expect(rbacManifests(plan).map((m) => `${m.kind} ${m.metadata.namespace ?? ""}/${m.metadata.name}`)).toStrictEqual([
      "ServiceAccount kube-observer/kube-observer",
      "Role team-a/kube-observer",
      "RoleBinding team-a/kube-observer",
      "Role team-b/kube-observer",
      "RoleBinding team-b/kube-observer",
    ]);
  });

  it("leaves out a Role for what the ClusterRole already grants everywhere", () => {
    const plan = planRbac(config([actor("pod", "*", { exclude: ["team-a"] }), actor("pod", "team-a"), actor("secret", "team-a")]), plugins, "c1");
    expect(plan.clusterRules).toStrictEqual([{ apiGroups: [""], resources: ["pods"], verbs: LW }]);
    expect(plan.namespaceRules).toStrictEqual([{ namespace: "team-a", rules: [{ apiGroups: [""], resources: ["secrets"], verbs: LW }] }]);
    expect(plan.permissions.find((p) => p.resource === "pods" && p.verb === "list")?.neededBy).toStrictEqual(["actors[0] (pod)"]);
  });

  it("only looks at the actors of the chosen cluster", () => {
    const two = config([actor("pod"), { ...actor("node"), cluster: "c2" }], {
      clusters: [
        { name: "c1", kubeconfig: null, context: null, inCluster: false },
        { name: "c2", kubeconfig: null, context: null, inCluster: true },
      ],
    });
    expect(planRbac(two, plugins, "c2").clusterRules).toStrictEqual([{ apiGroups: [""], resources: ["nodes"], verbs: LW }]);
    expect(pickCluster(two, "c2")).toBe("c2");
    expect(() => pickCluster(two)).toThrow(/2 clusters \("c1", "c2"\): name one with --cluster/);
    expect(() => pickCluster(two, "c3")).toThrow(RbacPlanError);
    expect(pickCluster(config([actor("pod")]))).toBe("c1");
  });

  it("adds the config's extra rules, normalised, after the derived ones of their scope", () => {
    const plan = planRbac(
      config([actor("pod", "team-a")], {
        rbac: {
          serviceAccount: "observer",
          namespace: "ops",
          extraRules: [
            rule({ nonResourceURLs: ["/metrics", "/livez", "/metrics"], verbs: ["get"] }),
            rule({ apiGroups: [""], resources: ["events"], verbs: ["watch", "list", "list"], namespace: "team-a" }),
            rule({ apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["kube-observer"], verbs: ["update", "get"], namespace: "ops" }),
          ],
        },
      }),
      plugins,
      "c1",
    );
    expect(plan.clusterRules).toStrictEqual([{ nonResourceURLs: ["/livez", "/metrics"], verbs: ["get"] }]);
    expect(plan.namespaceRules).toStrictEqual([
      { namespace: "ops", rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["kube-observer"], verbs: ["get", "update"] }] },
      {
        namespace: "team-a",
        rules: [
          { apiGroups: [""], resources: ["pods"], verbs: LW },
          { apiGroups: [""], resources: ["events"], verbs: LW },
        ],
      },
    ]);
    expect(plan.permissions.map(describePermission)).toStrictEqual([
      "get /livez",
      "get /metrics",
      "get leases.coordination.k8s.io/kube-observer in ops",
      "update leases.coordination.k8s.io/kube-observer in ops",
      "list events in team-a",
      "watch events in team-a",
      "list pods in team-a",
      "watch pods in team-a",
    ]);
    expect(plan.permissions.find((p) => p.nonResourceURL === "/metrics")?.neededBy).toStrictEqual(["rbac.extraRules[0]"]);
  });

  it("names everything after the ServiceAccount, from the config or the options", () => {
    const c = config([actor("pod")], { rbac: { serviceAccount: "observer", namespace: "ops", extraRules: [] } });
    const fromConfig = rbacManifests(planRbac(c, plugins, "c1"));
    expect(fromConfig.map((m) => [m.kind, m.metadata.name, m.metadata.namespace])).toStrictEqual([
      ["ServiceAccount", "observer", "ops"],
      ["ClusterRole", "observer", undefined],
      ["ClusterRoleBinding", "observer", undefined],
    ]);
    expect(fromConfig[2]).toMatchObject({
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "observer" },
      subjects: [{ kind: "ServiceAccount", name: "observer", namespace: "ops" }],
    });
    const overridden = rbacManifests(planRbac(c, plugins, "c1", { serviceAccount: "ko", namespace: "monitoring" }));
    expect(overridden[2]).toMatchObject({ metadata: { name: "ko" }, roleRef: { name: "ko" }, subjects: [{ name: "ko", namespace: "monitoring" }] });
  });

  it("refuses an actor whose plugin is not loaded", () => {
    expect(() => planRbac(config([actor("widget")]), plugins, "c1")).toThrow(/actors\[0\]: no resource plugin "widget"/);
  });

  it("needs a namespace provider when an actor observes every namespace", () => {
    const withoutProvider = new Map([...plugins].filter(([name]) => name !== "namespace"));
    expect(() => planRbac(config([actor("pod", "*", { topology: "namespace" })]), withoutProvider, "c1")).toThrow(/no loaded plugin provides namespaces/);
    expect(planRbac(config([actor("pod")]), withoutProvider, "c1").clusterRules).toHaveLength(1);
    expect(planRbac(config([actor("pod", "team-a")]), withoutProvider, "c1").namespaceRules).toHaveLength(1);
  });
});

describe("rbacYaml", () => {
  const actors = [actor("secret"), actor("pod", "team-a"), actor("deployment"), actor("node"), actor("configmap", "team-b"), actor("job")];
  const command = "kube-observer rbac --config x.dhall";

  it("is the same whatever the order of the actors", () => {
    const yaml = rbacYaml(planRbac(config(actors), plugins, "c1"), { command });
    for (const order of [[...actors].reverse(), [actors[3]!, actors[0]!, actors[5]!, actors[1]!, actors[4]!, actors[2]!]]) {
      expect(rbacYaml(planRbac(config(order), plugins, "c1"), { command })).toBe(yaml);
    }
  });

  it("is a header and valid YAML documents with nothing but list and watch", () => {
    const yaml = rbacYaml(planRbac(config(actors), plugins, "c1"), { command });
    expect(yaml.split("\n").slice(0, 3)).toStrictEqual([
      '# RBAC for kube-observer (cluster "c1"), generated by',
      `#   ${command}`,
      "# list and watch on what the actors observe, and nothing else; do not edit, regenerate.",
    ]);
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as { kind: string; rules?: Array<{ verbs: string[] }> });
    expect(docs.map((d) => d.kind)).toStrictEqual(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Role", "RoleBinding"]);
    const verbs = new Set(docs.flatMap((d) => d.rules ?? []).flatMap((r) => r.verbs));
    expect([...verbs].sort()).toStrictEqual(LW);
    expect(docs[1]).toStrictEqual({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "kube-observer", labels: { "app.kubernetes.io/name": "kube-observer" } },
      rules: [
        { apiGroups: [""], resources: ["nodes", "secrets"], verbs: LW },
        { apiGroups: ["apps"], resources: ["deployments"], verbs: LW },
        { apiGroups: ["batch"], resources: ["jobs"], verbs: LW },
      ],
    });
  });

  it("has no ClusterRole when nothing is cluster-wide", () => {
    const yaml = rbacYaml(planRbac(config([actor("pod", "team-a")]), plugins, "c1"), { command });
    expect(yaml).not.toContain("ClusterRole");
  });

  it("as Helm values: the same rules, cluster-wide and per namespace, without names (the chart names them)", () => {
    const plan = planRbac(config(actors), plugins, "c1");
    const yaml = rbacHelmValues(plan, { command: `${command} --format helm-values` });
    expect(yaml.split("\n").slice(0, 2)).toStrictEqual([
      '# Helm values: the RBAC for kube-observer (cluster "c1"), generated by',
      `#   ${command} --format helm-values`,
    ]);
    const values = parse(yaml) as Record<string, unknown>;
    expect(values).toStrictEqual({ rbac: { clusterRules: plan.clusterRules, namespaceRules: plan.namespaceRules } });
    expect(plan.namespaceRules.length).toBeGreaterThan(0);
    expect(yaml).not.toMatch(/ServiceAccount|kube-observer\n|name:/);
  });
});
