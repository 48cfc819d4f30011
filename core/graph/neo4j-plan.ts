// Turns a batch of GraphOps into "runs" the Neo4j sink can apply step by step with one
// UNWIND query per (step, label/type), with the same result as applying the ops one by
// one (docs/graph-semantics.md, with garbage collected once per apply).
//
// A run is a stretch of consecutive upserts/deletes. Inside it, ops on the same key are
// coalesced (last wins), and every step runs for all ops at once: remove owned edges, remove
// dropped owned nodes, delete/demote, write nodes, create placeholders, create edges. That
// reordering is only safe while the ops do not touch each other's nodes in an
// order-sensitive way, so a run is cut before an op that would:
//   - delete a key another op of the run names (as its node, owned node or reference), or
//     name a key the run deletes (delete-vs-reference order decides demote or recreate);
//   - own a node another op of the run names, or name a node another op owns.
// A sweep is always a barrier (it reads the graph the ops before it left).
import { canonicalJson } from "./canonical.js";
import {
  PROPERTY_PATTERN,
  RESERVED_EDGE_PROPERTIES,
  RESERVED_PROPERTIES,
  type GraphEdge,
  type GraphNode,
  type GraphOp,
  type GraphSelector,
  type Placeholder,
  type Properties,
  type PropertyValue,
} from "./model.js";
import { selectorSpec, selectorText } from "./selector.js";

/** A property map as written to Neo4j (graph properties plus the managed ones). */
export type Row = Record<string, PropertyValue>;

export interface NodeRow {
  key: string;
  props: Row;
}

export interface EdgeRow {
  from: string;
  to: string;
  props: Row;
}

export interface RunUpsert {
  key: string;
  /** Owned nodes to keep; the owner's other owned nodes are removed. */
  keep: string[];
}

/** A selector as stored: one KoSelector node per row. */
export interface SelectorRow {
  owner: string;
  from: string;
  type: string;
  scope: string;
  spec: string;
  /** The edge properties as JSON, `selector` included. */
  props: string;
}

export interface RunDelete {
  key: string;
  /** Position in the run: other ops' edges count as references only if they come later. */
  pos: number;
  /** Set when the run upserted this key before deleting it: the demoted node takes its
   *  label and trimmed properties from that upsert, as it would one op at a time. */
  demoteTo: { label: string; props: Row } | null;
}

export interface Run {
  upserts: RunUpsert[];
  deletes: RunDelete[];
  /** Position of each key's first op in the run (when its old owned edges went). */
  firstPos: ReadonlyMap<string, number>;
  /** Number of ops folded into the run. */
  size: number;
  nodes: Map<string, NodeRow[]>;
  placeholders: Map<string, NodeRow[]>;
  edges: Map<string, EdgeRow[]>;
  /** Edges between placeholders, created only while their start is a placeholder. */
  links: Map<string, EdgeRow[]>;
  /** The selectors of the run's upserts (those of its upserts and deletes are replaced). */
  selectors: SelectorRow[];
  /** Targets of edges declared by coalesced-away upserts: garbage candidates, as when the
   *  edges had been created and replaced one op at a time. */
  droppedTargets: string[];
}

export type Step = { kind: "run"; run: Run } | { kind: "sweep"; scope: string; present: ReadonlySet<string>; except: readonly string[] };

export class GraphOpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GraphOpError";
  }
}

/** The schema the ops are checked against. */
export interface DeclaredSchema {
  labels: ReadonlySet<string>;
  relationships: ReadonlySet<string>;
}

/** Neo4j refuses index entries above ~8 KB; keys, owners and scopes are all indexed. */
export const MAX_KEY_BYTES = 4096;

const NODE_RESERVED: ReadonlySet<string> = new Set(RESERVED_PROPERTIES);
/** Edges carry `owner` (and `selector` when a selector made them); `key` is a fine edge
 *  property (USES_SECRET's secret key). */
const EDGE_RESERVED: ReadonlySet<string> = new Set(RESERVED_EDGE_PROPERTIES);
/** What a demoted node keeps besides key and observed (docs/graph-semantics.md, delete 2). */
const DEMOTED_KEEPS = ["cluster", "namespace", "name"] as const;

type UpsertOp = Extract<GraphOp, { op: "upsert" }>;
type Entry = { kind: "upsert"; op: UpsertOp } | { kind: "delete"; key: string; demoteTo: RunDelete["demoteTo"] };

// ---------------------------------------------------------------------------------------
// Validation: the dispatcher checks fragments, but the sink refuses anything it cannot
// store faithfully rather than write half of it.

export function validateOps(ops: readonly GraphOp[], schema: DeclaredSchema): void {
  ops.forEach((op, index) => {
    const where = `graph op #${index}`;
    if (op === null || typeof op !== "object") throw new GraphOpError(`${where} is not an object`);
    if (op.op === "upsert") validateUpsert(op, `${where} (upsert ${describeKey(op.node?.key)})`, schema);
    else if (op.op === "delete") checkKey(op.key, `${where} (delete)`);
    else if (op.op === "sweep") validateSweep(op, `${where} (sweep)`);
    else throw new GraphOpError(`${where}: unknown op ${JSON.stringify((op as { op: unknown }).op)}`);
  });
}

function validateUpsert(op: UpsertOp, where: string, schema: DeclaredSchema): void {
  const { node, owned, placeholders, edges } = op;
  if (!node || !Array.isArray(owned) || !Array.isArray(placeholders) || !Array.isArray(edges)) {
    throw new GraphOpError(`${where}: needs node, owned, placeholders and edges`);
  }
  checkNode(node, `${where} node`, schema);
  if (node.scope !== undefined) checkKey(node.scope, `${where} scope`);
  const ownedKeys = new Set<string>();
  for (const [i, o] of owned.entries()) {
    checkNode(o, `${where} owned #${i}`, schema);
    if (o.key === node.key) throw new GraphOpError(`${where} owned #${i}: an owned node cannot have the object's own key`);
    ownedKeys.add(o.key);
  }
  const referenced = new Set<string>();
  for (const [i, p] of placeholders.entries()) {
    checkNode(p, `${where} placeholder #${i}`, schema);
    referenced.add(p.key);
  }
  for (const [i, e] of edges.entries()) checkEdge(e, `${where} edge #${i}`, schema, node.key, ownedKeys, referenced);
  if (op.links !== undefined && !Array.isArray(op.links)) throw new GraphOpError(`${where}: links must be a list`);
  for (const [i, l] of (op.links ?? []).entries()) {
    const at = `${where} link #${i}`;
    if (!l || typeof l !== "object") throw new GraphOpError(`${at} is not an object`);
    if (!referenced.has(l.from) || !referenced.has(l.to)) throw new GraphOpError(`${at}: a link starts and ends at placeholders of the same op`);
    checkEdge(l, at, schema, l.from, ownedKeys, referenced);
  }
  if (op.selectors !== undefined && !Array.isArray(op.selectors)) throw new GraphOpError(`${where}: selectors must be a list`);
  for (const [i, sel] of (op.selectors ?? []).entries()) checkSelector(sel, `${where} selector #${i}`, schema, node.key, ownedKeys);
}

function checkSelector(sel: GraphSelector, where: string, schema: DeclaredSchema, key: string, owned: ReadonlySet<string>): void {
  if (!sel || typeof sel !== "object") throw new GraphOpError(`${where} is not an object`);
  if (!schema.relationships.has(sel.type)) throw new GraphOpError(`${where}: relationship type ${JSON.stringify(sel.type)} is not declared in the graph schema`);
  if (sel.from !== key && !owned.has(sel.from)) throw new GraphOpError(`${where}: starts at ${describeKey(sel.from)}, which is neither the object nor a node it owns`);
  checkKey(sel.scope, `${where} scope`);
  if (sel.matchLabels === null || typeof sel.matchLabels !== "object" || Object.values(sel.matchLabels).some((v) => typeof v !== "string")) {
    throw new GraphOpError(`${where}: matchLabels must map label keys to strings`);
  }
  if (!Array.isArray(sel.requirements)) throw new GraphOpError(`${where}: requirements must be a list`);
  cleanProperties(sel.properties, where, EDGE_RESERVED);
}

function checkNode(node: GraphNode | Placeholder, where: string, schema: DeclaredSchema): void {
  if (!node || typeof node !== "object") throw new GraphOpError(`${where} is not an object`);
  checkKey(node.key, where);
  if (!schema.labels.has(node.label)) {
    throw new GraphOpError(`${where}: label ${JSON.stringify(node.label)} is not declared in the graph schema (declared: ${[...schema.labels].sort().join(", ") || "none"})`);
  }
  cleanProperties(node.properties, `${where} ${describeKey(node.key)}`);
}

function checkEdge(edge: GraphEdge, where: string, schema: DeclaredSchema, key: string, owned: ReadonlySet<string>, referenced: ReadonlySet<string>): void {
  if (!edge || typeof edge !== "object") throw new GraphOpError(`${where} is not an object`);
  if (!schema.relationships.has(edge.type)) {
    throw new GraphOpError(`${where}: relationship type ${JSON.stringify(edge.type)} is not declared in the graph schema (declared: ${[...schema.relationships].sort().join(", ") || "none"})`);
  }
  if (edge.from !== key && !owned.has(edge.from)) {
    throw new GraphOpError(`${where}: starts at ${describeKey(edge.from)}, which is neither the object nor a node it owns`);
  }
  if (edge.to !== key && !owned.has(edge.to) && !referenced.has(edge.to)) {
    throw new GraphOpError(`${where}: ends at ${describeKey(edge.to)}, which is not the object, a node it owns or one of its placeholders`);
  }
  cleanProperties(edge.properties, where, EDGE_RESERVED);
}

function validateSweep(op: Extract<GraphOp, { op: "sweep" }>, where: string): void {
  if (typeof op.scope !== "string" || !op.scope) throw new GraphOpError(`${where}: scope must be a non-empty string`);
  if (!Array.isArray(op.present) || op.present.some((k) => typeof k !== "string")) throw new GraphOpError(`${where}: present must be a list of keys`);
  if (op.except !== undefined && (!Array.isArray(op.except) || op.except.some((n) => typeof n !== "string"))) throw new GraphOpError(`${where}: except must be a list of namespaces`);
}

/** Keys (and scopes, also indexed) must be non-empty and short enough to index. */
function checkKey(key: unknown, where: string): void {
  if (typeof key !== "string" || key === "") throw new GraphOpError(`${where}: a key must be a non-empty string`);
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) throw new GraphOpError(`${where}: ${bytes} bytes is longer than the ${MAX_KEY_BYTES} Neo4j can index`);
}

/** Drops null/undefined values; refuses reserved or non-identifier names, maps, mixed lists
 *  and non-finite numbers. Built with fromEntries so a property named "__proto__" stays one. */
export function cleanProperties(properties: Properties | undefined, where: string, reserved: ReadonlySet<string> = NODE_RESERVED): Row {
  if (properties === undefined) return {};
  if (properties === null || typeof properties !== "object" || Array.isArray(properties)) throw new GraphOpError(`${where}: properties must be an object`);
  const entries: Array<[string, PropertyValue]> = [];
  for (const [name, value] of Object.entries(properties) as Array<[string, unknown]>) {
    if (value === null || value === undefined) continue;
    if (!PROPERTY_PATTERN.test(name)) throw new GraphOpError(`${where}: property name ${JSON.stringify(name)} is not an identifier`);
    if (reserved.has(name)) throw new GraphOpError(`${where}: property "${name}" is managed by the sink`);
    entries.push([name, checkValue(value, `${where}: property "${name}"`)]);
  }
  return Object.fromEntries(entries);
}

function checkValue(value: unknown, where: string): PropertyValue {
  if (!Array.isArray(value)) return checkScalar(value, where);
  const types = new Set(value.map((v) => typeof checkScalar(v, where)));
  if (types.size > 1) throw new GraphOpError(`${where}: a list must hold values of one type (has ${[...types].join(", ")})`);
  return value as PropertyValue;
}

function checkScalar(value: unknown, where: string): string | number | boolean {
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new GraphOpError(`${where}: ${value === null ? "null" : typeof value === "number" ? String(value) : typeof value} is not a string, finite number or boolean`);
}

function describeKey(key: unknown): string {
  if (typeof key !== "string") return String(key);
  return JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key);
}

// ---------------------------------------------------------------------------------------
// Planning

/** Splits validated ops into runs and sweeps (see the header for the rules). */
export function planOps(ops: readonly GraphOp[]): Step[] {
  const steps: Step[] = [];
  let run = new RunBuilder();
  const flush = (): void => {
    if (!run.isEmpty) steps.push({ kind: "run", run: run.build() });
    run = new RunBuilder();
  };
  for (const op of ops) {
    if (op.op === "sweep") {
      flush();
      steps.push({ kind: "sweep", scope: op.scope, present: new Set(op.present), except: op.except ?? [] });
      continue;
    }
    if (!run.accepts(op)) flush();
    run.add(op);
  }
  flush();
  return steps;
}

/** The deletes of a sweep, as one set: all at position 0, so a swept node referenced
 *  only by other swept nodes is deleted, whatever order the keys come in. */
export function sweepRun(keys: readonly string[]): Run {
  const run = new RunBuilder();
  for (const key of keys) run.add({ op: "delete", key });
  const built = run.build();
  return { ...built, deletes: built.deletes.map((d) => ({ ...d, pos: 0 })), firstPos: new Map(keys.map((k) => [k, 0])) };
}

class RunBuilder {
  private readonly entries = new Map<string, Entry>();
  private readonly firstPos = new Map<string, number>();
  private readonly lastPos = new Map<string, number>();
  /** key -> keys of the ops naming it (as their node, an owned node or a placeholder). */
  private readonly namedBy = new Map<string, Set<string>>();
  /** owned node key -> its owner's key. */
  private readonly ownerOf = new Map<string, string>();
  /** The first declaration of each placeholder key wins, as with create-if-missing. */
  private readonly placeholders = new Map<string, Placeholder>();
  private readonly droppedTargets = new Set<string>();
  /** Links in op order; the same link twice is one edge. */
  private readonly links = new Map<string, { type: string; row: EdgeRow }>();
  private size = 0;

  get isEmpty(): boolean {
    return this.size === 0;
  }

  accepts(op: Exclude<GraphOp, { op: "sweep" }>): boolean {
    if (op.op === "delete") return !this.namedByOthers(op.key, op.key);
    const key = op.node.key;
    const owner = this.ownerOf.get(key);
    if (owner !== undefined && owner !== key) return false;
    for (const o of op.owned) if (this.namedByOthers(o.key, key)) return false;
    for (const named of namesOf(op)) {
      if (named === key) continue;
      if (this.entries.get(named)?.kind === "delete") return false;
      const namedOwner = this.ownerOf.get(named);
      if (namedOwner !== undefined && namedOwner !== key) return false;
    }
    return true;
  }

  add(op: Exclude<GraphOp, { op: "sweep" }>): void {
    const key = op.op === "delete" ? op.key : op.node.key;
    const pos = this.size++;
    if (!this.firstPos.has(key)) this.firstPos.set(key, pos);
    this.lastPos.set(key, pos);
    const previous = this.entries.get(key);
    // Re-insert so the entry sits at its latest position (rows follow op order).
    this.entries.delete(key);
    if (op.op === "delete") {
      this.entries.set(key, { kind: "delete", key, demoteTo: this.demotionAfter(previous) });
      this.dropUpsert(previous);
      this.name(key, key);
      return;
    }
    this.dropUpsert(previous);
    this.entries.set(key, { kind: "upsert", op });
    for (const named of namesOf(op)) this.name(named, key);
    for (const o of op.owned) this.ownerOf.set(o.key, key);
    // Naming its own node or an owned node as a placeholder is a no-op (written just
    // before); it must not resurrect that node if a later delete in the run removes it.
    const own = new Set([key, ...op.owned.map((o) => o.key)]);
    for (const p of op.placeholders) if (!own.has(p.key) && !this.placeholders.has(p.key)) this.placeholders.set(p.key, p);
    for (const l of op.links ?? []) {
      const props: Row = { ...cleanProperties(l.properties, l.type, EDGE_RESERVED), owner: l.from };
      const identity = canonicalJson([l.type, l.from, l.to, props]);
      if (!this.links.has(identity)) this.links.set(identity, { type: l.type, row: { from: l.from, to: l.to, props } });
    }
  }

  build(): Run {
    const upserts: RunUpsert[] = [];
    const deletes: RunDelete[] = [];
    const nodes = new Map<string, NodeRow[]>();
    const edges = new Map<string, EdgeRow[]>();
    const selectors: SelectorRow[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.kind === "delete") {
        deletes.push({ key, pos: this.lastPos.get(key) ?? 0, demoteTo: entry.demoteTo });
        continue;
      }
      upserts.push({ key, keep: entry.op.owned.map((o) => o.key) });
      addNodeRows(nodes, entry.op);
      addEdgeRows(edges, entry.op);
      for (const sel of entry.op.selectors ?? []) selectors.push(selectorRow(key, sel));
    }
    const links = new Map<string, EdgeRow[]>();
    for (const { type, row } of this.links.values()) pushTo(links, type, row);
    const placeholders = new Map<string, NodeRow[]>();
    for (const p of this.placeholders.values()) {
      pushTo(placeholders, p.label, { key: p.key, props: { ...cleanProperties(p.properties, p.key), key: p.key, observed: false } });
    }
    return {
      upserts,
      deletes,
      firstPos: new Map(this.firstPos),
      size: this.size,
      nodes,
      placeholders,
      edges,
      links,
      selectors,
      droppedTargets: [...this.droppedTargets],
    };
  }

  private namedByOthers(key: string, self: string): boolean {
    const names = this.namedBy.get(key);
    if (names === undefined) return false;
    for (const k of names) if (k !== self) return true;
    return false;
  }

  private name(named: string, by: string): void {
    let set = this.namedBy.get(named);
    if (set === undefined) this.namedBy.set(named, (set = new Set()));
    set.add(by);
  }

  /** Upsert then delete: one op at a time, the delete would demote the upserted node. */
  private demotionAfter(previous: Entry | undefined): RunDelete["demoteTo"] {
    if (previous?.kind === "delete") return previous.demoteTo;
    if (previous?.kind !== "upsert") return null;
    const { label, properties } = previous.op.node;
    return { label, props: demotedProperties(cleanProperties(properties, previous.op.node.key)) };
  }

  private dropUpsert(previous: Entry | undefined): void {
    if (previous?.kind !== "upsert") return;
    for (const e of previous.op.edges) this.droppedTargets.add(e.to);
  }
}

/** Every key an upsert names: its node, its owned nodes and its placeholders (edges only
 *  connect those, validateOps checks it). */
function namesOf(op: UpsertOp): string[] {
  return [op.node.key, ...op.owned.map((o) => o.key), ...op.placeholders.map((p) => p.key)];
}

/** The properties a demoted node keeps (without key/observed, which the query sets). */
export function demotedProperties(props: Row): Row {
  return Object.fromEntries(DEMOTED_KEEPS.flatMap((name) => (props[name] === undefined ? [] : [[name, props[name]] as const])));
}

function addNodeRows(nodes: Map<string, NodeRow[]>, op: UpsertOp): void {
  const { node } = op;
  const own: Row = { ...cleanProperties(node.properties, node.key), key: node.key, owner: node.key, observed: true };
  if (node.scope !== undefined) own.scope = node.scope;
  pushTo(nodes, node.label, { key: node.key, props: own });
  // The same owned key twice in one op: the last one wins, as sequential writes would.
  const owned = new Map(op.owned.map((o) => [o.key, o]));
  for (const o of owned.values()) {
    pushTo(nodes, o.label, { key: o.key, props: { ...cleanProperties(o.properties, o.key), key: o.key, owner: node.key, observed: true } });
  }
}

/** Exact duplicates (type, from, to, properties) collapse into one edge. */
function addEdgeRows(edges: Map<string, EdgeRow[]>, op: UpsertOp): void {
  const seen = new Set<string>();
  for (const e of op.edges) {
    const props: Row = { ...cleanProperties(e.properties, e.type, EDGE_RESERVED), owner: op.node.key };
    const identity = canonicalJson([e.type, e.from, e.to, props]);
    if (seen.has(identity)) continue;
    seen.add(identity);
    pushTo(edges, e.type, { from: e.from, to: e.to, props });
  }
}

function selectorRow(owner: string, sel: GraphSelector): SelectorRow {
  const props: Row = { ...cleanProperties(sel.properties, sel.type, EDGE_RESERVED), selector: selectorText(sel) };
  return { owner, from: sel.from, type: sel.type, scope: sel.scope, spec: selectorSpec(sel), props: canonicalJson(props) };
}

function pushTo<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
