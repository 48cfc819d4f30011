// "Who uses X?": the observed objects whose edges point at X, directly or through a node
// they own (a Pod's Volume BACKED_BY a Secret), and how.
import { storedKey } from "./limits.js";
import type { GraphSink, IncomingEdge } from "./model.js";

export interface Usage {
  /** The object that uses the target (e.g. a Pod). */
  user: { label: string; key: string; name: string; namespace: string | null };
  /** The edge path, e.g. ["USES_VOLUME config", "BACKED_BY"], with edge properties. */
  how: Array<{ rel: string; via: string | null; properties: Record<string, unknown> }>;
}

function describe(edge: IncomingEdge): { rel: string; via: string | null; properties: Record<string, unknown> } {
  const { owner: _owner, ...properties } = edge.properties;
  const via = typeof properties.via === "string" ? properties.via : typeof properties.source === "string" ? properties.source : null;
  return { rel: edge.rel, via, properties };
}

function userOf(from: IncomingEdge["from"]): Usage["user"] {
  return {
    label: from.labels[0] ?? "",
    key: from.key,
    name: String(from.properties.name ?? from.key),
    namespace: typeof from.properties.namespace === "string" ? from.properties.namespace : null,
  };
}

/** `targetKey` as made from the object's name (objectKey, parseImage): a key too long to
 *  store is looked up in its stored form. */
export async function whoUses(sink: Pick<GraphSink, "incoming">, targetKey: string): Promise<Usage[]> {
  const usages: Usage[] = [];
  for (const edge of await sink.incoming(storedKey(targetKey))) {
    const owner = edge.from.properties.owner;
    if (typeof owner === "string" && owner !== edge.from.key) {
      // An owned node (e.g. a Volume): report its owner, through the owner's edge to it.
      for (const ownerEdge of await sink.incoming(edge.from.key)) {
        if (ownerEdge.from.key !== owner) continue;
        usages.push({
          user: userOf(ownerEdge.from),
          how: [{ ...describe(ownerEdge), via: String(edge.from.properties.name ?? edge.from.key) }, describe(edge)],
        });
      }
    } else {
      usages.push({ user: userOf(edge.from), how: [describe(edge)] });
    }
  }
  usages.sort((a, b) => (a.user.key < b.user.key ? -1 : a.user.key > b.user.key ? 1 : 0));
  return usages;
}
