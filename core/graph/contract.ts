// The graph contract: what an op must be for either sink to store it faithfully. Checked
// once. The dispatcher's translation (core/dispatch/translate.ts) builds ops that hold it
// by construction and marks them conforming; a sink checks only ops that are not marked
// (tests, benchmarks, tools that build ops by hand), with the same rules and the same
// error class. A violation is deterministic: the dispatcher parks that message alone.
import { MAX_KEY_BYTES, checkSinkLimits } from "./limits.js";
import {
  LABEL_PATTERN,
  PROPERTY_PATTERN,
  REL_TYPE_PATTERN,
  RESERVED_EDGE_PROPERTIES,
  RESERVED_PROPERTIES,
  type GraphEdge,
  type GraphNode,
  type GraphOp,
  type GraphSchema,
  type GraphSelector,
  type Placeholder,
  type Properties,
  type PropertyValue,
} from "./model.js";

/** An op (or a plugin's fragment) breaks the graph contract. */
export class GraphContractError extends Error {
  readonly deterministic = true;
  constructor(message: string) {
    super(message);
    this.name = "GraphContractError";
  }
}

const NODE_RESERVED: ReadonlySet<string> = new Set(RESERVED_PROPERTIES);
/** Edges carry `owner` (and `selector` when a selector made them); `key` is a fine edge
 *  property (USES_SECRET's secret key). */
const EDGE_RESERVED: ReadonlySet<string> = new Set(RESERVED_EDGE_PROPERTIES);

// ---------------------------------------------------------------------------------------
// Conforming ops: marked by whoever built them under the contract, so no sink checks
// them again. A WeakSet: an op object is marked, not a copy of it.

const conforming = new WeakSet<GraphOp>();

/** Marks an op built under the contract (core/dispatch/translate.ts). */
export function markConforming<T extends GraphOp>(op: T): T {
  conforming.add(op);
  return op;
}

export function isConforming(op: GraphOp): boolean {
  return conforming.has(op);
}

// ---------------------------------------------------------------------------------------
// Properties

/** Drops null/undefined values; refuses maps, mixed lists, non-finite numbers, bad names
 *  and names the sinks manage. A plain object is returned (built with fromEntries, so a
 *  property named "__proto__" stays an ordinary key). */
export function cleanProperties(input: Record<string, unknown> | undefined, where: string, on: "node" | "edge" = "node"): Properties {
  if (input === undefined) return {};
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new GraphContractError(`${where}: properties must be an object`);
  const reserved = on === "node" ? NODE_RESERVED : EDGE_RESERVED;
  const entries: Array<[string, PropertyValue]> = [];
  for (const [name, value] of Object.entries(input)) {
    if (value === null || value === undefined) continue;
    if (!PROPERTY_PATTERN.test(name)) throw new GraphContractError(`${where}: property name ${JSON.stringify(name)} is not an identifier`);
    if (reserved.has(name)) throw new GraphContractError(`${where}: property "${name}" is managed by the sink`);
    entries.push([name, checkValue(value, `${where}.${name}`)]);
  }
  return Object.fromEntries(entries) as Properties;
}

/** The properties without null/undefined values (the same object when it has none). */
export function withoutNulls(properties: Properties | undefined): Properties {
  if (properties === undefined) return {};
  for (const name in properties) {
    const value = properties[name] as unknown;
    if (value === null || value === undefined)
      return Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== null && v !== undefined)) as Properties;
  }
  return properties;
}

function checkScalar(value: unknown, where: string): string | number | boolean {
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new GraphContractError(`${where}: ${describe(value)} is not a string, finite number or boolean`);
}

function checkValue(value: unknown, where: string): PropertyValue {
  if (!Array.isArray(value)) return checkScalar(value, where);
  const items = value.map((v, i) => checkScalar(v, `${where}[${i}]`));
  const types = new Set(items.map((v) => typeof v));
  if (types.size > 1) throw new GraphContractError(`${where}: a list must hold one type (has ${[...types].join(", ")})`);
  return items as PropertyValue;
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "number") return String(value);
  // Never the value itself: a plugin's bad property can be anything it read.
  if (value === undefined) return "undefined";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

// ---------------------------------------------------------------------------------------
// The declared schema, compiled once per sink

export function checkLabel(name: unknown, reservedLabels: readonly string[] = []): string {
  if (typeof name !== "string" || !LABEL_PATTERN.test(name))
    throw new GraphContractError(`graph schema: ${JSON.stringify(name)} is not a valid label (${LABEL_PATTERN})`);
  if (reservedLabels.includes(name)) throw new GraphContractError(`graph schema: "${name}" is a label the sink itself uses; it cannot be declared`);
  return name;
}

export function checkRelType(name: unknown): string {
  if (typeof name !== "string" || !REL_TYPE_PATTERN.test(name))
    throw new GraphContractError(`graph schema: ${JSON.stringify(name)} is not a valid relationship type (${REL_TYPE_PATTERN})`);
  return name;
}

type UpsertOp = Extract<GraphOp, { op: "upsert" }>;

/** The contract for one declared schema. Without a schema (a sink used before init),
 *  labels and relationship types are not checked against a declaration. */
export class GraphContract {
  readonly labels = new Set<string>();
  readonly relationships = new Set<string>();
  private declared = false;

  /** Adds a plugin set's declared labels and types (validated names). */
  declare(schema: GraphSchema, reservedLabels: readonly string[] = []): void {
    for (const l of schema.labels) this.labels.add(checkLabel(l, reservedLabels));
    for (const t of schema.relationships) this.relationships.add(checkRelType(t));
    this.declared = true;
  }

  /** Throws GraphContractError for the first op that breaks the contract; marked ops
   *  (built under it) are not checked again. */
  check(ops: readonly GraphOp[]): void {
    const unchecked: GraphOp[] = [];
    ops.forEach((op, index) => {
      if (op !== null && typeof op === "object" && conforming.has(op)) return;
      const where = `graph op #${index}`;
      if (op === null || typeof op !== "object") throw new GraphContractError(`${where} is not an object`);
      if (op.op === "upsert") this.checkUpsert(op, `${where} (upsert ${describeKey(op.node?.key)})`);
      else if (op.op === "delete") checkKey(op.key, `${where} (delete)`);
      else if (op.op === "sweep") checkSweep(op, `${where} (sweep)`);
      else throw new GraphContractError(`${where}: unknown op ${JSON.stringify((op as { op: unknown }).op)}`);
      unchecked.push(op);
    });
    checkSinkLimits(unchecked);
  }

  private checkUpsert(op: UpsertOp, where: string): void {
    const { node, owned, placeholders, edges } = op;
    if (!node || !Array.isArray(owned) || !Array.isArray(placeholders) || !Array.isArray(edges)) {
      throw new GraphContractError(`${where}: needs node, owned, placeholders and edges`);
    }
    this.checkNode(node, `${where} node`);
    if (node.scope !== undefined) checkKey(node.scope, `${where} scope`);
    const ownedKeys = new Set<string>();
    for (const [i, o] of owned.entries()) {
      this.checkNode(o, `${where} owned #${i}`);
      if (o.key === node.key) throw new GraphContractError(`${where} owned #${i}: an owned node cannot have the object's own key`);
      ownedKeys.add(o.key);
    }
    const referenced = new Set<string>();
    for (const [i, p] of placeholders.entries()) {
      this.checkNode(p, `${where} placeholder #${i}`);
      referenced.add(p.key);
    }
    for (const [i, e] of edges.entries()) this.checkEdge(e, `${where} edge #${i}`, node.key, ownedKeys, referenced);
    if (op.links !== undefined && !Array.isArray(op.links)) throw new GraphContractError(`${where}: links must be a list`);
    for (const [i, l] of (op.links ?? []).entries()) {
      const at = `${where} link #${i}`;
      if (!l || typeof l !== "object") throw new GraphContractError(`${at} is not an object`);
      if (!referenced.has(l.from) || !referenced.has(l.to)) throw new GraphContractError(`${at}: a link starts and ends at placeholders of the same op`);
      this.checkEdge(l, at, l.from, ownedKeys, referenced);
    }
    if (op.selectors !== undefined && !Array.isArray(op.selectors)) throw new GraphContractError(`${where}: selectors must be a list`);
    for (const [i, sel] of (op.selectors ?? []).entries()) this.checkSelector(sel, `${where} selector #${i}`, node.key, ownedKeys);
  }

  private checkNode(node: GraphNode | Placeholder, where: string): void {
    if (!node || typeof node !== "object") throw new GraphContractError(`${where} is not an object`);
    checkKey(node.key, where);
    if (typeof node.label !== "string" || (this.declared ? !this.labels.has(node.label) : !LABEL_PATTERN.test(node.label))) {
      throw new GraphContractError(
        `${where}: label ${JSON.stringify(node.label)} is not declared in the graph schema (declared: ${[...this.labels].sort().join(", ") || "none"})`,
      );
    }
    cleanProperties(node.properties, `${where} ${describeKey(node.key)}`);
  }

  private checkType(type: unknown, where: string): void {
    if (typeof type !== "string" || (this.declared ? !this.relationships.has(type) : !REL_TYPE_PATTERN.test(type))) {
      throw new GraphContractError(
        `${where}: relationship type ${JSON.stringify(type)} is not declared in the graph schema (declared: ${[...this.relationships].sort().join(", ") || "none"})`,
      );
    }
  }

  private checkEdge(edge: GraphEdge, where: string, key: string, owned: ReadonlySet<string>, referenced: ReadonlySet<string>): void {
    if (!edge || typeof edge !== "object") throw new GraphContractError(`${where} is not an object`);
    this.checkType(edge.type, where);
    if (edge.from !== key && !owned.has(edge.from)) {
      throw new GraphContractError(`${where}: starts at ${describeKey(edge.from)}, which is neither the object nor a node it owns`);
    }
    if (edge.to !== key && !owned.has(edge.to) && !referenced.has(edge.to)) {
      throw new GraphContractError(`${where}: ends at ${describeKey(edge.to)}, which is not the object, a node it owns or one of its placeholders`);
    }
    cleanProperties(edge.properties, where, "edge");
  }

  private checkSelector(sel: GraphSelector, where: string, key: string, owned: ReadonlySet<string>): void {
    if (!sel || typeof sel !== "object") throw new GraphContractError(`${where} is not an object`);
    this.checkType(sel.type, where);
    if (sel.from !== key && !owned.has(sel.from))
      throw new GraphContractError(`${where}: starts at ${describeKey(sel.from)}, which is neither the object nor a node it owns`);
    checkKey(sel.scope, `${where} scope`);
    if (sel.matchLabels === null || typeof sel.matchLabels !== "object" || Object.values(sel.matchLabels).some((v) => typeof v !== "string")) {
      throw new GraphContractError(`${where}: matchLabels must map label keys to strings`);
    }
    if (!Array.isArray(sel.requirements)) throw new GraphContractError(`${where}: requirements must be a list`);
    cleanProperties(sel.properties, where, "edge");
  }
}

function checkSweep(op: Extract<GraphOp, { op: "sweep" }>, where: string): void {
  if (typeof op.scope !== "string" || !op.scope) throw new GraphContractError(`${where}: scope must be a non-empty string`);
  if (!Array.isArray(op.present) || op.present.some((k) => typeof k !== "string")) throw new GraphContractError(`${where}: present must be a list of keys`);
  if (op.except !== undefined && (!Array.isArray(op.except) || op.except.some((n) => typeof n !== "string")))
    throw new GraphContractError(`${where}: except must be a list of namespaces`);
}

/** Keys (and scopes, also indexed) must be non-empty and short enough to index: longer
 *  ones are stored as limits.ts storedKey() makes them. */
function checkKey(key: unknown, where: string): void {
  if (typeof key !== "string" || key === "") throw new GraphContractError(`${where}: a key must be a non-empty string`);
  if (key.length * 3 <= MAX_KEY_BYTES) return;
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES)
    throw new GraphContractError(`${where}: ${bytes} bytes is longer than the ${MAX_KEY_BYTES} a key may have (storedKey() makes a long key fit)`);
}

export function describeKey(key: unknown): string {
  if (typeof key !== "string") return String(key);
  return JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key);
}
