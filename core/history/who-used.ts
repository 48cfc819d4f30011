// "Who used X between T1 and T2?": each object whose edges pointed at X in that window,
// directly or through a node it owned (a Pod's Volume BACKED_BY a Secret), with the
// intervals in which it did. The past form of core/graph/who-uses.ts.
import { storedKey } from "../graph/limits.js";
import { describeEdge, type Usage } from "../graph/who-uses.js";
import type { EdgeVersion, HistoryReader, Interval } from "./reader.js";

export interface PastUsage extends Usage {
  /** When it used the target (whole intervals, not cut to the window asked about); merged,
   *  oldest first. */
  intervals: Interval[];
}

/** The part of both intervals that is in both (null: none). */
function intersect(a: Interval, b: Interval): Interval | null {
  const fromMs = Math.max(a.fromMs, b.fromMs);
  const toMs = a.toMs === null ? b.toMs : b.toMs === null ? a.toMs : Math.min(a.toMs, b.toMs);
  return toMs !== null && toMs < fromMs ? null : { fromMs, toMs };
}

/** Overlapping and touching intervals become one. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.fromMs - b.fromMs);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged.at(-1);
    if (last && (last.toMs === null || i.fromMs <= last.toMs)) {
      last.toMs = last.toMs === null || i.toMs === null ? null : Math.max(last.toMs, i.toMs);
    } else merged.push({ ...i });
  }
  return merged;
}

export function whoUsedBetween(reader: HistoryReader, targetKey: string, fromMs: number, toMs: number): PastUsage[] {
  const target = storedKey(targetKey);
  const found = new Map<string, PastUsage>();
  const add = (userKey: string, how: Usage["how"], interval: Interval | null) => {
    if (interval === null) return;
    const id = `${userKey}\u0000${JSON.stringify(how)}`;
    let usage = found.get(id);
    if (!usage) {
      const node = reader.nodeNear(userKey, interval.fromMs);
      const props = node?.properties ?? {};
      usage = {
        user: {
          label: node?.label ?? "",
          key: userKey,
          name: String(props.name ?? userKey),
          namespace: typeof props.namespace === "string" ? props.namespace : null,
        },
        how,
        intervals: [],
      };
      found.set(id, usage);
    }
    usage.intervals.push(interval);
  };
  for (const edge of reader.incomingBetween(target, fromMs, toMs)) {
    const source = reader.nodeNear(edge.from, edge.fromMs);
    const owner = source?.properties.owner;
    if (typeof owner === "string" && owner !== edge.from) {
      // An owned node (a Volume): its owner used the target while both edges held.
      for (const ownerEdge of reader.incomingBetween(edge.from, fromMs, toMs, owner)) {
        const both = intersect(edge, ownerEdge);
        add(owner, [describeEdge(ownerEdge, String(source?.properties.name ?? edge.from)), describeEdge(edge)], both);
      }
    } else {
      add(edge.from, [describeEdge(edge)], { fromMs: edge.fromMs, toMs: edge.toMs });
    }
  }
  const usages = [...found.values()].map((u) => ({ ...u, intervals: mergeIntervals(u.intervals) }));
  usages.sort((a, b) => (a.user.key < b.user.key ? -1 : a.user.key > b.user.key ? 1 : 0) || (a.intervals[0]?.fromMs ?? 0) - (b.intervals[0]?.fromMs ?? 0));
  return usages;
}
