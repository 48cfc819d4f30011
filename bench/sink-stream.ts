// The sink-only bench's input: the tier's initial-sync stream (the objects bench/load.ts
// creates, as a cluster-wide LIST returns them: pages of 500 per resource, interleaved,
// each resource's list closed by its relist boundary), every object reduced through the
// real plugin and turned into GraphOps by the dispatcher's own translate, in the
// dispatcher's batches (2,000 messages).
import { toGraphOp } from "../core/dispatch/translate.js";
import type { GraphOp } from "../core/graph/model.js";
import type { KubeMessage, KubeObject } from "../core/messages.js";
import { scrubObject } from "../core/plugin/sdk.js";
import { observesSecrets } from "../core/observer/reducer.js";
import type { LoadedPlugin } from "../core/plugin/registry.js";
import { configMapManifest, podManifest, podRefs, pvcManifest, secretManifest, serviceAccountManifest } from "./load.js";
import { BENCH_CLUSTER, configMapName, namespacePlans, podName, pvcName, replicaSetName, secretName, serviceAccountName, type Tier } from "./tiers.js";

/** The dispatcher's batch (core/pipeline.ts) and the observers' LIST page. */
export const DISPATCH_BATCH = 2_000;
const PAGE = 500;

export interface RowCounts {
  nodes: number;
  owned: number;
  placeholders: number;
  edges: number;
  links: number;
}

type Raw = Record<string, unknown>;

/** An object as the apiserver lists it: the manifest plus what the server sets. */
function served(kind: string, apiVersion: string, namespace: string, body: Raw, seq: number): KubeObject {
  const metadata = (body.metadata ?? {}) as Raw;
  return {
    apiVersion,
    kind,
    ...body,
    metadata: {
      ...metadata,
      namespace,
      uid: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
      resourceVersion: String(1000 + seq),
      creationTimestamp: "2026-12-01T00:00:00Z",
    },
  } as unknown as KubeObject;
}

/** The ServiceAccount admission plugin's projected token volume (its name has a random
 *  suffix; a fixed one here). */
function withTokenVolume(pod: Raw): Raw {
  const spec = pod.spec as Raw;
  const volume = {
    name: "kube-api-access-bench",
    projected: {
      sources: [
        { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
      ],
    },
  };
  return { ...pod, spec: { ...spec, volumes: [...((spec.volumes as unknown[]) ?? []), volume] } };
}

/** Every object of the tier per resource, in list order. */
export function tierObjects(tier: Tier): Map<string, KubeObject[]> {
  const byResource = new Map<string, KubeObject[]>([
    ["serviceaccount", []],
    ["configmap", []],
    ["secret", []],
    ["persistentvolumeclaim", []],
    ["pod", []],
  ]);
  let seq = 0;
  const add = (resource: string, kind: string, apiVersion: string, ns: string, body: unknown): void => {
    byResource.get(resource)!.push(served(kind, apiVersion, ns, body as Raw, ++seq));
  };
  const rsUids = new Map<string, string>();
  for (const plan of namespacePlans(tier)) {
    for (let j = 0; j < plan.serviceaccounts; j++) {
      add("serviceaccount", "ServiceAccount", "v1", plan.name, serviceAccountManifest(tier, serviceAccountName(j)));
      rsUids.set(`${plan.name}/${replicaSetName(j)}`, `rs-uid-${plan.name}-${j}`);
    }
    for (let j = 0; j < plan.configmaps; j++)
      add("configmap", "ConfigMap", "v1", plan.name, configMapManifest(tier, configMapName(j), `app-${serviceAccountName(j % plan.serviceaccounts)}`));
    for (let j = 0; j < plan.secrets; j++)
      add("secret", "Secret", "v1", plan.name, secretManifest(tier, secretName(j), `app-${serviceAccountName(j % plan.serviceaccounts)}`));
    for (let j = 0; j < plan.pvcs; j++) add("persistentvolumeclaim", "PersistentVolumeClaim", "v1", plan.name, pvcManifest(tier, pvcName(j)));
    for (let j = 0; j < plan.pods; j++)
      add("pod", "Pod", "v1", plan.name, withTokenVolume(podManifest(tier, podName(j), podRefs(plan, j, rsUids)) as unknown as Raw));
  }
  return byResource;
}

/** The initial sync's messages: each resource's LIST in pages, pages of the resources
 *  interleaved (observers run side by side), each list closed by its relist boundary. */
export function tierMessages(tier: Tier, plugins: ReadonlyMap<string, LoadedPlugin>): KubeMessage[] {
  const observedAt = new Date("2026-12-01T00:00:00Z").toISOString();
  const lists = [...tierObjects(tier)].map(([resource, objects]) => ({ resource, objects, plugin: plugins.get(resource)! }));
  const messages: KubeMessage[] = [];
  for (let page = 0; lists.some((l) => page * PAGE < l.objects.length); page++) {
    for (const { resource, objects, plugin } of lists) {
      const slice = objects.slice(page * PAGE, (page + 1) * PAGE);
      for (const object of slice) {
        const meta = object.metadata as { name: string; namespace: string; uid: string; resourceVersion: string };
        messages.push({
          cluster: BENCH_CLUSTER,
          namespace: null,
          resource,
          kind: plugin.plugin.resource.kind,
          action: "Applied",
          objectNamespace: meta.namespace,
          uid: meta.uid,
          name: meta.name,
          resourceVersion: meta.resourceVersion,
          observedAt,
          object: JSON.parse(JSON.stringify(plugin.plugin.reduce(scrubObject(object, { secret: observesSecrets(plugin.plugin) })))) as unknown,
        });
      }
      if (slice.length > 0 && (page + 1) * PAGE >= objects.length) {
        messages.push({
          cluster: BENCH_CLUSTER,
          namespace: null,
          resource,
          kind: plugin.plugin.resource.kind,
          action: "Restarted",
          objectNamespace: null,
          uid: null,
          name: null,
          resourceVersion: "999999",
          observedAt,
          object: null,
          present: objects.map((o) => {
            const m = o.metadata as { name: string; namespace: string; uid: string };
            return { namespace: m.namespace, name: m.name, uid: m.uid };
          }),
          sweepExcept: [],
        });
      }
    }
  }
  return messages;
}

/** The dispatcher's batches of ops (translate as it does; every message of the stream translates). */
export function opBatches(messages: readonly KubeMessage[], plugins: ReadonlyMap<string, LoadedPlugin>, batchSize = DISPATCH_BATCH): GraphOp[][] {
  const batches: GraphOp[][] = [];
  for (let i = 0; i < messages.length; i += batchSize) {
    const ops: GraphOp[] = [];
    for (const m of messages.slice(i, i + batchSize)) {
      const op = toGraphOp(m, plugins.get(m.resource)!);
      if (op) ops.push(op);
    }
    batches.push(ops);
  }
  return batches;
}

export function countRows(batches: readonly GraphOp[][]): RowCounts & { ops: number; total: number } {
  const c = { nodes: 0, owned: 0, placeholders: 0, edges: 0, links: 0, ops: 0, total: 0 };
  for (const ops of batches) {
    for (const op of ops) {
      c.ops += 1;
      if (op.op !== "upsert") continue;
      c.nodes += 1;
      c.owned += op.owned.length;
      c.placeholders += op.placeholders.length;
      c.edges += op.edges.length;
      c.links += op.links?.length ?? 0;
    }
  }
  c.total = c.nodes + c.owned + c.placeholders + c.edges + c.links;
  return c;
}
