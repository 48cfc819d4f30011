// Checks what a plugin's graph function returned before any sink sees it; a violation is a
// MalformedGraphError (the dispatcher parks that message).
import type { GraphFragment, GraphSelectorSpec, GraphValue } from "../plugin/types.js";
import { PROPERTY_PATTERN, RESERVED_EDGE_PROPERTIES, RESERVED_PROPERTIES, type Properties, type PropertyValue, type SelectorRequirement } from "./model.js";

export class MalformedGraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedGraphError";
  }
}

const NODE_RESERVED = new Set<string>(RESERVED_PROPERTIES);
const EDGE_RESERVED = new Set<string>(RESERVED_EDGE_PROPERTIES);

/** Drops null/undefined values; refuses maps, mixed lists, non-finite numbers, bad names. */
export function cleanProperties(input: Record<string, GraphValue> | undefined, where: string, on: "node" | "edge" = "node"): Properties {
  const reserved = on === "node" ? NODE_RESERVED : EDGE_RESERVED;
  const out: Properties = Object.create(null) as Properties;
  if (input === undefined) return out;
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new MalformedGraphError(`${where}: properties must be an object`);
  for (const [name, value] of Object.entries(input)) {
    if (value === null || value === undefined) continue;
    if (!PROPERTY_PATTERN.test(name)) throw new MalformedGraphError(`${where}: property name ${JSON.stringify(name)} is not an identifier`);
    if (reserved.has(name)) throw new MalformedGraphError(`${where}: property "${name}" is managed by the sink`);
    out[name] = checkValue(value, `${where}.${name}`);
  }
  // A plain object again (a null prototype kept "__proto__" an ordinary key above).
  return Object.fromEntries(Object.entries(out)) as Properties;
}

function checkScalar(value: unknown, where: string): string | number | boolean {
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new MalformedGraphError(`${where}: ${describe(value)} is not a string, finite number or boolean`);
}

function checkValue(value: unknown, where: string): PropertyValue {
  if (!Array.isArray(value)) return checkScalar(value, where);
  const items = value.map((v, i) => checkScalar(v, `${where}[${i}]`));
  const types = new Set(items.map((v) => typeof v));
  if (types.size > 1) throw new MalformedGraphError(`${where}: a list must hold one type (has ${[...types].join(", ")})`);
  return items as PropertyValue;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

/** The shape of a fragment (fields and their types), before keys are cross-checked. */
export function checkFragmentShape(fragment: unknown): GraphFragment {
  if (fragment === null || typeof fragment !== "object" || Array.isArray(fragment)) {
    throw new MalformedGraphError(`toGraph returned ${describe(fragment)}, not an object`);
  }
  const f = fragment as GraphFragment;
  for (const field of ["owned", "references", "edges", "selectors"] as const) {
    if (f[field] !== undefined && !Array.isArray(f[field])) throw new MalformedGraphError(`toGraph: ${field} must be a list`);
  }
  for (const [i, n] of [...(f.owned ?? []), ...(f.references ?? [])].entries()) {
    if (!n || typeof n.label !== "string" || typeof n.key !== "string" || !n.key) throw new MalformedGraphError(`toGraph: node #${i} needs a label and a non-empty key`);
  }
  for (const [i, e] of (f.edges ?? []).entries()) {
    if (!e || typeof e.type !== "string" || typeof e.to !== "string" || (e.from !== undefined && typeof e.from !== "string")) {
      throw new MalformedGraphError(`toGraph: edge #${i} needs a type and a "to" key`);
    }
  }
  for (const [i, s] of (f.selectors ?? []).entries()) checkSelectorShape(s, `toGraph: selector #${i}`);
  return f;
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

function checkSelectorShape(s: GraphSelectorSpec, where: string): void {
  if (!s || typeof s !== "object") throw new MalformedGraphError(`${where} is not an object`);
  if (typeof s.type !== "string" || typeof s.label !== "string") throw new MalformedGraphError(`${where} needs a type and a label`);
  if (s.from !== undefined && typeof s.from !== "string") throw new MalformedGraphError(`${where}: from must be a key`);
  if (s.namespace !== null && typeof s.namespace !== "string") throw new MalformedGraphError(`${where}: namespace must be a string, or null for cluster-scoped nodes`);
  if (s.matchLabels !== undefined) {
    if (s.matchLabels === null || typeof s.matchLabels !== "object" || Array.isArray(s.matchLabels)) throw new MalformedGraphError(`${where}: matchLabels must be an object`);
    for (const [k, v] of Object.entries(s.matchLabels)) {
      if (typeof v !== "string") throw new MalformedGraphError(`${where}: matchLabels.${k} must be a string`);
    }
  }
  if (s.matchExpressions !== undefined && !Array.isArray(s.matchExpressions)) throw new MalformedGraphError(`${where}: matchExpressions must be a list`);
}

/** A selector's requirements, checked the way the apiserver checks a LabelSelector. */
export function selectorRequirements(spec: GraphSelectorSpec, where: string): SelectorRequirement[] {
  return (spec.matchExpressions ?? []).map((r, i) => {
    const at = `${where}: matchExpressions[${i}]`;
    if (!r || typeof r.key !== "string" || !r.key) throw new MalformedGraphError(`${at} needs a key`);
    if (!OPERATORS.has(r.operator)) throw new MalformedGraphError(`${at}: operator ${JSON.stringify(r.operator)} is not In, NotIn, Exists or DoesNotExist`);
    const values = r.values ?? [];
    if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) throw new MalformedGraphError(`${at}: values must be a list of strings`);
    const needsValues = r.operator === "In" || r.operator === "NotIn";
    if (needsValues && values.length === 0) throw new MalformedGraphError(`${at}: ${r.operator} needs at least one value`);
    if (!needsValues && values.length > 0) throw new MalformedGraphError(`${at}: ${r.operator} takes no values`);
    return { key: r.key, operator: r.operator, values: [...values] };
  });
}
