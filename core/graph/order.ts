// The order export() and incoming() use, the same in every sink: strings by Unicode code
// point (= UTF-8 byte order, what SQLite's BINARY collation gives), not by UTF-16 code unit
// (what `<` gives: it puts U+10000 and above before U+E000–U+FFFF).
import { canonicalJson } from "./canonical.js";

export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (U+D800–DFFF) stand for code points above U+FFFF: rank them after U+E000–FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

export interface EdgeSortKey {
  rel: string;
  from: string;
  to: string;
  /** canonicalJson(properties), computed once per edge. */
  json: string;
}

export function edgeSortKey(edge: { rel: string; from: string; to: string; properties: Record<string, unknown> }): EdgeSortKey {
  return { rel: edge.rel, from: edge.from, to: edge.to, json: canonicalJson(edge.properties) };
}

/** Edges by (from, rel, to, properties as canonical JSON). */
export function compareEdges(a: EdgeSortKey, b: EdgeSortKey): number {
  return compareCodePoints(a.from, b.from) || compareCodePoints(a.rel, b.rel) || compareCodePoints(a.to, b.to) || compareCodePoints(a.json, b.json);
}

/** A copy with keys in code point order (stable JSON output). */
export function sortedKeys(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(record)
      .sort(compareCodePoints)
      .map((k) => [k, record[k]]),
  );
}
