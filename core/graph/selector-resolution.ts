// Selector resolution, written once for both sinks (docs/graph-semantics.md, "Selectors").
// The SQLite sink applies inside a synchronous better-sqlite3 transaction and the Neo4j
// sink awaits queries in a managed one, so the algorithm does no I/O itself: it is a
// generator that asks for primitive reads and writes, and a driver per sink answers them
// with the sink's own statements (resolveSelections, resolveSelectionsAsync).
import { labelMap, parseSelectorSpec, selectorMatches } from "./selector.js";

/** A selector as both sinks store it. */
export interface StoredSelector {
  owner: string;
  from: string;
  type: string;
  scope: string;
  /** selectorSpec(): what matching needs, as JSON. */
  spec: string;
  /** The edge properties as canonical JSON, `selector` included, `owner` not. */
  props: string;
}

/** An observed node that has a scope, with its `labels` property as stored. */
export interface ScopedNode {
  key: string;
  scope: string;
  labels: unknown;
}

/** One selected edge to create: `(selector.from)-[selector.type]->(to)`, with the
 *  selector's props and `owner: selector.owner`. */
export interface SelectedEdge {
  selector: StoredSelector;
  to: string;
}

/** What the algorithm asks of a sink: each answer is a plain value. */
interface Calls {
  /** Does any selector exist (after the apply's ops)? */
  anySelector: { args: []; answer: boolean };
  /** Delete every selected edge into these keys. */
  deleteSelectedInto: { args: [keys: readonly string[]]; answer: void };
  /** The selectors these keys own. */
  selectorsOf: { args: [owners: readonly string[]]; answer: StoredSelector[] };
  /** The selectors of these scopes. */
  selectorsIn: { args: [scopes: readonly string[]]; answer: StoredSelector[] };
  /** Every observed node of these scopes. */
  observedIn: { args: [scopes: readonly string[]]; answer: ScopedNode[] };
  /** Those of these keys that exist, are observed and have a scope. */
  observedNodes: { args: [keys: readonly string[]]; answer: ScopedNode[] };
  /** Create these edges (none already exists, none twice). */
  createSelected: { args: [edges: readonly SelectedEdge[]]; answer: void };
}

type Primitive = keyof Calls;

/** A sink's primitives, synchronous (SQLite). */
export type SelectionPrimitives = { [K in Primitive]: (...args: Calls[K]["args"]) => Calls[K]["answer"] };

/** A sink's primitives, asynchronous (Neo4j). */
export type AsyncSelectionPrimitives = { [K in Primitive]: (...args: Calls[K]["args"]) => Promise<Calls[K]["answer"]> };

type RequestOf<K extends Primitive> = { [P in K]: { kind: P; args: Calls[P]["args"] } }[K];
export type SelectionRequest = RequestOf<Primitive>;

/** The algorithm's requests, each answered before the next is made. */
export type SelectionSteps = Generator<SelectionRequest, void, unknown>;

/** Asks the driver one primitive; the driver answers with that primitive's answer. */
function* ask<K extends Primitive>(kind: K, ...args: Calls[K]["args"]): Generator<SelectionRequest, Calls[K]["answer"], unknown> {
  return (yield { kind, args } as SelectionRequest) as Calls[K]["answer"];
}

/** Selected edges into or out of the touched keys (every key the apply upserted or
 *  deleted, swept ones included) become exactly what the stored selectors select now. */
export function* selectionSteps(touched: ReadonlySet<string>): SelectionSteps {
  if (touched.size === 0) return;
  // No selectors (now, after the ops): no selected edges exist (each goes with its
  // selector's owner's edges) and none are to be made.
  if (!(yield* ask("anySelector"))) return;
  const keys = [...touched];
  // Out of a touched key: gone with its owner's edges. Into one: removed here.
  yield* ask("deleteSelectedInto", keys);

  const edges = new Map<string, SelectedEdge>();
  // Parsed once per selector and once per node, not once per pair: a batch touches
  // many objects of few scopes.
  const specs = new Map<StoredSelector, ReturnType<typeof parseSelectorSpec>>();
  const labels = new Map<ScopedNode, Map<string, string>>();
  const select = (s: StoredSelector, n: ScopedNode): void => {
    let spec = specs.get(s);
    if (!spec) {
      spec = parseSelectorSpec(s.spec);
      specs.set(s, spec);
    }
    let map = labels.get(n);
    if (!map) {
      map = labelMap(n.labels);
      labels.set(n, map);
    }
    if (!selectorMatches(spec, map)) return;
    // Exact duplicates (type, from, to, properties with owner) collapse into one edge.
    const identity = JSON.stringify([s.type, s.from, n.key, s.owner, s.props]);
    if (!edges.has(identity)) edges.set(identity, { selector: s, to: n.key });
  };

  // The touched owners' selectors, against every observed node of their scopes.
  const owned = yield* ask("selectorsOf", keys);
  if (owned.length > 0) {
    const candidates = byScope(yield* ask("observedIn", distinct(owned.map((s) => s.scope))));
    for (const s of owned) for (const n of candidates.get(s.scope) ?? []) select(s, n);
  }

  // The touched nodes observed now, against the other owners' selectors of their scopes
  // (the touched owners' ones were matched above).
  const targets = yield* ask("observedNodes", keys);
  if (targets.length > 0) {
    const others = byScope((yield* ask("selectorsIn", distinct(targets.map((t) => t.scope)))).filter((s) => !touched.has(s.owner)));
    for (const t of targets) for (const s of others.get(t.scope) ?? []) select(s, t);
  }

  if (edges.size > 0) yield* ask("createSelected", [...edges.values()]);
}

/** Runs the algorithm against synchronous primitives (inside a SQLite transaction). */
export function resolveSelections(touched: ReadonlySet<string>, primitives: SelectionPrimitives): void {
  const steps = selectionSteps(touched);
  for (let step = steps.next(); !step.done; step = steps.next(perform(primitives, step.value)));
}

/** Runs the algorithm against asynchronous primitives (inside a Neo4j transaction). */
export async function resolveSelectionsAsync(touched: ReadonlySet<string>, primitives: AsyncSelectionPrimitives): Promise<void> {
  const steps = selectionSteps(touched);
  for (let step = steps.next(); !step.done; step = steps.next(await perform(primitives, step.value)));
}

function perform<K extends Primitive>(primitives: SelectionPrimitives, request: RequestOf<K>): Calls[K]["answer"];
function perform<K extends Primitive>(primitives: AsyncSelectionPrimitives, request: RequestOf<K>): Promise<Calls[K]["answer"]>;
function perform<K extends Primitive>(primitives: SelectionPrimitives | AsyncSelectionPrimitives, request: RequestOf<K>): unknown {
  // TypeScript cannot tie request.kind to request.args across the union of primitives.
  const call = primitives[request.kind] as (this: typeof primitives, ...args: Calls[K]["args"]) => unknown;
  return call.call(primitives, ...request.args);
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function byScope<T extends { scope: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.scope);
    if (group) group.push(item);
    else groups.set(item.scope, [item]);
  }
  return groups;
}
