// Checks the shape of what a plugin's graph function returned before it is built into an
// op; a violation is a GraphContractError (the dispatcher parks that message).
import type { GraphFragment, GraphSelectorSpec } from "../plugin/types.js";
import { describe, GraphContractError } from "./contract.js";
import type { SelectorRequirement } from "./model.js";

/** The shape of a fragment (fields and their types), before keys are cross-checked. */
export function checkFragmentShape(fragment: unknown): GraphFragment {
  if (fragment === null || typeof fragment !== "object" || Array.isArray(fragment)) {
    throw new GraphContractError(`toGraph returned ${describe(fragment)}, not an object`);
  }
  const f = fragment as GraphFragment;
  for (const field of ["owned", "references", "edges", "selectors"] as const) {
    if (f[field] !== undefined && !Array.isArray(f[field])) throw new GraphContractError(`toGraph: ${field} must be a list`);
  }
  for (const [i, n] of [...(f.owned ?? []), ...(f.references ?? [])].entries()) {
    if (!n || typeof n.label !== "string" || typeof n.key !== "string" || !n.key)
      throw new GraphContractError(`toGraph: node #${i} needs a label and a non-empty key`);
  }
  for (const [i, e] of (f.edges ?? []).entries()) {
    if (!e || typeof e.type !== "string" || typeof e.to !== "string" || (e.from !== undefined && typeof e.from !== "string")) {
      throw new GraphContractError(`toGraph: edge #${i} needs a type and a "to" key`);
    }
  }
  for (const [i, s] of (f.selectors ?? []).entries()) checkSelectorShape(s, `toGraph: selector #${i}`);
  return f;
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

function checkSelectorShape(s: GraphSelectorSpec, where: string): void {
  if (!s || typeof s !== "object") throw new GraphContractError(`${where} is not an object`);
  if (typeof s.type !== "string" || typeof s.label !== "string") throw new GraphContractError(`${where} needs a type and a label`);
  if (s.from !== undefined && typeof s.from !== "string") throw new GraphContractError(`${where}: from must be a key`);
  if (s.namespace !== null && typeof s.namespace !== "string")
    throw new GraphContractError(`${where}: namespace must be a string, or null for cluster-scoped nodes`);
  if (s.matchLabels !== undefined) {
    if (s.matchLabels === null || typeof s.matchLabels !== "object" || Array.isArray(s.matchLabels))
      throw new GraphContractError(`${where}: matchLabels must be an object`);
    for (const [k, v] of Object.entries(s.matchLabels)) {
      if (typeof v !== "string") throw new GraphContractError(`${where}: matchLabels.${k} must be a string`);
    }
  }
  if (s.matchExpressions !== undefined && !Array.isArray(s.matchExpressions)) throw new GraphContractError(`${where}: matchExpressions must be a list`);
}

/** A selector's requirements, checked the way the apiserver checks a LabelSelector. */
export function selectorRequirements(spec: GraphSelectorSpec, where: string): SelectorRequirement[] {
  return (spec.matchExpressions ?? []).map((r, i) => {
    const at = `${where}: matchExpressions[${i}]`;
    if (!r || typeof r.key !== "string" || !r.key) throw new GraphContractError(`${at} needs a key`);
    if (!OPERATORS.has(r.operator)) throw new GraphContractError(`${at}: operator ${JSON.stringify(r.operator)} is not In, NotIn, Exists or DoesNotExist`);
    const values = r.values ?? [];
    if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) throw new GraphContractError(`${at}: values must be a list of strings`);
    const needsValues = r.operator === "In" || r.operator === "NotIn";
    if (needsValues && values.length === 0) throw new GraphContractError(`${at}: ${r.operator} needs at least one value`);
    if (!needsValues && values.length > 0) throw new GraphContractError(`${at}: ${r.operator} takes no values`);
    return { key: r.key, operator: r.operator, values: [...values] };
  });
}
