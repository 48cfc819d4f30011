// who-can against the real apiserver's own answers. A fixture with tricky RBAC (wildcards
// in verbs, groups and resources, resourceNames, subresources and */scale, an aggregated
// ClusterRole made by kube-controller-manager, RoleBindings granting ClusterRoles, a
// ServiceAccount bound as a User, the groups system:serviceaccounts[:NS] and
// system:authenticated) is observed into the graph; then, for a few hundred questions,
// every identity who-can names, and every identity of the fixture, is put to the
// apiserver as a SubjectAccessReview. who-can must say yes exactly where the apiserver does.
// Both sinks must give the same answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { readRbacIndex } from "../../../core/insight/rbac-index.js";
import { describeRequest, type AccessRequest } from "../../../core/insight/rbac-rule.js";
import { answerAllows, serviceAccountGroups, whoCan, type WhoCanAnswer } from "../../../core/insight/who-can.js";
import { parseAccessRequest } from "../../../core/insight/access-request.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, forEachLimited } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";
import { randomBytes } from "node:crypto";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const authz = kc.makeApiClient(k8s.AuthorizationV1Api);

const id = randomBytes(4).toString("hex");
const A = `whocan-a-${id}`;
const B = `whocan-b-${id}`;
const G = `g-${id}.example`;
const TEAM = `ko-${id}-team`;
const AGGREGATE_LABEL = `ko.test/whocan-${id}`;
const cr = (name: string): string => `ko-${id}-${name}`;
const CLUSTER_ROLES = ["gadget-all", "any-group-widgets", "part", "agg", "gizmo-lister", "watch-all"].map(cr);
const CLUSTER_BINDINGS = ["deleters", "team", "gizmo-lister", "watch-all"].map(cr);
const users = { alice: `alice-${id}`, bob: `bob-${id}`, carol: `carol-${id}` };

type Rule = k8s.V1PolicyRule;
const ref = (kind: "Role" | "ClusterRole", name: string): k8s.V1RoleRef => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });
const sa = (name: string, namespace?: string): k8s.RbacV1Subject => ({ kind: "ServiceAccount", name, ...(namespace ? { namespace } : {}) });
const group = (name: string): k8s.RbacV1Subject => ({ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name });
const user = (name: string): k8s.RbacV1Subject => ({ kind: "User", apiGroup: "rbac.authorization.k8s.io", name });

async function role(namespace: string, name: string, rules: Rule[], subjects: k8s.RbacV1Subject[]): Promise<void> {
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name }, roleRef: ref("Role", name), subjects } });
}

async function createFixture(): Promise<void> {
  await createNamespace(core, A);
  await createNamespace(core, B);
  for (const [namespace, name] of [
    [A, "alpha"],
    [A, "beta"],
    [A, "gamma"],
    [B, "delta"],
  ] as const) {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  }
  await role(A, "widget-reader", [{ apiGroups: [G], resources: ["widgets"], verbs: ["get", "list", "watch"] }], [sa("alpha")]);
  // A ServiceAccount bound by its user name.
  await role(
    A,
    "named",
    [{ apiGroups: [G], resources: ["widgets"], resourceNames: ["w1"], verbs: ["get", "update", "patch"] }],
    [user(`system:serviceaccount:${A}:beta`)],
  );
  await role(A, "sub", [{ apiGroups: [G], resources: ["widgets/status", "*/scale"], verbs: ["patch", "update"] }], [sa("gamma")]);
  await role(A, "secret-reader", [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }], [sa("gamma")]);
  // In B, for a ServiceAccount of A, and only for a named object.
  await role(B, "named-anything", [{ apiGroups: [G], resources: ["*"], resourceNames: ["w1"], verbs: ["get"] }], [sa("alpha", A)]);

  await rbac.createClusterRole({ body: { metadata: { name: cr("gadget-all") }, rules: [{ apiGroups: [G], resources: ["gadgets"], verbs: ["*"] }] } });
  await rbac.createNamespacedRoleBinding({
    namespace: B,
    body: { metadata: { name: "a-accounts" }, roleRef: ref("ClusterRole", cr("gadget-all")), subjects: [group(`system:serviceaccounts:${A}`)] },
  });
  await rbac.createClusterRole({
    body: { metadata: { name: cr("any-group-widgets") }, rules: [{ apiGroups: ["*"], resources: ["widgets"], verbs: ["delete"] }] },
  });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: cr("deleters") }, roleRef: ref("ClusterRole", cr("any-group-widgets")), subjects: [user(users.alice), sa("delta", B)] },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: cr("part"), labels: { [AGGREGATE_LABEL]: "true" } },
      rules: [
        { apiGroups: [G], resources: ["gizmos"], verbs: ["create"] },
        { apiGroups: [""], resources: ["pods/exec"], verbs: ["create", "get"] },
      ],
    },
  });
  await rbac.createClusterRole({
    body: { metadata: { name: cr("agg") }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [AGGREGATE_LABEL]: "true" } }] } },
  });
  await rbac.createClusterRoleBinding({ body: { metadata: { name: cr("team") }, roleRef: ref("ClusterRole", cr("agg")), subjects: [group(TEAM)] } });
  await rbac.createNamespacedRoleBinding({
    namespace: B,
    body: { metadata: { name: "delta-agg" }, roleRef: ref("ClusterRole", cr("agg")), subjects: [sa("delta")] },
  });
  await rbac.createClusterRole({ body: { metadata: { name: cr("gizmo-lister") }, rules: [{ apiGroups: [G], resources: ["gizmos"], verbs: ["list"] }] } });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: cr("gizmo-lister") }, roleRef: ref("ClusterRole", cr("gizmo-lister")), subjects: [group("system:serviceaccounts")] },
  });
  await rbac.createClusterRole({ body: { metadata: { name: cr("watch-all") }, rules: [{ apiGroups: [G], resources: ["*"], verbs: ["watch"] }] } });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: cr("watch-all") }, roleRef: ref("ClusterRole", cr("watch-all")), subjects: [group("system:authenticated")] },
  });

  await core.createNamespacedPod({
    namespace: A,
    body: { metadata: { name: "alpha-pod" }, spec: { serviceAccountName: "alpha", containers: [{ name: "c", image: "busybox" }] } },
  });
  await apps.createNamespacedDeployment({
    namespace: A,
    body: {
      metadata: { name: "beta-app" },
      spec: {
        selector: { matchLabels: { app: "beta" } },
        template: { metadata: { labels: { app: "beta" } }, spec: { serviceAccountName: "beta", containers: [{ name: "c", image: "busybox" }] } },
      },
    },
  });
  // kube-controller-manager's "default" accounts are members of the groups too.
  for (const namespace of [A, B]) {
    await eventually(
      `the default ServiceAccount of ${namespace}`,
      () => core.readNamespacedServiceAccount({ namespace, name: "default" }).catch(() => undefined),
      60_000,
    );
  }
  await eventually(
    "the aggregated rules",
    async () => (((await rbac.readClusterRole({ name: cr("agg") })).rules ?? []).length === 2 ? true : undefined),
    60_000,
  );
}

beforeAll(createFixture, 120_000);

afterAll(async () => {
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
  await deleteNamespaces(core, [A, B]);
  await Promise.all([
    ...CLUSTER_BINDINGS.map((name) => quiet(rbac.deleteClusterRoleBinding({ name }))),
    ...CLUSTER_ROLES.map((name) => quiet(rbac.deleteClusterRole({ name }))),
  ]);
});

const actors = [
  ...["role", "rolebinding", "serviceaccount", "pod", "deployment"].flatMap((resource) => [A, B].map((namespace) => ({ resource, namespace }))),
  { resource: "clusterrole" },
  { resource: "clusterrolebinding" },
];

// The questions: every verb on every resource of the fixture's API group (with
// subresources), two core ones, in A, in B and cluster-wide, unnamed and, for verbs that
// name an object, named w1 and w2.
const RESOURCES = [`widgets.${G}`, `gadgets.${G}`, `gizmos.${G}`, `widgets.${G}/status`, `widgets.${G}/scale`, `gadgets.${G}/scale`, "secrets", "pods/exec"];
const VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "*"];
const NAMED_VERBS = new Set(["get", "update", "patch", "delete"]);
const questions: AccessRequest[] = [];
for (const resource of RESOURCES) {
  for (const verb of VERBS) {
    for (const namespace of [A, B, undefined]) {
      for (const name of NAMED_VERBS.has(verb) ? [undefined, "w1", "w2"] : [undefined]) {
        const words = { verb, resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
        questions.push(parseAccessRequest(words, new Map()).request);
      }
    }
  }
}

interface Identity {
  user: string;
  groups: string[];
}
const accountIdentity = (namespace: string, name: string): Identity => ({
  user: `system:serviceaccount:${namespace}:${name}`,
  groups: serviceAccountGroups(namespace),
});
const FIXTURE_IDENTITIES: Identity[] = [
  accountIdentity(A, "alpha"),
  accountIdentity(A, "beta"),
  accountIdentity(A, "gamma"),
  accountIdentity(B, "delta"),
  { user: users.alice, groups: ["system:authenticated"] },
  { user: users.bob, groups: [TEAM, "system:authenticated"] },
  { user: users.carol, groups: [] },
];

/** Everyone an answer names, as an identity the apiserver can be asked about. */
function namedIdentities(answer: WhoCanAnswer): Identity[] {
  return answer.subjects.map(({ subject }) => {
    if (subject.label === "ServiceAccount") return accountIdentity(subject.namespace!, subject.name);
    if (subject.label === "Group") return { user: `ko-probe-${id}`, groups: [subject.name] };
    return { user: subject.name, groups: [] };
  });
}

async function apiserverAllows(identity: Identity, request: AccessRequest): Promise<boolean> {
  const spec: k8s.V1SubjectAccessReviewSpec = { user: identity.user, groups: identity.groups };
  if (request.kind === "nonResource") spec.nonResourceAttributes = { verb: request.verb, path: request.path };
  else
    spec.resourceAttributes = {
      verb: request.verb,
      group: request.group,
      resource: request.resource,
      subresource: request.subresource,
      ...(request.namespace ? { namespace: request.namespace } : {}),
      ...(request.name ? { name: request.name } : {}),
    };
  const review = await authz.createSubjectAccessReview({ body: { spec } });
  return review.status?.allowed === true;
}

const answers = new Map<SinkKind, WhoCanAnswer[]>();

describe.each(["sqlite", "neo4j"] as const)("who-can on the %s sink", (sink: SinkKind) => {
  it("reads the RBAC the agent observed, and gives the answers checked by hand", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    const ws = workspace(sink, actors);
    await ws.runOnce();
    const graph = await ws.openSink();
    let computed: WhoCanAnswer[];
    try {
      const index = await readRbacIndex(graph, "local");
      expect(index.unreadableRules).toEqual([]);
      computed = questions.map((q) => whoCan(index, q));
    } finally {
      await graph.close();
    }
    answers.set(sink, computed);

    // Hand-checked answers first, so that a wrong fixture cannot pass silently.
    const answerTo = (verb: string, resource: string, namespace?: string, name?: string): WhoCanAnswer =>
      computed[
        questions.findIndex(
          (q) =>
            q.kind === "resource" &&
            describeRequest(q) ===
              describeRequest(parseAccessRequest({ verb, resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) }, new Map()).request),
        )
      ]!;
    // The fixture's accounts (bootstrap bindings name kube-system's controllers too).
    const accounts = (a: WhoCanAnswer): string[] =>
      a.serviceAccounts.filter((s) => s.account.namespace === A || s.account.namespace === B).map((s) => `${s.account.namespace}/${s.account.name}`);
    expect(accounts(answerTo("get", `widgets.${G}`, A))).toEqual([`${A}/alpha`]);
    expect(accounts(answerTo("get", `widgets.${G}`, A, "w1"))).toEqual([`${A}/alpha`, `${A}/beta`]);
    expect(accounts(answerTo("patch", `gadgets.${G}/scale`, A))).toEqual([`${A}/gamma`]);
    expect(accounts(answerTo("delete", `gadgets.${G}`, B))).toEqual([`${A}/alpha`, `${A}/beta`, `${A}/default`, `${A}/gamma`]);
    expect(accounts(answerTo("create", "pods/exec", B))).toEqual([`${B}/delta`]);
    expect(answerTo("create", "pods/exec", A).subjects.map((s) => s.subject.name)).toContain(TEAM);
    expect(accounts(answerTo("list", `gizmos.${G}`))).toEqual([`${A}/alpha`, `${A}/beta`, `${A}/default`, `${A}/gamma`, `${B}/default`, `${B}/delta`]);
    expect(answerTo("get", `widgets.${G}`, A).runners.map((r) => r.runner.key)).toEqual([`local/${A}/Pod/alpha-pod`]);
    expect(answerTo("get", `widgets.${G}`, A, "w1").runners.map((r) => r.runner.key)).toContain(`local/${A}/Deployment/beta-app`);
  }, 120_000);
});

describe("who-can against the apiserver", () => {
  it("answers every question exactly as the apiserver's SubjectAccessReview does (the SQLite sink's answers; Neo4j's must equal them)", async () => {
    const computed = answers.get("sqlite")!;
    expect(computed).toHaveLength(questions.length);
    const disagreements: string[] = [];
    let reviews = 0;
    await forEachLimited(questions, 8, async (question, i) => {
      const answer = computed[i]!;
      const identities = [...FIXTURE_IDENTITIES, ...namedIdentities(answer)];
      for (const identity of identities) {
        const expected = await apiserverAllows(identity, question);
        reviews++;
        const said = answerAllows(answer, identity.user, identity.groups);
        if (said !== expected)
          disagreements.push(`${describeRequest(question)} for ${identity.user} [${identity.groups.join(",")}]: who-can ${said}, apiserver ${expected}`);
      }
    });
    expect(disagreements).toEqual([]);
    expect(questions.length).toBeGreaterThan(250);
    expect(reviews).toBeGreaterThan(questions.length * FIXTURE_IDENTITIES.length);
  }, 120_000);

  it("gives both sinks' answers alike", () => {
    expect(answers.get("neo4j")).toEqual(answers.get("sqlite"));
  });
});

describe("who-can, the command", () => {
  it("prints the subjects, the accounts, the rule and what runs as them; --json is the same answer; bad input is named", async () => {
    const ws = workspace("sqlite", actors);
    await ws.runOnce();
    const text = new AgentProcess(["who-can", "get", `widgets.${G}`, "-n", A, "--name", "w1", "--config", ws.config]);
    expect((await text.exited).code).toBe(0);
    expect(text.stdout).toContain(`who can get widgets.${G} w1 in namespace ${A}:`);
    expect(text.stdout).toContain(`ServiceAccount ${A}/beta`);
    expect(text.stdout).toContain(
      `RoleBinding ${A}/named → Role ${A}/named (in ${A}): apiGroups=[${G}] resources=[widgets] resourceNames=[w1] verbs=[get,patch,update]`,
    );
    expect(text.stdout).toContain(`Deployment ${A}/beta-app (as ${A}/beta)`);

    const json = new AgentProcess(["who-can", "get", `widgets.${G}/status`, "-n", A, "--config", ws.config, "--json"]);
    expect((await json.exited).code).toBe(0);
    const parsed = JSON.parse(json.stdout) as WhoCanAnswer;
    expect(parsed.request).toEqual({ kind: "resource", verb: "get", group: G, resource: "widgets", subresource: "status", namespace: A, name: "" });

    const bad = new AgentProcess(["who-can", "get", "pods/exec/x", "--config", ws.config]);
    expect((await bad.exited).code).toBe(1);
    expect(bad.stderr).toContain('cannot read resource "pods/exec/x"');
  }, 120_000);
});
