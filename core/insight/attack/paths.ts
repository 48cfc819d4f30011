// Shortest attack paths over the attack edges: breadth-first from one foothold, so each
// target found is reached by a path with the fewest steps.
import type { AttackEdge } from "./edges.js";

export interface AttackPath {
  to: string;
  steps: AttackEdge[];
}

/** The shortest path from `from` to each key `wanted` accepts (at most `limit` targets). */
export function shortestPaths(edges: readonly AttackEdge[], from: string, wanted: (key: string) => boolean, limit = Number.POSITIVE_INFINITY): AttackPath[] {
  const out = new Map<string, AttackEdge[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const via = new Map<string, AttackEdge | null>([[from, null]]);
  const queue = [from];
  const found: AttackPath[] = [];
  for (let i = 0; i < queue.length && found.length < limit; i++) {
    const key = queue[i]!;
    for (const edge of out.get(key) ?? []) {
      if (via.has(edge.to)) continue;
      via.set(edge.to, edge);
      queue.push(edge.to);
      if (wanted(edge.to)) {
        const steps: AttackEdge[] = [];
        for (let at: AttackEdge | null | undefined = edge; at; at = via.get(at.from)) steps.unshift(at);
        found.push({ to: edge.to, steps });
        if (found.length >= limit) break;
      }
    }
  }
  return found;
}
