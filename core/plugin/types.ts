// The resource plugin contract. A plugin is one file (in plugins/ or a directory named
// in the config) whose default export is a ResourcePlugin. Observers call `reduce` in
// their worker thread, before anything is stored; the graph side is added by the graph
// pipeline and is optional here.
import type { KubeObject } from "../messages.js";

/** A property value a graph function may return; null and undefined are dropped. */
export type GraphValue = string | number | boolean | Array<string | number | boolean> | null | undefined;

/** A node the object refers to or owns. */
export interface GraphNodeSpec {
  label: string;
  key: string;
  properties?: Record<string, GraphValue>;
}

export interface GraphEdgeSpec {
  type: string;
  /** Default: the object's own node. Otherwise a node it owns, or one of its references:
   *  an edge from a reference is a fact about that reference alone (an image's registry),
   *  owned by the reference, kept while it is a placeholder and collected with it; it
   *  must end at another reference. */
  from?: string;
  /** The object's own node, a node it owns, or one of its references. */
  to: string;
  properties?: Record<string, GraphValue>;
}

/** One requirement of a label selector (the Kubernetes LabelSelectorRequirement). */
export interface GraphSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  /** For In and NotIn. */
  values?: string[];
}

/**
 * A label selector the sink resolves: an edge of `type` from the object (or a node it
 * owns) to every observed object node with primary label `label` in `namespace` whose
 * `labels` property (the "key=value" list metadataProperties() makes) matches. The sink
 * keeps these edges right whichever side arrives first and whenever either side's labels
 * change, so observers never need to know about each other. An empty selector (no
 * matchLabels, no matchExpressions) selects every such node; to select nothing, emit no
 * selector (a Service without spec.selector).
 */
export interface GraphSelectorSpec {
  type: string;
  /** Default: the object's own node. Otherwise a node it owns. */
  from?: string;
  /** The primary label of the nodes selected, e.g. "Pod". */
  label: string;
  /** The namespace the selected objects live in; null for cluster-scoped ones. */
  namespace: string | null;
  matchLabels?: Record<string, string>;
  matchExpressions?: GraphSelectorRequirement[];
  /** Properties of every edge it makes (the sink adds `owner` and `selector`, the
   *  selector as text, e.g. "app=web,tier in (front)"). */
  properties?: Record<string, GraphValue>;
}

/** What one object contributes to the graph. */
export interface GraphFragment {
  /** Properties of the object's node, beyond cluster, namespace, name, uid,
   *  resourceVersion and observedAt, which the core sets. */
  properties?: Record<string, GraphValue>;
  /** Nodes that exist only because of this object (replaced with it, deleted with it). */
  owned?: GraphNodeSpec[];
  /** Nodes it points at that it does not own; created as placeholders if not observed. */
  references?: GraphNodeSpec[];
  edges?: GraphEdgeSpec[];
  /** Label selectors resolved by the sink (Service -> Pod, ClusterRole aggregation). */
  selectors?: GraphSelectorSpec[];
}

export interface GraphContext {
  cluster: string;
  /** This object's own key. */
  key: string;
  /** The key of another object: namespaced when namespace is given, else cluster-scoped. */
  objectKey(kind: string, namespace: string | null, name: string): string;
}

export interface GraphSpec<Reduced> {
  /** The label of the object's node; defaults to resource.kind. */
  label?: string;
  /** Every label and relationship type toGraph may emit, selectors' included (the sinks
   *  create constraints and queries from this; anything undeclared is refused). */
  schema: { labels: string[]; relationships: string[] };
  /** Pure: turns the reduced object into its node properties, owned nodes, references
   *  and edges. Runs on the main thread, in the dispatcher. */
  toGraph(reduced: Reduced, context: GraphContext): GraphFragment;
  /** Names `who-uses` accepts for nodes of this plugin or nodes it references (e.g.
   *  "image" for ContainerImage): the label, and how a user-given name becomes a key. */
  lookups?: Record<string, GraphLookup>;
}

export interface GraphLookup {
  label: string;
  /** The key for a name; namespace is given for namespaced lookups. */
  key(name: string, context: { cluster: string; namespace: string | null; objectKey(kind: string, namespace: string | null, name: string): string }): string;
  namespaced: boolean;
}

/** The API resource a plugin observes. */
export interface ApiResource {
  /** "" for the core group. */
  group: string;
  version: string;
  /** The URL path segment, e.g. "pods". */
  plural: string;
  /** The object kind, e.g. "Pod". */
  kind: string;
  namespaced: boolean;
}

export interface ResourcePlugin<Reduced = unknown> {
  /** Unique name, used in the config's actors: `resource = "pod"`. Lower case. */
  name: string;
  /** The plugin API version this plugin was written for (see PLUGIN_API_VERSION). */
  apiVersion: number;
  resource: ApiResource;
  /**
   * Keeps only what the graph needs. Must drop every secret value the object may carry
   * (the core already drops metadata.managedFields and the
   * kubectl.kubernetes.io/last-applied-configuration annotation). Pure: no I/O.
   */
  reduce(object: KubeObject): Reduced;
  /** Set by the one plugin whose objects are the cluster's namespaces: the supervisor
   *  watches it to discover namespaces (so core names no resource kind). */
  providesNamespaces?: boolean;
  /** The graph side: without it the plugin's objects are observed but not stored. */
  graph?: GraphSpec<Reduced>;
}

/** Bumped when the contract changes incompatibly; a plugin declaring another is refused. */
export const PLUGIN_API_VERSION = 1;

/** Identity helper that gives plugin authors type checking. */
export function definePlugin<Reduced>(plugin: ResourcePlugin<Reduced>): ResourcePlugin<Reduced> {
  return plugin;
}
