// who-can over a hand-made RBAC graph: where a binding grants, group membership of
// ServiceAccounts, placeholders, and what runs as the accounts.
import { describe, expect, it } from "vitest";
import type { ExportLine } from "../../../core/graph/model.js";
import { indexRbac } from "../../../core/insight/rbac-index.js";
import { parseAccessRequest } from "../../../core/insight/access-request.js";
import { answerAllows, whoCan } from "../../../core/insight/who-can.js";

const node = (label: string, namespace: string | null, name: string, extra: Record<string, unknown> = {}): ExportLine => ({
  type: "node",
  labels: [label],
  key: namespace ? `c/${namespace}/${label}/${name}` : `c/${label}/${name}`,
  properties: { name, ...(namespace ? { namespace } : {}), observed: true, ...extra },
});
const edge = (rel: string, from: string, to: string, properties: Record<string, unknown> = {}): ExportLine => ({ type: "edge", rel, from, to, properties });

const graph: ExportLine[] = [
  node("Role", "a", "reader", { rules: ['apiGroups=[""] resources=[secrets] resourceNames=[] verbs=[get]'] }),
  node("ClusterRole", null, "exec", { rules: ['apiGroups=[""] resources=[pods/exec] resourceNames=[] verbs=[create]'] }),
  node("ClusterRole", null, "broken", { rules: ["not a rule", 'apiGroups=[""] resources=[secrets] resourceNames=[] verbs=[list]'] }),
  node("RoleBinding", "a", "reader"),
  node("RoleBinding", "b", "exec-in-b"),
  node("ClusterRoleBinding", null, "list-all"),
  node("ServiceAccount", "a", "web"),
  node("ServiceAccount", "a", "idle"),
  node("ServiceAccount", "b", "ops"),
  node("ServiceAccount", "a", "ghost", { observed: false }),
  node("User", null, "alice", { observed: false }),
  node("Group", null, "system:serviceaccounts:a", { observed: false }),
  node("Group", null, "auditors", { observed: false }),
  edge("GRANTS", "c/a/RoleBinding/reader", "c/a/Role/reader", { grantsIn: "a" }),
  edge("SUBJECT", "c/a/RoleBinding/reader", "c/a/ServiceAccount/web"),
  edge("SUBJECT", "c/a/RoleBinding/reader", "c/a/ServiceAccount/ghost"),
  edge("GRANTS", "c/b/RoleBinding/exec-in-b", "c/ClusterRole/exec", { grantsIn: "b" }),
  edge("SUBJECT", "c/b/RoleBinding/exec-in-b", "c/Group/system:serviceaccounts:a"),
  edge("SUBJECT", "c/b/RoleBinding/exec-in-b", "c/User/alice"),
  edge("GRANTS", "c/ClusterRoleBinding/list-all", "c/ClusterRole/broken", { grantsIn: "*" }),
  edge("SUBJECT", "c/ClusterRoleBinding/list-all", "c/Group/auditors"),
  edge("RUNS_AS", "c/a/Pod/web-1", "c/a/ServiceAccount/web"),
  edge("RUNS_AS", "c/a/Deployment/web", "c/a/ServiceAccount/web"),
  edge("RUNS_AS", "c/b/Pod/ops-1", "c/b/ServiceAccount/ops"),
  // Another cluster's objects are not this one's.
  node("ClusterRoleBinding", null, "x"),
  { ...node("ClusterRoleBinding", null, "other"), key: "d/ClusterRoleBinding/other" },
  edge("GRANTS", "d/ClusterRoleBinding/other", "c/ClusterRole/exec", { grantsIn: "*" }),
  edge("SUBJECT", "d/ClusterRoleBinding/other", "c/User/alice"),
];
const index = indexRbac(graph, "c");
const keys = (refs: Array<{ key: string }>): string[] => refs.map((r) => r.key);

describe("who-can", () => {
  it("grants a RoleBinding's rules in its namespace only", () => {
    const inA = whoCan(index, parseAccessRequest({ verb: "get", resource: "secrets", namespace: "a" }, new Map()).request);
    expect(keys(inA.subjects.map((s) => s.subject))).toEqual(["c/a/ServiceAccount/ghost", "c/a/ServiceAccount/web"]);
    expect(inA.subjects[1]!.grants[0]!.rules).toEqual(['apiGroups=[""] resources=[secrets] resourceNames=[] verbs=[get]']);
    expect(inA.subjects[0]!.subject.observed).toBe(false);
    expect(keys(inA.runners.map((r) => r.runner))).toEqual(["c/a/Deployment/web", "c/a/Pod/web-1"]);
    const inB = whoCan(index, parseAccessRequest({ verb: "get", resource: "secrets", namespace: "b" }, new Map()).request);
    expect(inB.subjects).toEqual([]);
    const clusterWide = whoCan(index, parseAccessRequest({ verb: "get", resource: "secrets" }, new Map()).request);
    expect(clusterWide.subjects).toEqual([]);
  });

  it("expands system:serviceaccounts:NS to the observed accounts of NS", () => {
    const exec = whoCan(index, parseAccessRequest({ verb: "create", resource: "pods/exec", namespace: "b" }, new Map()).request);
    expect(keys(exec.subjects.map((s) => s.subject))).toEqual(["c/Group/system:serviceaccounts:a", "c/User/alice"]);
    expect(exec.serviceAccounts.map((a) => [a.account.key, a.direct, a.groups])).toEqual([
      ["c/a/ServiceAccount/idle", false, ["system:serviceaccounts:a"]],
      ["c/a/ServiceAccount/web", false, ["system:serviceaccounts:a"]],
    ]);
    expect(answerAllows(exec, "system:serviceaccount:a:idle", ["system:serviceaccounts", "system:serviceaccounts:a"])).toBe(true);
    expect(answerAllows(exec, "system:serviceaccount:b:ops", ["system:serviceaccounts", "system:serviceaccounts:b"])).toBe(false);
    expect(answerAllows(exec, "alice", [])).toBe(true);
  });

  it("uses the rules that parse, and reports the rest", () => {
    expect(index.unreadableRules).toEqual([{ role: "c/ClusterRole/broken", text: "not a rule" }]);
    const list = whoCan(index, parseAccessRequest({ verb: "list", resource: "secrets" }, new Map()).request);
    expect(keys(list.subjects.map((s) => s.subject))).toEqual(["c/Group/auditors"]);
    expect(answerAllows(list, "bob", ["auditors"])).toBe(true);
    expect(answerAllows(list, "bob", [])).toBe(false);
  });
});

describe("parseAccessRequest", () => {
  const groups = new Map([
    ["deployments", "apps"],
    ["pods", ""],
  ]);
  it("reads groups, subresources and URLs the way kubectl writes them", () => {
    expect(parseAccessRequest({ verb: "get", resource: "deployments" }, groups)).toMatchObject({
      request: { group: "apps", resource: "deployments" },
      assumedCoreGroup: false,
    });
    expect(parseAccessRequest({ verb: "get", resource: "widgets.x.example/status" }, groups).request).toMatchObject({
      group: "x.example",
      resource: "widgets",
      subresource: "status",
    });
    expect(parseAccessRequest({ verb: "get", resource: "frobs" }, groups)).toMatchObject({ request: { group: "" }, assumedCoreGroup: true });
    expect(parseAccessRequest({ verb: "get", resource: "/metrics" }, groups).request).toEqual({ kind: "nonResource", verb: "get", path: "/metrics" });
  });
  it("refuses what it cannot read, saying what", () => {
    expect(() => parseAccessRequest({ verb: "get", resource: "pods/exec", subresource: "log" }, groups)).toThrow(/given twice/);
    expect(() => parseAccessRequest({ verb: "get", resource: "a/b/c" }, groups)).toThrow(/PLURAL\[\.GROUP\]/);
    expect(() => parseAccessRequest({ verb: "get", resource: "/metrics", namespace: "x" }, groups)).toThrow(/non-resource URL/);
  });
});
