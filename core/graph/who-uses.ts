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

/** One step of a usage: the edge's type, how it goes (its via or source, or `via`), its
 *  properties less the managed owner (the live graph's and the history's alike). */
export function describeEdge(edge: { rel: string; properties: Record<string, unknown> }, via?: string): Usage["how"][number] {
  const { owner: _owner, ...properties } = edge.properties;
  const own = typeof properties.via === "string" ? properties.via : typeof properties.source === "string" ? properties.source : null;
  return { rel: edge.rel, via: via ?? own, properties };
}

/** A usage as one line: `Pod ns/name: USES_VOLUME (cfg) → BACKED_BY`. */
export function usageLine(u: Usage): string {
  const how = u.how
    .map(
      (h) =>
        `${h.rel}${h.via ? ` (${h.via})` : ""}${h.properties.container ? ` container=${String(h.properties.container)}` : ""}${h.properties.key ? ` key=${String(h.properties.key)}` : ""}`,
    )
    .join(" → ");
  return `${u.user.label} ${u.user.namespace ? `${u.user.namespace}/` : ""}${u.user.name}: ${how}`;
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
          how: [describeEdge(ownerEdge, String(edge.from.properties.name ?? edge.from.key)), describeEdge(edge)],
        });
      }
    } else {
      usages.push({ user: userOf(edge.from), how: [describeEdge(edge)] });
    }
  }
  usages.sort((a, b) => (a.user.key < b.user.key ? -1 : a.user.key > b.user.key ? 1 : 0));
  return usages;
}
