// Which derivation scopes a change affects: only what the change can alter.
import { describe, expect, it } from "vitest";
import type { ExportLine } from "../../../core/graph/model.js";
import { affectedScopes, newMirror } from "../../../core/insight/attack/derived-stage.js";

const node = (label: string, ns: string | null, name: string, extra: Record<string, unknown> = {}): ExportLine => ({
  type: "node",
  labels: [label],
  key: ns ? `c/${ns}/${label}/${name}` : `c/${label}/${name}`,
  properties: { name, ...(ns ? { namespace: ns } : {}), observed: true, ...extra },
});
const edge = (rel: string, from: string, to: string, owner = from): ExportLine => ({ type: "edge", rel, from, to, properties: { owner } });

const mirror = newMirror("c").load([
  node("ServiceAccount", "a", "web"),
  node("Pod", "a", "p1"),
  node("Node", null, "n1"),
  node("RoleBinding", "b", "uses-web"),
  node("RoleBinding", "d", "all-accounts"),
  node("Group", null, "system:serviceaccounts:a", { observed: false }),
  edge("RUNS_AS", "c/a/Pod/p1", "c/a/ServiceAccount/web"),
  edge("SCHEDULED_ON", "c/a/Pod/p1", "c/Node/n1"),
  edge("SUBJECT", "c/b/RoleBinding/uses-web", "c/a/ServiceAccount/web"),
  edge("SUBJECT", "c/d/RoleBinding/all-accounts", "c/Group/system:serviceaccounts:a"),
]);
const plain = (s: ReturnType<typeof affectedScopes>) => ({ ...s, namespaces: [...s.namespaces].sort(), pods: [...s.pods].sort(), nodes: [...s.nodes].sort() });

describe("affectedScopes", () => {
  it("a Role, RoleBinding or Secret: its namespace", () => {
    expect(plain(affectedScopes(mirror, ["c/x/RoleBinding/r", "c/y/Secret/s", "c/z/Role/q"]))).toEqual({
      all: false,
      cluster: false,
      namespaces: ["x", "y", "z"],
      pods: [],
      nodes: [],
    });
  });
  it("a pod: its namespace, itself and its node", () => {
    expect(plain(affectedScopes(mirror, ["c/a/Pod/p1"]))).toEqual({
      all: false,
      cluster: false,
      namespaces: ["a"],
      pods: ["c/a/Pod/p1"],
      nodes: ["c/Node/n1"],
    });
  });
  it("an account: its namespace, where bindings name it or its groups, the cluster's, its pods and their nodes", () => {
    expect(plain(affectedScopes(mirror, ["c/a/ServiceAccount/web"]))).toEqual({
      all: false,
      cluster: true,
      namespaces: ["a", "b", "d"],
      pods: ["c/a/Pod/p1"],
      nodes: ["c/Node/n1"],
    });
  });
  it("a node: itself and its pods; a ClusterRole or ClusterRoleBinding: everything", () => {
    expect(plain(affectedScopes(mirror, ["c/Node/n1"]))).toEqual({ all: false, cluster: false, namespaces: [], pods: ["c/a/Pod/p1"], nodes: ["c/Node/n1"] });
    expect(affectedScopes(mirror, ["c/ClusterRoleBinding/x"]).all).toBe(true);
    expect(affectedScopes(mirror, ["c/ClusterRole/x"]).all).toBe(true);
  });
});
