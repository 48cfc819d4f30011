// Label selectors, as both sinks evaluate them: one matcher and one text form, so the
// embedded and the Neo4j graph select exactly the same nodes.
import { canonicalJson } from "./canonical.js";
import type { GraphSelector, PropertyValue, SelectorRequirement } from "./model.js";

/** The selector the way kubectl writes one: `app=web,tier in (a,b),!legacy`; matchLabels
 *  first (sorted by key), then the requirements in a stable order. */
export function selectorText(selector: Pick<GraphSelector, "matchLabels" | "requirements">): string {
  const parts = Object.keys(selector.matchLabels)
    .sort()
    .map((k) => `${k}=${selector.matchLabels[k]}`);
  const requirements = selector.requirements.map(requirementText).sort();
  return [...parts, ...requirements].join(",");
}

function requirementText(r: SelectorRequirement): string {
  const values = [...r.values].sort().join(",");
  switch (r.operator) {
    case "In":
      return `${r.key} in (${values})`;
    case "NotIn":
      return `${r.key} notin (${values})`;
    case "Exists":
      return r.key;
    case "DoesNotExist":
      return `!${r.key}`;
  }
}

/** A node's `labels` property ("key=value" strings) as a map; anything else is no labels. */
export function labelMap(labels: PropertyValue | unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(labels)) return map;
  for (const pair of labels) {
    if (typeof pair !== "string") continue;
    const eq = pair.indexOf("=");
    // Label keys cannot contain "=", so the first one splits key from value.
    if (eq > 0) map.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return map;
}

/** Kubernetes label-selector semantics: every matchLabel and every requirement holds
 *  (an empty selector matches everything). */
export function selectorMatches(selector: Pick<GraphSelector, "matchLabels" | "requirements">, labels: Map<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels.get(k) !== v) return false;
  for (const r of selector.requirements) {
    const value = labels.get(r.key);
    switch (r.operator) {
      case "In":
        if (value === undefined || !r.values.includes(value)) return false;
        break;
      case "NotIn":
        if (value !== undefined && r.values.includes(value)) return false;
        break;
      case "Exists":
        if (value === undefined) return false;
        break;
      case "DoesNotExist":
        if (value !== undefined) return false;
        break;
    }
  }
  return true;
}

/** A selector as the sinks store it: what matching needs, as one JSON text. */
export function selectorSpec(selector: Pick<GraphSelector, "matchLabels" | "requirements">): string {
  return canonicalJson({ matchLabels: selector.matchLabels, requirements: selector.requirements });
}

export function parseSelectorSpec(spec: string): Pick<GraphSelector, "matchLabels" | "requirements"> {
  return JSON.parse(spec) as Pick<GraphSelector, "matchLabels" | "requirements">;
}
