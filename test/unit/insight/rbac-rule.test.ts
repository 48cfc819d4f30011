// The RBAC authorizer's matching, rule by rule, on rules read back from the canonical text
// the graph keeps (the same function writes it: plugins/_shared/rbac.ts).
import { describe, expect, it } from "vitest";
import { ruleText } from "../../../plugins/_shared/rbac.js";
import { parseRuleText, ruleAllows, type AccessRequest, type PolicyRule } from "../../../core/insight/rbac-rule.js";

const rule = (r: Partial<PolicyRule>): PolicyRule => ({ apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [], verbs: [], ...r });
const req = (r: Partial<Extract<AccessRequest, { kind: "resource" }>>): AccessRequest => ({
  kind: "resource",
  verb: "get",
  group: "",
  resource: "secrets",
  subresource: "",
  namespace: "ns",
  name: "",
  ...r,
});
const url = (verb: string, path: string): AccessRequest => ({ kind: "nonResource", verb, path });

describe("parseRuleText", () => {
  it("reads back every rule ruleText writes, the core group included", () => {
    const rules = [
      rule({ apiGroups: ["", "apps"], resources: ["pods", "secrets"], verbs: ["get", "list"] }),
      rule({ apiGroups: ["*"], resources: ["*/scale", "pods/exec"], resourceNames: ["a", "b"], verbs: ["*"] }),
      rule({ nonResourceURLs: ["/healthz", "/logs/*"], verbs: ["get"] }),
      rule({ apiGroups: [""], resources: ["pods"], verbs: [] }),
    ];
    for (const r of rules) expect(parseRuleText(ruleText(r))).toEqual(r);
  });

  it("refuses what is not a rule text", () => {
    for (const text of ["", "verbs=get", "apiGroups=[] resources=[pods]", "verbs=[get] verbs=[list]", "color=[red] verbs=[get]", "verbs=[get] trailing"]) {
      expect(parseRuleText(text), text).toBeNull();
    }
  });
});

describe("ruleAllows", () => {
  it("matches verbs, groups and resources exactly or by *", () => {
    const r = rule({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] });
    expect(ruleAllows(r, req({}))).toBe(true);
    expect(ruleAllows(r, req({ verb: "list" }))).toBe(false);
    expect(ruleAllows(r, req({ group: "apps" }))).toBe(false);
    expect(ruleAllows(r, req({ resource: "configmaps" }))).toBe(false);
    expect(ruleAllows(rule({ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }), req({ verb: "escalate", group: "x.example", resource: "widgets" }))).toBe(
      true,
    );
    // A request for verb "*" is only granted by "*" verbs.
    expect(ruleAllows(r, req({ verb: "*" }))).toBe(false);
  });

  it("matches a subresource only by its own name, */sub or *", () => {
    const plain = rule({ apiGroups: [""], resources: ["pods"], verbs: ["create", "get"] });
    expect(ruleAllows(plain, req({ verb: "create", resource: "pods", subresource: "exec" }))).toBe(false);
    expect(ruleAllows(rule({ ...plain, resources: ["pods/exec"] }), req({ verb: "create", resource: "pods", subresource: "exec" }))).toBe(true);
    expect(ruleAllows(rule({ ...plain, resources: ["pods/exec"] }), req({ verb: "create", resource: "pods" }))).toBe(false);
    expect(ruleAllows(rule({ ...plain, resources: ["*/exec"] }), req({ verb: "create", resource: "pods", subresource: "exec" }))).toBe(true);
    expect(ruleAllows(rule({ ...plain, resources: ["*/exec"] }), req({ verb: "create", resource: "pods", subresource: "log" }))).toBe(false);
    expect(ruleAllows(rule({ ...plain, resources: ["*"] }), req({ verb: "create", resource: "pods", subresource: "exec" }))).toBe(true);
  });

  it("grants named requests only when the rule has resourceNames", () => {
    const named = rule({ apiGroups: [""], resources: ["secrets"], resourceNames: ["a"], verbs: ["get", "list"] });
    expect(ruleAllows(named, req({ name: "a" }))).toBe(true);
    expect(ruleAllows(named, req({ name: "b" }))).toBe(false);
    expect(ruleAllows(named, req({ verb: "list" }))).toBe(false);
  });

  it("matches non-resource URLs exactly, by prefix*, or by *, and never a resource rule", () => {
    const r = rule({ nonResourceURLs: ["/healthz", "/logs/*"], verbs: ["get"] });
    expect(ruleAllows(r, url("get", "/healthz"))).toBe(true);
    expect(ruleAllows(r, url("get", "/healthz/etcd"))).toBe(false);
    expect(ruleAllows(r, url("get", "/logs/"))).toBe(true);
    expect(ruleAllows(r, url("get", "/logs/kube.log"))).toBe(true);
    expect(ruleAllows(r, url("post", "/healthz"))).toBe(false);
    expect(ruleAllows(rule({ nonResourceURLs: ["*"], verbs: ["get"] }), url("get", "/anything"))).toBe(true);
    expect(ruleAllows(rule({ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }), url("get", "/healthz"))).toBe(false);
  });
});
