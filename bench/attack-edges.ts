// What deriving attack edges costs at a tier (core/insight/attack/edges.ts), and what a
// change costs when only what it affects is derived again: a RoleBinding in one namespace
// (that namespace), a pod (that pod), a ClusterRoleBinding (the cluster-wide edges and
// every namespace's). The tier's objects (bench/sink-stream.ts) go into an in-memory
// SQLite graph with RBAC added per namespace; no cluster is needed. Baseline, same run:
// reading the part of the graph the derivation needs.
//   node dist/bench/attack-edges.js [--tier M] [--rounds 5]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { toGraphOp } from "../core/dispatch/translate.js";
import { combinedSchema } from "../core/graph/open-sink.js";
import { SqliteGraphSink } from "../core/graph/sqlite-sink.js";
import type { KubeMessage } from "../core/messages.js";
import { ATTACK_READS, deriveAttackEdges, deriveClusterEdges, deriveNamespaceEdges, derivePodEdges, indexNamespaces } from "../core/insight/attack/edges.js";
import { AuditMirror } from "../core/insight/audit/view.js";
import { deriveScopes, scopeOwner } from "../core/insight/attack/derived-stage.js";
import { RBAC_LABELS, RBAC_RELATIONSHIPS } from "../core/insight/rbac-index.js";
import { loadPlugins } from "../core/plugin/registry.js";
import { machineFacts } from "./machine.js";
import { median } from "./measure.js";
import { tierMessages } from "./sink-stream.js";
import { BENCH_CLUSTER, tierByName } from "./tiers.js";

const { values } = parseArgs({ options: { tier: { type: "string", default: "M" }, rounds: { type: "string", default: "5" } } });
const tier = tierByName(values.tier);
const rounds = Number(values.rounds);
const loadAtStart = loadavg();
const { plugins } = await loadPlugins([]);

// RBAC like a multi-tenant cluster's: per namespace, its first account reads the Secrets,
// its second may exec into pods, and every account of the namespace may list ConfigMaps;
// cluster-wide, one account is cluster-admin and one reads every Secret.
let seq = 0;
const rbacMessage = (resource: string, namespace: string | null, body: Record<string, unknown>): KubeMessage => {
  const plugin = plugins.get(resource)!;
  const r = plugin.plugin.resource;
  const metadata = { ...(body.metadata as object), ...(namespace ? { namespace } : {}), uid: `uid-${++seq}`, resourceVersion: String(seq) };
  const object = { apiVersion: `${r.group}/${r.version}`, kind: r.kind, ...body, metadata };
  return {
    cluster: BENCH_CLUSTER,
    namespace: null,
    resource,
    kind: r.kind,
    action: "Applied",
    objectNamespace: namespace,
    uid: metadata.uid,
    name: (metadata as unknown as { name: string }).name,
    resourceVersion: metadata.resourceVersion,
    observedAt: new Date("2026-12-01T00:00:00Z").toISOString(),
    object: JSON.parse(JSON.stringify(plugin.plugin.reduce(object as never))) as unknown,
  };
};
const roleRef = (kind: string, name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });
const messages = tierMessages(tier, plugins).filter((m) => m.action === "Applied");
const namespaces = [...new Set(messages.map((m) => m.objectNamespace!))];
const accountsOf = (ns: string): string[] => messages.filter((m) => m.resource === "serviceaccount" && m.objectNamespace === ns).map((m) => m.name!);
const rbac: KubeMessage[] = [];
for (const ns of namespaces) {
  const [first, second] = accountsOf(ns);
  rbac.push(rbacMessage("role", ns, { metadata: { name: "secret-reader" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }] }));
  rbac.push(
    rbacMessage("rolebinding", ns, {
      metadata: { name: "secret-reader" },
      roleRef: roleRef("Role", "secret-reader"),
      subjects: [{ kind: "ServiceAccount", name: first }],
    }),
  );
  rbac.push(rbacMessage("role", ns, { metadata: { name: "exec" }, rules: [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }] }));
  rbac.push(
    rbacMessage("rolebinding", ns, {
      metadata: { name: "exec" },
      roleRef: roleRef("Role", "exec"),
      subjects: [{ kind: "ServiceAccount", name: second ?? first }],
    }),
  );
  rbac.push(rbacMessage("role", ns, { metadata: { name: "config-lister" }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }] }));
  rbac.push(
    rbacMessage("rolebinding", ns, {
      metadata: { name: "config-lister" },
      roleRef: roleRef("Role", "config-lister"),
      subjects: [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: `system:serviceaccounts:${ns}` }],
    }),
  );
}
rbac.push(rbacMessage("clusterrole", null, { metadata: { name: "cluster-admin" }, rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] }));
rbac.push(
  rbacMessage("clusterrole", null, { metadata: { name: "all-secrets" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }] }),
);
const admin = { ns: namespaces[0]!, name: accountsOf(namespaces[0]!)[0]! };
rbac.push(
  rbacMessage("clusterrolebinding", null, {
    metadata: { name: "ops-admin" },
    roleRef: roleRef("ClusterRole", "cluster-admin"),
    subjects: [{ kind: "ServiceAccount", name: admin.name, namespace: admin.ns }],
  }),
);
rbac.push(
  rbacMessage("clusterrolebinding", null, {
    metadata: { name: "backup" },
    roleRef: roleRef("ClusterRole", "all-secrets"),
    subjects: [{ kind: "ServiceAccount", name: accountsOf(namespaces[1]!)[0]!, namespace: namespaces[1]! }],
  }),
);

const sink = new SqliteGraphSink(":memory:");
await sink.init(combinedSchema(plugins.values()));
const all = [...messages, ...rbac];
for (let i = 0; i < all.length; i += 2000) await sink.apply(all.slice(i, i + 2000).map((m) => toGraphOp(m, plugins.get(m.resource)!)!));

const labels = new Set<string>([...RBAC_LABELS, ...ATTACK_READS.labels]);
const rels = new Set<string>([...RBAC_RELATIONSHIPS, ...ATTACK_READS.rels]);
const time = async <T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> => {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
};
const samples: Record<string, number[]> = { read: [], all: [], namespace: [], cluster: [], pod: [], rbacIndex: [], writeAll: [], writeNamespace: [] };
let edgeCount = 0;
let byRel: Record<string, number> = {};
for (let r = 0; r < rounds; r++) {
  const read = await time(async () => new AuditMirror(BENCH_CLUSTER, labels, rels).load(await sink.subgraph([...labels], [...rels])));
  const view = read.value;
  samples.read!.push(read.ms);
  // The RBAC index is rebuilt after any change (the mirror drops it): measured alone.
  samples.rbacIndex!.push((await time(() => view.rbac)).ms);
  const full = await time(() => deriveAttackEdges(view));
  samples.all!.push(full.ms);
  edgeCount = full.value.length;
  byRel = {};
  for (const e of full.value) byRel[e.rel] = (byRel[e.rel] ?? 0) + 1;
  const index = indexNamespaces(view);
  const ns = namespaces[r % namespaces.length]!;
  samples.namespace!.push((await time(() => deriveNamespaceEdges(view, ns, index))).ms);
  samples.cluster!.push((await time(() => deriveClusterEdges(view))).ms);
  const pod = view.nodes("Pod")[r]!;
  samples.pod!.push((await time(() => derivePodEdges(view, pod))).ms);
  // Into the graph (the embedded SQLite one, in memory here): everything, then one namespace.
  const sets = deriveScopes(view, { all: true, cluster: true, namespaces: new Set(), pods: new Set(), nodes: new Set() });
  samples.writeAll!.push((await time(() => sink.replaceDerived(sets, scopeOwner.all(BENCH_CLUSTER)))).ms);
  const one = deriveScopes(view, { all: false, cluster: false, namespaces: new Set([ns]), pods: new Set(), nodes: new Set() });
  samples.writeNamespace!.push((await time(() => sink.replaceDerived(one))).ms);
}
const m = (k: string): string => `${median(samples[k]!).toFixed(1)} ms`;
const facts = machineFacts(loadAtStart);
const nsScoped = median(samples.namespace!);
const lines = [
  `# Attack edges at tier ${tier.name}: a whole derivation, and what a change costs`,
  "",
  `Command: \`node dist/bench/attack-edges.js --tier ${tier.name} --rounds ${rounds}\` on ${new Date().toISOString()}; median of ${rounds} rounds.`,
  `Machine: ${facts.cores} × ${facts.cpuModel}, ${(facts.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${facts.node}, load average ${facts.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")} at start, ${facts.loadAverageAtEnd.map((l) => l.toFixed(2)).join(" ")} at end.`,
  `Graph: tier ${tier.name} (${namespaces.length} namespaces, ${tier.pods} pods, ${tier.secrets} Secrets, ${tier.serviceaccounts} ServiceAccounts) plus ${rbac.length} RBAC objects (3 Roles and RoleBindings per namespace, one bound to the namespace's group; cluster-admin and a cluster-wide Secret reader bound to one account each).`,
  "",
  "| what | time |",
  "|---|---|",
  `| baseline: read what the derivation needs (subgraph into the copy) | ${m("read")} |`,
  `| rebuild the RBAC index (after any RBAC change) | ${m("rbacIndex")} |`,
  `| derive every attack edge (${edgeCount} edges) | ${m("all")} |`,
  `| a RoleBinding, Role, Secret, pod or account in one namespace changed: that namespace's edges | ${m("namespace")} (${((nsScoped / median(samples.all!)) * 100).toFixed(2)} % of the whole) |`,
  `| a ClusterRole or ClusterRoleBinding changed: the cluster-wide edges (and then each namespace's, as above) | ${m("cluster")} + ${namespaces.length} × ${m("namespace")} |`,
  `| a pod changed: its own edges (escape, its token) | ${m("pod")} |`,
  `| write every scope into the embedded graph (replaceDerived, whole) | ${m("writeAll")} |`,
  `| write one namespace's scope into the embedded graph | ${m("writeNamespace")} |`,
  "",
  `Edges by type: ${Object.entries(byRel)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}.`,
  "",
];
process.stdout.write(`${lines.join("\n")}\n`);
await sink.close();
