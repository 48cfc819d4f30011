// KubeMessage: the single message type between observers and everything downstream
// (seed design, "Messaging strategy").

/** A Kubernetes object as it comes off the wire (parsed JSON). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeMetadata;
  [field: string]: unknown;
}

export interface KubeMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  [field: string]: unknown;
}

/**
 * Applied: the object exists in this state. Deleted: it is gone (a watch DELETED, the
 * old uid of a name recreated, or an object grown past the size cap). Restarted: the
 * relist boundary — a complete list of the scope was delivered; anything of the scope
 * not in `present` is gone (the only way a relist deletes).
 */
export type WatchAction = "Applied" | "Deleted" | "Restarted";

/** One object known to exist at a relist boundary. */
export interface PresentObject {
  namespace: string | null;
  name: string;
  uid: string;
}

export interface KubeMessage {
  cluster: string;
  /** The observer's scope: a namespace, or null for cluster-scoped resources and
   *  cluster-wide observers. The object's own namespace is on `object`/`objectNamespace`. */
  namespace: string | null;
  /** The resource plugin's name, e.g. "pod". */
  resource: string;
  kind: string;
  action: WatchAction;
  /** The object's own namespace (null for cluster-scoped objects and for Restarted). */
  objectNamespace: string | null;
  uid: string | null;
  name: string | null;
  resourceVersion: string;
  /** ISO 8601 time the observer saw it. */
  observedAt: string;
  /** The plugin's reduction of the object (Applied, Deleted); null for Restarted or when
   *  reduction failed (then `error` says why). */
  object: unknown;
  /** Restarted only: every object of the scope the list returned. */
  present?: PresentObject[];
  /** Restarted from a cluster-wide observer of a namespaced resource (namespace null):
   *  its scope is every namespace but these, which other observers cover. */
  sweepExcept?: string[];
  /** Set when the plugin's reduce threw; downstream parks the message. */
  error?: string;
}
