// Shared by the plugin graph tests: an object as the observer hands it to reduce (scrubbed,
// then through JSON as it travels), and the context the dispatcher gives toGraph.
import { expect } from "vitest";
import { objectKey } from "../../../core/graph/keys.js";
import type { KubeMetadata, KubeObject } from "../../../core/messages.js";
import { LAST_APPLIED_ANNOTATION, scrubObject } from "../../../core/plugin/sdk.js";
import type { GraphContext, GraphFragment, ResourcePlugin } from "../../../core/plugin/types.js";

export const CLUSTER = "prod";

export function graphContext(kind: string, namespace: string | null, name: string): GraphContext {
  return { cluster: CLUSTER, key: objectKey(CLUSTER, namespace, kind, name), objectKey: (k, ns, n) => objectKey(CLUSTER, ns, k, n) };
}

/** Metadata as the API server returns it, with the fields reduce must drop. */
export function apiMetadata(name: string, namespace: string | null, extra: Record<string, unknown> = {}): KubeMetadata {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    uid: `uid-${name}`,
    resourceVersion: "812",
    creationTimestamp: "2025-03-01T09:00:00Z",
    labels: { team: "shop" },
    annotations: { "example.com/owner": "team-a", [LAST_APPLIED_ANNOTATION]: '{"canary":"LAST-APPLIED-CANARY"}' },
    managedFields: [{ manager: "kubectl", operation: "Update", fieldsV1: { "f:MANAGED-CANARY": {} } }],
    ...extra,
  };
}

/** The metadata properties every node of such an object gets (metadataProperties). */
export const META_PROPERTIES = { labels: ["team=shop"], annotations: ["example.com/owner=team-a"], creationTimestamp: "2025-03-01T09:00:00Z" };

/** reduce, as the observer runs it: scrubbed first, and the result through JSON. */
export function reduceAsObserved<R>(plugin: ResourcePlugin<R>, object: KubeObject): R {
  return JSON.parse(JSON.stringify(plugin.reduce(scrubObject(structuredClone(object))))) as R;
}

/** reduce then toGraph, as the observer and then the dispatcher run them; the fragment
 *  is checked against the plugin contract (declared labels and types, edge endpoints). */
export function graphOf<R>(plugin: ResourcePlugin<R>, object: KubeObject): GraphFragment {
  const metadata = object.metadata ?? {};
  const label = plugin.graph?.label ?? plugin.resource.kind;
  const ctx = graphContext(label, plugin.resource.namespaced ? (metadata.namespace ?? null) : null, metadata.name ?? "");
  const fragment = plugin.graph!.toGraph(reduceAsObserved(plugin, object), ctx);
  expectWithinContract(plugin, label, ctx.key, fragment);
  return fragment;
}

function expectWithinContract<R>(plugin: ResourcePlugin<R>, label: string, key: string, fragment: GraphFragment): void {
  const { labels, relationships } = plugin.graph!.schema;
  const owned = new Set((fragment.owned ?? []).map((n) => n.key));
  const references = new Set((fragment.references ?? []).map((n) => n.key));
  expect(labels).toContain(label);
  for (const n of [...(fragment.owned ?? []), ...(fragment.references ?? [])]) expect(labels, `label of ${n.key}`).toContain(n.label);
  for (const e of fragment.edges ?? []) {
    expect(relationships, `type of an edge to ${e.to}`).toContain(e.type);
    const from = e.from ?? key;
    const fromReference = references.has(from);
    expect(from === key || owned.has(from) || fromReference, `${e.type} starts at ${from}`).toBe(true);
    // An edge from a reference is that reference's own fact: it ends at another reference.
    if (fromReference) expect(references.has(e.to), `${e.type} from reference ${from} ends at ${e.to}`).toBe(true);
    else expect(e.to === key || owned.has(e.to) || references.has(e.to), `${e.type} ends at ${e.to}`).toBe(true);
  }
  for (const s of fragment.selectors ?? []) {
    expect(relationships).toContain(s.type);
    expect(labels).toContain(s.label);
    expect(s.from === undefined || s.from === key || owned.has(s.from), `selector ${s.type} starts at ${String(s.from)}`).toBe(true);
  }
}
