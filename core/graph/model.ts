// The graph the sinks store, and the operations that change it. Both sinks (embedded
// SQLite, Neo4j) implement the same operations with the same meaning, so a replayed or
// repeated batch leaves the same graph (idempotent).
//
// Ownership: every edge, and every node that only exists because of one object (e.g. a
// Pod's Volume nodes), carries `owner`, the key of the object that declared it. On upsert
// an owner's edges and owned nodes are replaced; on delete they go. Nodes an object refers
// to but does not own (a Secret named by a Pod, a ContainerImage) are placeholders until
// observed; one that nothing references any more and that is not observed is removed.

/** Property values both sinks can store: scalars and lists of scalars (Neo4j has no maps). */
export type Scalar = string | number | boolean;
export type PropertyValue = Scalar | Scalar[];
export type Properties = Record<string, PropertyValue>;

export interface GraphNode {
  /** Primary label, e.g. "Pod". Every node also has the label ENTITY_LABEL. */
  label: string;
  key: string;
  properties: Properties;
  /** Set on an upsert's main node (an observed object): the relist scope it belongs to,
   *  `cluster/namespace/Label` (`cluster//Label` when cluster-scoped). */
  scope?: string;
}

export interface GraphEdge {
  type: string;
  from: string;
  to: string;
  properties: Properties;
}

/** A referenced node that may not be observed yet: created with these properties (and
 *  observed = false) if missing, left alone if it exists. */
export interface Placeholder {
  label: string;
  key: string;
  properties: Properties;
}

/** One requirement of a label selector. */
export interface SelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values: string[];
}

/** A label selector an object declares; the sink keeps an edge from `from` to every
 *  observed object node of `scope` whose `labels` match (core/graph/selector.ts). */
export interface GraphSelector {
  type: string;
  /** The owner's node or a node it owns. */
  from: string;
  /** The scope of the selected nodes, `cluster/namespace/Label` (as GraphNode.scope). */
  scope: string;
  matchLabels: Record<string, string>;
  requirements: SelectorRequirement[];
  /** Properties of the edges it makes (the sink adds `owner` and `selector`). */
  properties: Properties;
}

export type GraphOp =
  /** The object `node` exists in this state; `owned`, `edges` and `selectors` replace what
   *  it had. `links` are edges between placeholders, each owned by the one it starts at
   *  (facts about that reference alone, e.g. an image's registry). */
  | {
      op: "upsert";
      node: GraphNode;
      owned: GraphNode[];
      placeholders: Placeholder[];
      edges: GraphEdge[];
      links?: GraphEdge[];
      selectors?: GraphSelector[];
    }
  /** The object is gone: its owned nodes and edges go; if others still reference it, it
   *  stays as a placeholder (a dangling reference is a finding, not an error). */
  | { op: "delete"; key: string }
  /** Relist boundary: observed nodes of `scope` whose key is not in `present` are deleted.
   *  `cluster/*\/Label` is every namespace's scope of that label, but those in `except`
   *  (a cluster-wide observer's relist; core/graph/keys.ts scopeCovers). */
  | { op: "sweep"; scope: string; present: string[]; except?: string[] };

/** Edges derived from the graph rather than declared by an object (attack edges,
 *  core/insight/attack/): owned by a derivation scope (`derived:…`), marked `derived:
 *  true`, and only ever between observed nodes. They are not references: an object
 *  deleted or swept takes its derived edges with it and never stays as a placeholder
 *  for them. */
export const DERIVED_OWNER_PREFIX = "derived:";

/** The derived edge types (docs/graph-schema.md, "Attack edges"); Neo4j indexes their owner. */
export const DERIVED_RELATIONSHIPS = [
  "CAN_READ_SECRET",
  "CAN_CREATE_PODS_IN",
  "CAN_EXEC_INTO",
  "CAN_ESCALATE_TO",
  "IS_CLUSTER_ADMIN",
  "CAN_ESCAPE_TO",
  "HOLDS_TOKEN_OF",
  "USES_TOKEN_OF",
  "CAN_MOUNT",
] as const;

/** The derived edges of one scope, replacing what it had (GraphSink.replaceDerived). */
export interface DerivedEdgeSet {
  owner: string;
  edges: GraphEdge[];
}

/** The label every node carries, with a uniqueness constraint on `key`. */
export const ENTITY_LABEL = "Entity";

/** Node properties the sinks manage; graph functions may not set them (on edges only
 *  `owner` is reserved). */
export const RESERVED_PROPERTIES = ["key", "owner", "observed", "scope"] as const;

/** Edge properties the sinks manage: `owner` on every edge, `selector` (the selector as
 *  text) on the edges a selector made. */
export const RESERVED_EDGE_PROPERTIES = ["owner", "selector"] as const;

/** The Neo4j label the sink stores selectors under (not an Entity; never exported). */
export const SELECTOR_LABEL = "KoSelector";

export const LABEL_PATTERN = /^[A-Z][A-Za-z0-9]*$/;
export const REL_TYPE_PATTERN = /^[A-Z][A-Z0-9_]*$/;
export const PROPERTY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a plugin declares it may emit; sinks create constraints and queries from it. */
export interface GraphSchema {
  labels: string[];
  relationships: string[];
}

/** Counts per label and per relationship type. */
export interface GraphStats {
  nodes: Record<string, number>;
  edges: Record<string, number>;
}

export type ExportLine =
  | { type: "node"; labels: string[]; key: string; properties: Record<string, unknown> }
  | { type: "edge"; rel: string; from: string; to: string; properties: Record<string, unknown> };

/** An edge into a node together with the node it comes from (for who-uses). */
export interface IncomingEdge {
  rel: string;
  properties: Record<string, unknown>;
  from: { labels: string[]; key: string; properties: Record<string, unknown> };
}

export interface GraphSink {
  readonly kind: "sqlite" | "neo4j";
  /** Creates constraints and indexes for the declared schema (idempotent). */
  init(schema: GraphSchema): Promise<void>;
  /** Registers the agent as the one writer of these clusters (core/graph/writer.ts), kept
   *  alive by heartbeats until close(); a cluster left out is released. Throws
   *  WriterConflictError when another live agent holds one. Sinks whose storage admits
   *  one writer by itself (the embedded graph's file lock) leave it out. */
  registerWriter?(clusters: readonly string[], writer: import("./writer.js").WriterIdentity): Promise<void>;
  /** Applies the operations in order, in one transaction. */
  apply(ops: readonly GraphOp[]): Promise<void>;
  stats(): Promise<GraphStats>;
  /** Every node then every edge, sorted by key (nodes) and (from, rel, to) (edges). */
  export(): AsyncIterable<ExportLine>;
  /** Edges pointing at `key`, with their source nodes. */
  incoming(key: string): Promise<IncomingEdge[]>;
  /** The nodes with one of `labels` and the edges of one of `rels` (whatever their ends),
   *  in export's order: what an analysis over part of the graph reads (who-can reads RBAC,
   *  ServiceAccounts and RUNS_AS, not the whole graph). */
  subgraph(labels: readonly string[], rels: readonly string[]): Promise<ExportLine[]>;
  /** What writing these objects can have changed: the nodes with these keys and the nodes
   *  they own, the edges they own and the edges pointing at them (a selector's SELECTS
   *  follow the selected), the nodes at those edges' other ends, and the links of the
   *  placeholders among them (an image's registry) with their ends; in export's order. A
   *  copy of part of the graph (the live audit's) is brought up to date with it. */
  neighbourhood(keys: readonly string[]): Promise<ExportLine[]>;
  /** Replaces the derived edges of each scope, in one transaction; with `exclusive` (a
   *  scope prefix), every derived edge of a scope under it that is not in `sets` goes too
   *  (a whole derivation). An edge whose ends are not both observed nodes is left out (it
   *  is derived again when they are). */
  replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void>;
  /** The store's graph storage schema version and what this sink did or, not having
   *  opened it for writing, would do about it (core/graph/schema-version.ts). */
  storageSchema?(): Promise<import("./schema-version.js").StorageSchemaStatus>;
  /** Whether the sink answers now (for readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
