// Attack edges kept in the graph as changes arrive (config `attackEdges`): after each
// committed batch, the stage brings its copy of the graph up to date from what the batch
// touched (GraphSink.neighbourhood), works out which derivation scopes the changes affect,
// derives just those and replaces them in the sink (GraphSink.replaceDerived). A Role,
// RoleBinding, Secret, pod or account changes its namespace's scope; a pod its own; a
// ClusterRole or ClusterRoleBinding the cluster's and every namespace's (its grants hold
// everywhere); the first evaluation and a relist derive everything.
import type { DerivedEdgeSet, GraphEdge, GraphSink } from "../../graph/model.js";
import { objectKey } from "../../graph/keys.js";
import { storedKey } from "../../graph/limits.js";
import type { Logger } from "../../log/logger.js";
import type { WalRecord } from "../../wal/wal.js";
import { AuditMirror } from "../audit/view.js";
import { RBAC_LABELS, RBAC_RELATIONSHIPS, refFromKey } from "../rbac-index.js";
import {
  ATTACK_READS,
  deriveClusterEdges,
  deriveNamespaceEdges,
  deriveNodeEdges,
  derivePodEdges,
  indexNamespaces,
  scheduledNodes,
  type AttackEdge,
} from "./edges.js";

/** Derivation scopes, the cluster first: a whole derivation replaces every scope of its
 *  cluster (`derived:<cluster>:`), so scopes of objects gone meanwhile go too. */
export const scopeOwner = {
  all: (cluster: string): string => `derived:${cluster}:`,
  namespace: (cluster: string, ns: string): string => `derived:${cluster}:ns:${ns}`,
  cluster: (cluster: string): string => `derived:${cluster}:cluster`,
  pod: (cluster: string, podKey: string): string => `derived:${cluster}:pod:${podKey}`,
  node: (cluster: string, nodeKey: string): string => `derived:${cluster}:node:${nodeKey}`,
};

/** What to derive again: namespaces, pods (keys), the cluster-wide scope; or everything. */
export interface Scopes {
  all: boolean;
  cluster: boolean;
  namespaces: Set<string>;
  pods: Set<string>;
  nodes: Set<string>;
}

const noScopes = (): Scopes => ({ all: false, cluster: false, namespaces: new Set(), pods: new Set(), nodes: new Set() });

const asEdges = (edges: readonly AttackEdge[]): GraphEdge[] => edges.map((e) => ({ type: e.rel, from: e.from, to: e.to, properties: { how: e.how } }));

export function newMirror(cluster: string): AuditMirror {
  return new AuditMirror(cluster, new Set([...RBAC_LABELS, ...ATTACK_READS.labels]), new Set([...RBAC_RELATIONSHIPS, ...ATTACK_READS.rels]));
}

/** The derived edge sets of these scopes of one cluster's copy. */
export function deriveScopes(view: AuditMirror, scopes: Scopes): DerivedEdgeSet[] {
  const cluster = view.cluster;
  const index = indexNamespaces(view);
  // Everything, plus the named scopes (an object that just left is not in the copy).
  const namespaces = scopes.all ? new Set([...index.namespaces, ...scopes.namespaces]) : scopes.namespaces;
  const pods = scopes.all ? new Set([...view.nodes("Pod").map((p) => p.ref.key), ...scopes.pods]) : scopes.pods;
  const nodes = scopes.all ? new Set([...scheduledNodes(view), ...scopes.nodes]) : scopes.nodes;
  const sets: DerivedEdgeSet[] = [];
  for (const ns of namespaces) sets.push({ owner: scopeOwner.namespace(cluster, ns), edges: asEdges(deriveNamespaceEdges(view, ns, index)) });
  if (scopes.all || scopes.cluster) sets.push({ owner: scopeOwner.cluster(cluster), edges: asEdges(deriveClusterEdges(view)) });
  for (const key of pods) {
    const pod = view.node(key);
    sets.push({ owner: scopeOwner.pod(cluster, key), edges: pod?.ref.observed ? asEdges(derivePodEdges(view, pod)) : [] });
  }
  for (const key of nodes) sets.push({ owner: scopeOwner.node(cluster, key), edges: asEdges(deriveNodeEdges(view, key)) });
  return sets;
}

/** Everything of one cluster, from one read: the first evaluation, and verify's expected graph. */
export async function deriveAll(sink: GraphSink, cluster: string): Promise<{ mirror: AuditMirror; sets: DerivedEdgeSet[] }> {
  const mirror = newMirror(cluster);
  mirror.load(await sink.subgraph([...mirror.labelsRead], [...mirror.relsRead]));
  return { mirror, sets: deriveScopes(mirror, { ...noScopes(), all: true }) };
}

/** The scopes changes to these keys affect (read against the copy after its refresh). */
export function affectedScopes(view: AuditMirror, keys: Iterable<string>): Scopes {
  const scopes = noScopes();
  for (const key of keys) {
    const ref = refFromKey(key);
    switch (ref.label) {
      case "ClusterRole":
      case "ClusterRoleBinding":
        scopes.all = true;
        break;
      case "Role":
      case "RoleBinding":
      case "Secret":
        if (ref.namespace) scopes.namespaces.add(ref.namespace);
        break;
      case "ServiceAccount": {
        // Where a binding names it, or a group it is in: those namespaces (a
        // ClusterRoleBinding's: all); its own; the cluster-wide edges; its pods' tokens.
        scopes.cluster = true;
        if (ref.namespace) scopes.namespaces.add(ref.namespace);
        for (const e of view.into(key, "RUNS_AS")) {
          scopes.pods.add(e.from);
          for (const n of view.out(e.from, "SCHEDULED_ON")) scopes.nodes.add(n.to);
        }
        const groups = ["system:serviceaccounts", `system:serviceaccounts:${ref.namespace}`, "system:authenticated"].map((g) => `${view.cluster}/Group/${g}`);
        for (const subject of [key, ...groups]) {
          for (const e of view.into(subject, "SUBJECT")) {
            const binding = refFromKey(e.from);
            if (binding.label === "ClusterRoleBinding") scopes.all = true;
            else if (binding.namespace) scopes.namespaces.add(binding.namespace);
          }
        }
        break;
      }
      case "Pod":
        if (ref.namespace) scopes.namespaces.add(ref.namespace);
        scopes.pods.add(key);
        for (const n of view.out(key, "SCHEDULED_ON")) scopes.nodes.add(n.to);
        break;
      case "Namespace":
        scopes.namespaces.add(ref.name);
        break;
      case "Node":
        scopes.nodes.add(key);
        for (const e of view.into(key, "SCHEDULED_ON")) scopes.pods.add(e.from);
        break;
      default:
        break;
    }
  }
  return scopes;
}

export interface AttackEdgeStageSetup {
  sink: GraphSink;
  clusters: readonly string[];
  log: Logger;
  labelOf(resource: string): string | undefined;
}

const MAX_REFRESH_KEYS = 2_000;

export class AttackEdgeStage {
  private readonly mirrors = new Map<string, AuditMirror>();
  private pending = new Map<string, Set<string>>(); // cluster → changed keys ("*": relisted)
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private armed = false;
  private stopped = false;
  private failures = 0;
  /** Derivations that failed (each retried; a `run --once` counts them as a failure). */
  failedRuns = 0;
  private clusters: readonly string[];

  constructor(private readonly setup: AttackEdgeStageSetup) {
    this.clusters = setup.clusters;
  }

  committed(records: readonly WalRecord[]): void {
    if (!this.armed) return;
    for (const { message: m } of records) {
      if (!this.clusters.includes(m.cluster)) continue;
      const keys = this.pending.get(m.cluster) ?? new Set<string>();
      this.pending.set(m.cluster, keys);
      const label = this.setup.labelOf(m.resource);
      if (m.action === "Restarted" || !label || !m.name) keys.add("*");
      else keys.add(storedKey(objectKey(m.cluster, m.objectNamespace, label, m.name)));
    }
    this.schedule();
  }

  /** After the initial sync: everything derived once, then change by change. */
  async start(): Promise<void> {
    this.armed = true;
    for (const cluster of this.clusters) this.pending.set(cluster, new Set(["*"]));
    await this.running;
    await this.evaluate();
  }

  reconfigure(clusters: readonly string[]): void {
    this.clusters = clusters;
    this.mirrors.clear();
    for (const cluster of clusters) this.pending.set(cluster, new Set(["*"]));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped || !this.armed || this.timer || this.running) return;
    const wait = this.failures > 0 ? Math.min(30_000, 1000 * 2 ** (this.failures - 1)) : 50;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.evaluate();
    }, wait);
    this.timer.unref();
  }

  private async evaluate(): Promise<void> {
    if (this.stopped || this.running || this.pending.size === 0) return;
    const work = this.pending;
    this.pending = new Map();
    this.running = this.derive(work).finally(() => {
      this.running = null;
      if (this.pending.size > 0) this.schedule();
    });
    await this.running;
  }

  private async derive(work: Map<string, Set<string>>): Promise<void> {
    const started = performance.now();
    let written = 0;
    try {
      for (const [cluster, keys] of work) {
        let mirror = this.mirrors.get(cluster);
        let sets: DerivedEdgeSet[];
        let exclusive: string | undefined;
        if (!mirror || keys.has("*") || keys.size > MAX_REFRESH_KEYS) {
          ({ mirror, sets } = await deriveAll(this.setup.sink, cluster));
          this.mirrors.set(cluster, mirror);
          exclusive = scopeOwner.all(cluster);
        } else {
          const list = [...keys];
          // What the changed objects touched before the change (a deleted pod's node) and after.
          const before = affectedScopes(mirror, list);
          mirror.refresh(list, await this.setup.sink.neighbourhood(list));
          const after = affectedScopes(mirror, list);
          sets = deriveScopes(mirror, {
            all: before.all || after.all,
            cluster: before.cluster || after.cluster,
            namespaces: new Set([...before.namespaces, ...after.namespaces]),
            pods: new Set([...before.pods, ...after.pods]),
            nodes: new Set([...before.nodes, ...after.nodes]),
          });
        }
        if (sets.length > 0 || exclusive) await this.setup.sink.replaceDerived(sets, exclusive);
        written += sets.length;
      }
      this.failures = 0;
      this.setup.log.debug({ ms: Math.round(performance.now() - started), scopes: written }, "attack edges derived");
    } catch (error) {
      // Kept for the next try, read whole then (the copy may have missed a change).
      for (const [cluster, keys] of work) {
        const merged = this.pending.get(cluster) ?? new Set<string>();
        for (const k of keys) merged.add(k);
        merged.add("*");
        this.pending.set(cluster, merged);
      }
      this.failures++;
      this.failedRuns++;
      this.setup.log.warn({ err: error instanceof Error ? error.message : String(error) }, "attack edges could not be derived; will retry");
    }
  }
}
