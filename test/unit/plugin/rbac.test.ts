// RBAC: Role/ClusterRole rules as canonical text with the auditor's flags, ClusterRole
// aggregation as selectors, and bindings as GRANTS and SUBJECT edges.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import clusterrole from "../../../plugins/clusterrole.js";
import clusterrolebinding from "../../../plugins/clusterrolebinding.js";
import role from "../../../plugins/role.js";
import rolebinding from "../../../plugins/rolebinding.js";
import { escalates, isWildcard, readsSecrets, reduceRules, ruleText, selectorText, type ReducedRule } from "../../../plugins/_shared/rbac.js";
import { META_PROPERTIES, apiMetadata, graphContext, graphOf, reduceAsObserved } from "./helpers.js";

const rule = (r: Partial<ReducedRule>): ReducedRule => ({ apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [], verbs: [], ...r });
const ref = (label: string, namespace: string | null, name: string) => ({
  label,
  key: namespace ? `prod/${namespace}/${label}/${name}` : `prod/${label}/${name}`,
  properties: namespace ? { cluster: "prod", name, namespace } : { cluster: "prod", name },
});

describe("rule text", () => {
  it('sorts and de-duplicates each list, keeps rule order, writes the core group as ""', () => {
    const reduced = reduceAsObserved(role, {
      metadata: apiMetadata("mixed", "shop"),
      rules: [
        { apiGroups: ["apps", ""], resources: ["secrets", "deployments", "secrets"], verbs: ["watch", "list", "get"] },
        { apiGroups: [""], resources: ["configmaps"], resourceNames: ["b", "a"], verbs: ["update"] },
      ],
    });
    expect(reduced.rules.map(ruleText)).toStrictEqual([
      'apiGroups=["",apps] resources=[deployments,secrets] resourceNames=[] verbs=[get,list,watch]',
      'apiGroups=[""] resources=[configmaps] resourceNames=[a,b] verbs=[update]',
    ]);
  });

  it("a non-resource rule shows only its URLs and verbs; a mixed one (refused by the API) shows everything", () => {
    expect(reduceRules({ rules: [{ nonResourceURLs: ["/metrics", "/healthz"], verbs: ["get"] }] }).map(ruleText)).toStrictEqual([
      "nonResourceURLs=[/healthz,/metrics] verbs=[get]",
    ]);
    expect(ruleText(rule({ apiGroups: [""], resources: ["pods"], nonResourceURLs: ["/x"], verbs: ["get"] }))).toBe(
      'apiGroups=[""] resources=[pods] resourceNames=[] nonResourceURLs=[/x] verbs=[get]',
    );
    expect(ruleText(rule({}))).toBe("apiGroups=[] resources=[] resourceNames=[] verbs=[]");
  });

  it("readsSecrets: a read verb (or *) on secrets (or *) in the core group (or *)", () => {
    expect(readsSecrets(rule({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }))).toBe(true);
    expect(readsSecrets(rule({ apiGroups: [""], resources: ["secrets"], resourceNames: ["one"], verbs: ["watch"] }))).toBe(true);
    expect(readsSecrets(rule({ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }))).toBe(true);
    expect(readsSecrets(rule({ apiGroups: [""], resources: ["*"], verbs: ["list"] }))).toBe(true);
    expect(readsSecrets(rule({ apiGroups: [""], resources: ["secrets"], verbs: ["create", "delete"] }))).toBe(false);
    expect(readsSecrets(rule({ apiGroups: ["example.com"], resources: ["secrets"], verbs: ["get"] }))).toBe(false);
    expect(readsSecrets(rule({ apiGroups: [""], resources: ["configmaps"], verbs: ["*"] }))).toBe(false);
  });

  it("wildcard: any * in verbs, resources or apiGroups", () => {
    expect(isWildcard(rule({ apiGroups: [""], resources: ["pods"], verbs: ["*"] }))).toBe(true);
    expect(isWildcard(rule({ apiGroups: ["*"], resources: ["pods"], verbs: ["get"] }))).toBe(true);
    expect(isWildcard(rule({ apiGroups: ["apps"], resources: ["deployments/*"], verbs: ["get"] }))).toBe(true);
    expect(isWildcard(rule({ apiGroups: [""], resources: ["pods"], verbs: ["get"] }))).toBe(false);
    expect(isWildcard(rule({ nonResourceURLs: ["/metrics/*"], verbs: ["get"] }))).toBe(false);
  });

  it("escalates: escalate, bind, impersonate, or * verbs on roles, users, groups, service accounts or *", () => {
    expect(escalates(rule({ apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind"] }))).toBe(true);
    expect(escalates(rule({ apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["escalate"] }))).toBe(true);
    expect(escalates(rule({ apiGroups: [""], resources: ["serviceaccounts"], verbs: ["impersonate"] }))).toBe(true);
    expect(escalates(rule({ apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["*"] }))).toBe(true);
    expect(escalates(rule({ apiGroups: ["apps"], resources: ["deployments"], verbs: ["*"] }))).toBe(false);
    expect(escalates(rule({ apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["get", "list"] }))).toBe(false);
  });

  it("selector text is Kubernetes' own", () => {
    expect(
      selectorText({
        matchLabels: { b: "2", a: "1" },
        matchExpressions: [
          { key: "tier", operator: "In", values: ["back", "front"] },
          { key: "env", operator: "NotIn", values: ["dev"] },
          { key: "owned", operator: "Exists" },
          { key: "legacy", operator: "DoesNotExist" },
        ],
      }),
    ).toBe("a=1,b=2,tier in (back,front),env notin (dev),owned,!legacy");
  });
});

describe("role plugin", () => {
  it("toGraph: rules and flags as properties; no edges (who holds it is in the bindings)", () => {
    const reader: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: apiMetadata("secret-reader", "shop"),
      rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list", "get"] }],
    };
    expect(graphOf(role, reader)).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        rules: ['apiGroups=[""] resources=[secrets] resourceNames=[] verbs=[get,list]'],
        readsSecrets: true,
        wildcard: false,
        escalates: false,
      },
    });
    expect(JSON.stringify(reduceAsObserved(role, reader))).not.toMatch(/CANARY/);
  });
});

describe("clusterrole plugin", () => {
  it("an aggregated ClusterRole: one AGGREGATES selector per clusterRoleSelector, matchExpressions included", () => {
    const monitoring: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: apiMetadata("monitoring", null),
      aggregationRule: {
        clusterRoleSelectors: [
          { matchLabels: { "rbac.example.com/aggregate-to-monitoring": "true" } },
          {
            matchExpressions: [
              { key: "rbac.example.com/tier", operator: "In", values: ["read", "metrics"] },
              { key: "rbac.example.com/deprecated", operator: "DoesNotExist" },
            ],
          },
        ],
      },
      // Written by kube-controller-manager from the aggregated roles.
      rules: [
        { nonResourceURLs: ["/metrics"], verbs: ["get"] },
        { apiGroups: [""], resources: ["pods", "services", "endpoints"], verbs: ["get", "list", "watch"] },
      ],
    };
    expect(graphOf(clusterrole, monitoring)).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        rules: ["nonResourceURLs=[/metrics] verbs=[get]", 'apiGroups=[""] resources=[endpoints,pods,services] resourceNames=[] verbs=[get,list,watch]'],
        readsSecrets: false,
        wildcard: false,
        escalates: false,
        aggregated: true,
        aggregationSelectors: ["rbac.example.com/aggregate-to-monitoring=true", "rbac.example.com/tier in (metrics,read),!rbac.example.com/deprecated"],
      },
      selectors: [
        {
          type: "AGGREGATES",
          label: "ClusterRole",
          namespace: null,
          matchLabels: { "rbac.example.com/aggregate-to-monitoring": "true" },
          matchExpressions: [],
        },
        {
          type: "AGGREGATES",
          label: "ClusterRole",
          namespace: null,
          matchLabels: {},
          matchExpressions: [
            { key: "rbac.example.com/tier", operator: "In", values: ["metrics", "read"] },
            { key: "rbac.example.com/deprecated", operator: "DoesNotExist" },
          ],
        },
      ],
    });
  });

  it("cluster-admin: wildcard, reads secrets, escalates; not aggregated, no selectors", () => {
    const admin: KubeObject = {
      metadata: apiMetadata("cluster-admin", null),
      rules: [
        { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
        { nonResourceURLs: ["*"], verbs: ["*"] },
      ],
    };
    expect(graphOf(clusterrole, admin)).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        rules: ["apiGroups=[*] resources=[*] resourceNames=[] verbs=[*]", "nonResourceURLs=[*] verbs=[*]"],
        readsSecrets: true,
        wildcard: true,
        escalates: true,
        aggregated: false,
        aggregationSelectors: [],
      },
      selectors: [],
    });
  });

  it("a selector with an operator the API would refuse is left out, not widened", () => {
    const odd = graphOf(clusterrole, {
      metadata: { name: "odd" },
      aggregationRule: {
        clusterRoleSelectors: [{ matchLabels: { a: "b" }, matchExpressions: [{ key: "x", operator: "Gt", values: ["1"] }] }, { matchLabels: { c: "d" } }],
      },
    });
    expect(odd.selectors).toStrictEqual([{ type: "AGGREGATES", label: "ClusterRole", namespace: null, matchLabels: { c: "d" }, matchExpressions: [] }]);
    expect(odd.properties).toMatchObject({ aggregated: true, aggregationSelectors: ["c=d"] });
  });
});

describe("rolebinding plugin", () => {
  it("GRANTS a Role in its namespace; SUBJECT for each subject, a ServiceAccount without namespace in the binding's", () => {
    const binding: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: apiMetadata("read-secrets", "shop"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
      subjects: [
        { kind: "ServiceAccount", name: "web" },
        { kind: "ServiceAccount", name: "backup", namespace: "ops" },
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "alice@example.com" },
        { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "shop-devs" },
      ],
    };
    expect(graphOf(rolebinding, binding)).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        roleRef: "Role/secret-reader",
        subjects: ["ServiceAccount:shop/web", "ServiceAccount:ops/backup", "User:alice@example.com", "Group:shop-devs"],
      },
      references: [
        ref("Role", "shop", "secret-reader"),
        ref("ServiceAccount", "shop", "web"),
        ref("ServiceAccount", "ops", "backup"),
        ref("User", null, "alice@example.com"),
        ref("Group", null, "shop-devs"),
      ],
      edges: [
        { type: "GRANTS", to: "prod/shop/Role/secret-reader", properties: { kind: "Role", grantsIn: "shop" } },
        { type: "SUBJECT", to: "prod/shop/ServiceAccount/web", properties: { kind: "ServiceAccount" } },
        { type: "SUBJECT", to: "prod/ops/ServiceAccount/backup", properties: { kind: "ServiceAccount" } },
        { type: "SUBJECT", to: "prod/User/alice@example.com", properties: { kind: "User" } },
        { type: "SUBJECT", to: "prod/Group/shop-devs", properties: { kind: "Group" } },
      ],
    });
  });

  it("GRANTS a ClusterRole (cluster-scoped node), the grant holding in the binding's namespace only", () => {
    const view: KubeObject = {
      metadata: apiMetadata("view", "shop"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      subjects: [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "system:serviceaccounts:shop" }],
    };
    const fragment = graphOf(rolebinding, view);
    expect(fragment.references).toStrictEqual([ref("ClusterRole", null, "view"), ref("Group", null, "system:serviceaccounts:shop")]);
    expect(fragment.edges).toStrictEqual([
      { type: "GRANTS", to: "prod/ClusterRole/view", properties: { kind: "ClusterRole", grantsIn: "shop" } },
      { type: "SUBJECT", to: "prod/Group/system:serviceaccounts:shop", properties: { kind: "Group" } },
    ]);
  });

  it("a User named system:serviceaccount:<ns>:<name> is that ServiceAccount", () => {
    const fragment = graphOf(rolebinding, {
      metadata: { name: "b", namespace: "shop" },
      roleRef: { kind: "Role", name: "r" },
      subjects: [{ kind: "User", name: "system:serviceaccount:ops:robot" }],
    });
    expect(fragment.edges?.[1]).toStrictEqual({ type: "SUBJECT", to: "prod/ops/ServiceAccount/robot", properties: { kind: "User" } });
    expect(fragment.references?.map((r) => r.key)).toStrictEqual(["prod/shop/Role/r", "prod/ops/ServiceAccount/robot"]);
  });

  it("a subject of an unknown kind is a property only", () => {
    const fragment = graphOf(rolebinding, {
      metadata: { name: "b", namespace: "shop" },
      roleRef: { kind: "Role", name: "r" },
      subjects: [{ kind: "Robot", name: "r2d2" }],
    });
    expect(fragment.edges?.map((e) => e.type)).toStrictEqual(["GRANTS"]);
    expect(fragment.properties?.subjects).toStrictEqual(["Robot:r2d2"]);
  });
});

describe("clusterrolebinding plugin", () => {
  it("GRANTS a ClusterRole everywhere (grantsIn *); a ServiceAccount subject must name its namespace", () => {
    const crb: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: apiMetadata("monitoring", null),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "monitoring" },
      subjects: [
        { kind: "ServiceAccount", name: "prometheus", namespace: "monitoring" },
        // Refused by the API server; no edge if one ever arrives.
        { kind: "ServiceAccount", name: "nowhere" },
        { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "system:authenticated" },
      ],
    };
    expect(graphOf(clusterrolebinding, crb)).toStrictEqual({
      properties: {
        ...META_PROPERTIES,
        roleRef: "ClusterRole/monitoring",
        subjects: ["ServiceAccount:monitoring/prometheus", "ServiceAccount:nowhere", "Group:system:authenticated"],
      },
      references: [ref("ClusterRole", null, "monitoring"), ref("ServiceAccount", "monitoring", "prometheus"), ref("Group", null, "system:authenticated")],
      edges: [
        { type: "GRANTS", to: "prod/ClusterRole/monitoring", properties: { kind: "ClusterRole", grantsIn: "*" } },
        { type: "SUBJECT", to: "prod/monitoring/ServiceAccount/prometheus", properties: { kind: "ServiceAccount" } },
        { type: "SUBJECT", to: "prod/Group/system:authenticated", properties: { kind: "Group" } },
      ],
    });
  });

  it("a roleRef to a Role (refused by the API) grants nothing", () => {
    const fragment = graphOf(clusterrolebinding, { metadata: { name: "bad" }, roleRef: { kind: "Role", name: "r" }, subjects: [] });
    expect(fragment.edges).toStrictEqual([]);
    expect(fragment.properties?.roleRef).toBe("Role/r");
  });

  it("user and group lookups find the placeholder nodes bindings point at", () => {
    const ctx = graphContext("ClusterRoleBinding", null, "x");
    const lookups = clusterrolebinding.graph!.lookups!;
    expect(lookups.user!.key("alice@example.com", { ...ctx, namespace: null })).toBe("prod/User/alice@example.com");
    expect(lookups.group!.key("system:masters", { ...ctx, namespace: null })).toBe("prod/Group/system:masters");
    expect(rolebinding.graph!.lookups).toBe(lookups);
  });
});
