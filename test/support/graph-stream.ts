// A realistic stream of graph ops for comparing sinks (export, sort, compare): tier XS's
// initial sync as the sink-only bench makes it, then changes of every kind — updates that
// move references, deletes of referenced and unreferenced objects, a re-add, Services
// whose selectors pick pods, a relist that sweeps, a delete of a key that is only a
// placeholder, and a placeholder becoming observed.
import { opBatches, tierMessages, tierObjects } from "../../bench/sink-stream.js";
import { TIERS } from "../../bench/tiers.js";
import { toGraphOp } from "../../core/dispatch/translate.js";
import type { GraphOp } from "../../core/graph/model.js";
import type { KubeMessage, KubeObject } from "../../core/messages.js";
import { scrubObject } from "../../core/plugin/sdk.js";
import { observesSecrets } from "../../core/observer/reducer.js";
import { loadPlugins, type LoadedPlugin } from "../../core/plugin/registry.js";

type Raw = Record<string, unknown>;

function message(plugins: ReadonlyMap<string, LoadedPlugin>, resource: string, action: "Applied" | "Deleted", object: KubeObject, rv: number): KubeMessage {
  const meta = object.metadata as { name: string; namespace: string; uid: string };
  const plugin = plugins.get(resource)!;
  return {
    cluster: "bench",
    namespace: null,
    resource,
    kind: plugin.plugin.resource.kind,
    action,
    objectNamespace: meta.namespace,
    uid: meta.uid,
    name: meta.name,
    resourceVersion: String(rv),
    observedAt: "2026-12-01T00:00:01.000Z",
    object:
      action === "Applied"
        ? (JSON.parse(JSON.stringify(plugin.plugin.reduce(scrubObject(object, { secret: observesSecrets(plugin.plugin) })))) as unknown)
        : null,
  };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** The ops, in order: the initial sync, then the changes. */
export async function comparisonStream(): Promise<GraphOp[]> {
  const { plugins } = await loadPlugins([]);
  const tier = TIERS.XS;
  const objects = tierObjects(tier);
  const sync = tierMessages(tier, plugins);
  const pods = objects.get("pod")!;
  const configmaps = objects.get("configmap")!;
  let rv = 5000;
  const changes: KubeMessage[] = [];
  // Updates: every third pod uses another (partly missing) ConfigMap and another image.
  pods.forEach((pod, i) => {
    if (i % 3 !== 0) return;
    const p = clone(pod) as Raw & { spec: { containers: Array<Raw>; volumes: Array<Raw> } };
    p.spec.volumes = p.spec.volumes.map((v) => (v.configMap ? { ...v, configMap: { name: i % 2 ? "cm-0001" : "cm-missing" } } : v));
    p.spec.containers = p.spec.containers.map((c) => ({ ...c, image: `registry.bench.example/moved-${i % 2}:2.0`, envFrom: [] }));
    (p.metadata as Raw).labels = { ...((p.metadata as Raw).labels as Raw), moved: "yes" };
    changes.push(message(plugins, "pod", "Applied", p as unknown as KubeObject, ++rv));
  });
  // Services selecting pods by app label, one of them matching nothing.
  for (const [i, app] of ["app-sa-0000", "app-sa-0001", "nobody"].entries()) {
    const ns = (pods[i % pods.length]!.metadata as { namespace: string }).namespace;
    const svc = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${i}`, namespace: ns, uid: `svc-uid-${i}`, resourceVersion: String(++rv) },
      spec: { selector: { app }, ports: [{ port: 80 }] },
    };
    changes.push(message(plugins, "service", "Applied", svc as unknown as KubeObject, rv));
  }
  // Deletes: two referenced ConfigMaps (they stay as placeholders), two pods.
  for (const cm of configmaps.slice(0, 2)) changes.push(message(plugins, "configmap", "Deleted", cm, ++rv));
  for (const pod of pods.slice(1, 3)) changes.push(message(plugins, "pod", "Deleted", pod, ++rv));
  // A re-add of one, with a label that the first Service selects.
  const back = clone(pods[1]!) as Raw;
  (back.metadata as Raw).labels = { ...((back.metadata as Raw).labels as Raw), app: "app-sa-0000" };
  changes.push(message(plugins, "pod", "Applied", back as unknown as KubeObject, ++rv));
  // A placeholder observed: the missing ConfigMap appears.
  const appeared = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "cm-missing", namespace: (pods[0]!.metadata as { namespace: string }).namespace, uid: "cm-missing-uid", resourceVersion: String(++rv) },
    data: { k: "v" },
  };
  changes.push(message(plugins, "configmap", "Applied", appeared as unknown as KubeObject, rv));
  // A delete of a key only ever referenced (a Secret no list returned).
  const ghost = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "secret-0001", namespace: (pods[0]!.metadata as { namespace: string }).namespace, uid: "ghost", resourceVersion: String(++rv) },
  };
  changes.push(message(plugins, "secret", "Deleted", ghost as unknown as KubeObject, rv));
  // A relist of the ConfigMaps that no longer has the last one: swept.
  const present = [...configmaps.slice(2, -1), appeared].map((o) => {
    const m = o.metadata as { name: string; namespace: string; uid: string };
    return { namespace: m.namespace, name: m.name, uid: m.uid };
  });
  changes.push({
    ...message(plugins, "configmap", "Applied", appeared as unknown as KubeObject, ++rv),
    action: "Restarted",
    objectNamespace: null,
    uid: null,
    name: null,
    object: null,
    present,
    sweepExcept: [],
  });
  // A Service changes its selector; the other is deleted.
  const svc0 = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "svc-0", namespace: (pods[0]!.metadata as { namespace: string }).namespace, uid: "svc-uid-0", resourceVersion: String(++rv) },
    spec: { selector: { moved: "yes" } },
  };
  changes.push(message(plugins, "service", "Applied", svc0 as unknown as KubeObject, rv));
  const svc1 = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "svc-1", namespace: (pods[1]!.metadata as { namespace: string }).namespace, uid: "svc-uid-1", resourceVersion: String(++rv) },
  };
  changes.push(message(plugins, "service", "Deleted", svc1 as unknown as KubeObject, rv));

  const ops: GraphOp[] = opBatches(sync, plugins).flat();
  for (const m of changes) {
    const op = toGraphOp(m, plugins.get(m.resource)!);
    if (op) ops.push(op);
  }
  return ops;
}

/** Every label and relationship type the built-in plugins declare. */
export async function builtinSchema(): Promise<{ labels: string[]; relationships: string[] }> {
  const { plugins } = await loadPlugins([]);
  const { combinedSchema } = await import("../../core/graph/open-sink.js");
  return combinedSchema(plugins.values());
}
