// The least RBAC the agent needs for one cluster of a configuration: `list` and `watch`
// on exactly the API resources its actors name (each plugin declares its group and
// plural), plus namespaces when it must discover them, plus the extra rules the
// operator put in the config's `rbac` record. `kube-observer rbac` prints this as
// manifests (manifests.ts) and `kube-observer doctor` asks the API server about every
// permission in it, so both always agree.
//
// Scope: a namespaced resource observed in every namespace ("*", even with `exclude`:
// RBAC cannot leave namespaces out) or a cluster-scoped resource goes into the
// ClusterRole; a namespaced resource observed in named namespaces only goes into a Role
// in each of them. Everything is sorted, so the same config gives the same output.
import type { ActorConfig, Config, RbacRuleConfig } from "../config/model.js";
import type { LoadedPlugin } from "../plugin/registry.js";
import { needsNamespaceDiscovery } from "../supervisor/desired.js";

/** The agent's own verbs: a paged LIST, then a WATCH from its resourceVersion. */
export const OBSERVER_VERBS = ["list", "watch"] as const;

/** A Kubernetes PolicyRule (rbac.authorization.k8s.io/v1), empty lists left out. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

/** One thing the agent must be allowed to do: what `doctor` asks the API server. */
export interface Permission {
  verb: string;
  /** API group ("" for the core group) and resource (plural); null for a non-resource URL. */
  group: string | null;
  resource: string | null;
  /** A namespace, or null: cluster-wide (every namespace, or a cluster-scoped resource). */
  namespace: string | null;
  /** An extra rule's resourceName, when it names some. */
  name: string | null;
  nonResourceURL: string | null;
  /** Who needs it: "actors[3] (secret)", "namespace discovery", "rbac.extraRules[0]". */
  neededBy: string[];
}

export interface RbacPlan {
  cluster: string;
  serviceAccount: string;
  /** The ServiceAccount's namespace (where the bindings point). */
  namespace: string;
  /** Rules of the ClusterRole bound by a ClusterRoleBinding; empty: neither is needed. */
  clusterRules: PolicyRule[];
  /** Rules of a Role (and RoleBinding) per namespace, namespaces sorted. */
  namespaceRules: Array<{ namespace: string; rules: PolicyRule[] }>;
  /** Every permission of the rules above, one per verb and resource, sorted. */
  permissions: Permission[];
}

export interface RbacNames {
  serviceAccount?: string;
  namespace?: string;
}

export class RbacPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RbacPlanError";
  }
}

/** The configured cluster a plan is for: the one named, or the only one. */
export function pickCluster(config: Config, name?: string): string {
  const names = config.clusters.map((c) => c.name);
  if (name !== undefined) {
    if (!names.includes(name)) throw new RbacPlanError(`no cluster "${name}" in the config; its clusters are: ${names.map((n) => `"${n}"`).join(", ")}`);
    return name;
  }
  if (names.length === 1) return names[0]!;
  throw new RbacPlanError(`the config has ${names.length} clusters (${names.map((n) => `"${n}"`).join(", ")}): name one with --cluster`);
}

interface ResourceKey {
  group: string;
  resource: string;
}

/** group -> resource -> who needs it. */
type ResourceSet = Map<string, Map<string, Set<string>>>;

function addResource(set: ResourceSet, key: ResourceKey, why: string): void {
  let resources = set.get(key.group);
  if (!resources) {
    resources = new Map();
    set.set(key.group, resources);
  }
  let reasons = resources.get(key.resource);
  if (!reasons) {
    reasons = new Set();
    resources.set(key.resource, reasons);
  }
  reasons.add(why);
}

function hasResource(set: ResourceSet, key: ResourceKey): boolean {
  return set.get(key.group)?.has(key.resource) === true;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (values: readonly string[]): string[] => [...new Set(values)].sort(byText);

/** One list/watch rule per API group, groups sorted ("" first), resources sorted. */
function observerRules(set: ResourceSet): PolicyRule[] {
  return [...set.keys()].sort(byText).map((group) => ({
    apiGroups: [group],
    resources: [...set.get(group)!.keys()].sort(byText),
    verbs: [...OBSERVER_VERBS],
  }));
}

function normaliseExtraRule(rule: RbacRuleConfig): PolicyRule {
  const verbs = sortedUnique(rule.verbs);
  if (rule.nonResourceURLs.length > 0) return { nonResourceURLs: sortedUnique(rule.nonResourceURLs), verbs };
  return {
    apiGroups: sortedUnique(rule.apiGroups),
    resources: sortedUnique(rule.resources),
    ...(rule.resourceNames.length > 0 ? { resourceNames: sortedUnique(rule.resourceNames) } : {}),
    verbs,
  };
}

const ruleText = (rule: PolicyRule): string => JSON.stringify(rule);

function actorLabel(actor: ActorConfig, index: number): string {
  return `actors[${index}] (${actor.resource}${actor.namespace === "*" ? "" : ` in ${actor.namespace}`})`;
}

/**
 * The RBAC one cluster of `config` needs. `plugins` are the loaded resource plugins
 * (built-in and the config's pluginDirs); an actor naming an unknown plugin is an
 * error (config validation reports it first).
 */
export function planRbac(config: Config, plugins: ReadonlyMap<string, LoadedPlugin>, cluster: string, names: RbacNames = {}): RbacPlan {
  const serviceAccount = names.serviceAccount ?? config.rbac.serviceAccount;
  const namespace = names.namespace ?? config.rbac.namespace;
  const actors = config.actors.map((actor, index) => ({ actor, index })).filter(({ actor }) => actor.cluster === cluster);

  const clusterWide: ResourceSet = new Map();
  const perNamespace = new Map<string, ResourceSet>();

  for (const { actor, index } of actors) {
    const loaded = plugins.get(actor.resource);
    if (!loaded) throw new RbacPlanError(`actors[${index}]: no resource plugin "${actor.resource}" is loaded`);
    const { group, plural, namespaced } = loaded.plugin.resource;
    const key = { group, resource: plural };
    const why = actorLabel(actor, index);
    if (!namespaced || actor.namespace === "*") addResource(clusterWide, key, why);
    else {
      let set = perNamespace.get(actor.namespace);
      if (!set) {
        set = new Map();
        perNamespace.set(actor.namespace, set);
      }
      addResource(set, key, why);
    }
  }

  // The supervisor lists and watches namespaces when an actor observes "*" of a
  // namespaced resource (core/supervisor/desired.ts), through the plugin that
  // provides them.
  if (
    needsNamespaceDiscovery(
      actors.map((a) => a.actor),
      plugins,
    )
  ) {
    const provider = [...plugins.values()].find((p) => p.plugin.providesNamespaces);
    if (!provider) throw new RbacPlanError("an actor observes every namespace, but no loaded plugin provides namespaces (providesNamespaces: true)");
    addResource(clusterWide, { group: provider.plugin.resource.group, resource: provider.plugin.resource.plural }, "namespace discovery");
  }

  // What the ClusterRole grants everywhere needs no Role (an actor for a namespace that
  // a "*" actor excludes, for instance).
  for (const [ns, set] of perNamespace) {
    for (const [group, resources] of set) {
      for (const resource of [...resources.keys()]) if (hasResource(clusterWide, { group, resource })) resources.delete(resource);
      if (resources.size === 0) set.delete(group);
    }
    if (set.size === 0) perNamespace.delete(ns);
  }

  const clusterRules = observerRules(clusterWide);
  const namespaceRules = new Map<string, PolicyRule[]>([...perNamespace].map(([ns, set]) => [ns, observerRules(set)]));
  const permissions = new Map<string, Permission>();
  const permit = (p: Omit<Permission, "neededBy">, why: string): void => {
    const id = JSON.stringify([p.namespace, p.group, p.resource, p.name, p.nonResourceURL, p.verb]);
    const existing = permissions.get(id);
    if (existing) {
      if (!existing.neededBy.includes(why)) existing.neededBy.push(why);
    } else permissions.set(id, { ...p, neededBy: [why] });
  };
  const permitSet = (set: ResourceSet, ns: string | null): void => {
    for (const [group, resources] of set) {
      for (const [resource, reasons] of resources) {
        for (const verb of OBSERVER_VERBS) {
          for (const why of [...reasons].sort(byText)) permit({ verb, group, resource, namespace: ns, name: null, nonResourceURL: null }, why);
        }
      }
    }
  };
  permitSet(clusterWide, null);
  for (const [ns, set] of perNamespace) permitSet(set, ns);

  // Extra rules, as written (normalised), after the derived ones of their scope.
  const extraCluster: PolicyRule[] = [];
  const extraNamespaced = new Map<string, PolicyRule[]>();
  config.rbac.extraRules.forEach((extra, index) => {
    const rule = normaliseExtraRule(extra);
    const why = `rbac.extraRules[${index}]`;
    if (extra.namespace === null) extraCluster.push(rule);
    else {
      let list = extraNamespaced.get(extra.namespace);
      if (!list) {
        list = [];
        extraNamespaced.set(extra.namespace, list);
      }
      list.push(rule);
    }
    for (const verb of rule.verbs) {
      for (const url of rule.nonResourceURLs ?? []) permit({ verb, group: null, resource: null, namespace: null, name: null, nonResourceURL: url }, why);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const names = rule.resourceNames ?? [null];
          for (const name of names) permit({ verb, group, resource, namespace: extra.namespace, name, nonResourceURL: null }, why);
        }
      }
    }
  });
  const appendExtra = (rules: PolicyRule[], extra: PolicyRule[]): PolicyRule[] => {
    const seen = new Set(rules.map(ruleText));
    const added = [...new Map(extra.map((r) => [ruleText(r), r])).values()].filter((r) => !seen.has(ruleText(r)));
    return [...rules, ...added.sort((a, b) => byText(ruleText(a), ruleText(b)))];
  };
  const allClusterRules = appendExtra(clusterRules, extraCluster);
  for (const [ns, extra] of extraNamespaced) namespaceRules.set(ns, appendExtra(namespaceRules.get(ns) ?? [], extra));

  return {
    cluster,
    serviceAccount,
    namespace,
    clusterRules: allClusterRules,
    namespaceRules: [...namespaceRules.keys()].sort(byText).map((ns) => ({ namespace: ns, rules: namespaceRules.get(ns)! })),
    permissions: [...permissions.values()].sort(comparePermissions),
  };
}

function comparePermissions(a: Permission, b: Permission): number {
  const key = (p: Permission) => [p.namespace ?? "", p.nonResourceURL ?? "", p.group ?? "", p.resource ?? "", p.name ?? "", p.verb];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) {
    const c = byText(ka[i]!, kb[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

/** "list secrets (all namespaces)", "watch deployments.apps in team-a", "get /metrics". */
export function describePermission(p: Permission): string {
  if (p.nonResourceURL !== null) return `${p.verb} ${p.nonResourceURL}`;
  const resource = p.group ? `${p.resource}.${p.group}` : (p.resource ?? "");
  const named = p.name !== null ? `/${p.name}` : "";
  const where = p.namespace !== null ? ` in ${p.namespace}` : " (cluster-wide)";
  return `${p.verb} ${resource}${named}${where}`;
}
