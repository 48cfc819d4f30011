// One RBAC PolicyRule, read back from the canonical text a Role or ClusterRole node keeps
// (plugins/_shared/rbac.ts, ruleText), and the apiserver's RBAC authorizer's matching of
// a request against it: verbs, API groups, resources with subresources, resourceNames and
// non-resource URLs, wildcards included.

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
  verbs: string[];
}

/** What a subject asks to do. `namespace` null: cluster-wide (cluster-scoped objects, or
 *  across all namespaces), which only ClusterRoleBindings grant. */
export type AccessRequest =
  | { kind: "resource"; verb: string; group: string; resource: string; subresource: string; namespace: string | null; name: string }
  | { kind: "nonResource"; verb: string; path: string };

const FIELDS = new Set(["apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs"]);

/** The rule a canonical rule text stands for, or null if the text is not one. Items are
 *  API names and paths (no commas or brackets); `""` is the core group. */
export function parseRuleText(text: string): PolicyRule | null {
  const rule: PolicyRule = { apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [], verbs: [] };
  let rest = text.trim();
  const seen = new Set<string>();
  while (rest.length > 0) {
    const match = /^(\w+)=\[([^\]]*)\]\s*/.exec(rest);
    if (!match || !FIELDS.has(match[1]!) || seen.has(match[1]!)) return null;
    seen.add(match[1]!);
    const items = match[2] === "" ? [] : match[2]!.split(",").map((item) => (item === '""' ? "" : item));
    rule[match[1] as keyof PolicyRule] = items;
    rest = rest.slice(match[0].length);
  }
  return seen.has("verbs") ? rule : null;
}

const ALL = "*";

function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === ALL || v === verb);
}

function groupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === ALL || g === group);
}

// "*" matches everything; "pods/log" matches that subresource only; "*/scale" matches the
// scale subresource of any resource. "pods" does not match "pods/log".
function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource === "" ? resource : `${resource}/${subresource}`;
  return rule.resources.some((r) => r === ALL || r === combined || (subresource !== "" && r === `*/${subresource}`));
}

// No resourceNames: any name. Otherwise only a request naming one of them (a list or a
// create, which name nothing, is not allowed by such a rule).
function nameMatches(rule: PolicyRule, name: string): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(name);
}

// "*" matches every path; "/logs/*" every path under /logs/ (and "/logs/" itself).
function pathMatches(rule: PolicyRule, path: string): boolean {
  return rule.nonResourceURLs.some((u) => u === ALL || u === path || (u.endsWith("*") && path.startsWith(u.replace(/\*+$/, ""))));
}

export function ruleAllows(rule: PolicyRule, request: AccessRequest): boolean {
  if (!verbMatches(rule, request.verb)) return false;
  if (request.kind === "nonResource") return pathMatches(rule, request.path);
  return groupMatches(rule, request.group) && resourceMatches(rule, request.resource, request.subresource) && nameMatches(rule, request.name);
}

/** The request as `kubectl auth can-i` would word it. */
export function describeRequest(request: AccessRequest): string {
  if (request.kind === "nonResource") return `${request.verb} ${request.path}`;
  const resource = `${request.resource}${request.subresource ? `/${request.subresource}` : ""}${request.group ? `.${request.group}` : ""}`;
  const name = request.name ? ` ${request.name}` : "";
  const where = request.namespace === null ? " (cluster-wide)" : ` in namespace ${request.namespace}`;
  return `${request.verb} ${resource}${name}${where}`;
}
