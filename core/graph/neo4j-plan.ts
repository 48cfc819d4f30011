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
import { withoutNulls } from "./contract.js";
import type { StoredSelector } from "./selector-resolution.js";
import type { GraphOp, GraphSelector, Placeholder, PropertyValue } from "./model.js";
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
export type SelectorRow = StoredSelector;

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

/** What a demoted node keeps besides key and observed (docs/graph-semantics.md, delete 2). */
const DEMOTED_KEEPS = ["cluster", "namespace", "name"] as const;

type UpsertOp = Extract<GraphOp, { op: "upsert" }>;
type Entry = { kind: "upsert"; op: UpsertOp } | { kind: "delete"; key: string; demoteTo: RunDelete["demoteTo"] };

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
      const props: Row = { ...withoutNulls(l.properties), owner: l.from };
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
      pushTo(placeholders, p.label, { key: p.key, props: { ...withoutNulls(p.properties), key: p.key, observed: false } });
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
    if (set === undefined) {
      set = new Set();
      this.namedBy.set(named, set);
    }
    set.add(by);
  }

  /** Upsert then delete: one op at a time, the delete would demote the upserted node. */
  private demotionAfter(previous: Entry | undefined): RunDelete["demoteTo"] {
    if (previous?.kind === "delete") return previous.demoteTo;
    if (previous?.kind !== "upsert") return null;
    const { label, properties } = previous.op.node;
    return { label, props: demotedProperties(withoutNulls(properties)) };
  }

  private dropUpsert(previous: Entry | undefined): void {
    if (previous?.kind !== "upsert") return;
    for (const e of previous.op.edges) this.droppedTargets.add(e.to);
  }
}

/** Every key an upsert names: its node, its owned nodes and its placeholders (edges only
 *  connect those: the graph contract, core/graph/contract.ts). */
function namesOf(op: UpsertOp): string[] {
  return [op.node.key, ...op.owned.map((o) => o.key), ...op.placeholders.map((p) => p.key)];
}

/** The properties a demoted node keeps (without key/observed, which the query sets). */
export function demotedProperties(props: Row): Row {
  return Object.fromEntries(DEMOTED_KEEPS.flatMap((name) => (props[name] === undefined ? [] : [[name, props[name]] as const])));
}

function addNodeRows(nodes: Map<string, NodeRow[]>, op: UpsertOp): void {
  const { node } = op;
  const own: Row = { ...withoutNulls(node.properties), key: node.key, owner: node.key, observed: true };
  if (node.scope !== undefined) own.scope = node.scope;
  pushTo(nodes, node.label, { key: node.key, props: own });
  // The same owned key twice in one op: the last one wins, as sequential writes would.
  const owned = new Map(op.owned.map((o) => [o.key, o]));
  for (const o of owned.values()) {
    pushTo(nodes, o.label, { key: o.key, props: { ...withoutNulls(o.properties), key: o.key, owner: node.key, observed: true } });
  }
}

/** Exact duplicates (type, from, to, properties) collapse into one edge. The properties
 *  are compared (as canonical JSON) only between edges of the same type and ends. */
function addEdgeRows(edges: Map<string, EdgeRow[]>, op: UpsertOp): void {
  const seen = new Map<string, EdgeRow[]>();
  for (const e of op.edges) {
    const props: Row = { ...withoutNulls(e.properties), owner: op.node.key };
    const ends = `${e.type}\u0000${e.from}\u0000${e.to}`;
    const same = seen.get(ends);
    const row: EdgeRow = { from: e.from, to: e.to, props };
    if (same === undefined) seen.set(ends, [row]);
    else if (same.some((r) => canonicalJson(r.props) === canonicalJson(props))) continue;
    else same.push(row);
    pushTo(edges, e.type, row);
  }
}

function selectorRow(owner: string, sel: GraphSelector): SelectorRow {
  const props: Row = { ...withoutNulls(sel.properties), selector: selectorText(sel) };
  return { owner, from: sel.from, type: sel.type, scope: sel.scope, spec: selectorSpec(sel), props: canonicalJson(props) };
}

function pushTo<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
