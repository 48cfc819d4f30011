// The validated, typed configuration the agent runs on. Produced from a Dhall file by
// core/config/load.ts; config/types.dhall is the same schema on the Dhall side.

/** How to reach one cluster. With neither kubeconfig nor inCluster set, the usual kubectl
 *  resolution applies: $KUBECONFIG, then ~/.kube/config, then in-cluster. */
export interface ClusterConfig {
  name: string;
  /** Path of a kubeconfig file (relative paths resolve against the working directory). */
  kubeconfig: string | null;
  /** Context in that kubeconfig; null means its current-context. */
  context: string | null;
  /** Use the pod's ServiceAccount token and CA (the agent runs inside the cluster). */
  inCluster: boolean;
}

/** The design's actor: one (cluster, namespace, role, resource) to observe. */
export interface ActorConfig {
  cluster: string;
  /** A namespace name, or "*" for every namespace the cluster has now or later.
   *  Cluster-scoped resources (node, namespace, ...) take "*" (the default). */
  namespace: string;
  role: "observer";
  /** A resource plugin's name, e.g. "pod". */
  resource: string;
  /** With namespace "*": namespaces not to observe. */
  exclude: string[];
  /** How a "*" actor is watched: one cluster-wide list+watch ("auto", "cluster") or
   *  one per namespace ("namespace"). See core/supervisor/desired.ts. */
  topology: "auto" | "cluster" | "namespace";
}

export interface BackoffConfig {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** A stretch this long without errors resets the backoff to initialMs. */
  resetAfterMs: number;
  /** Fraction of each delay that is randomised (0.2 = ±20 %). */
  jitter: number;
  /** A server's Retry-After is honoured up to this; a longer one waits this long (a
   *  Retry-After of 10^12 s must not stop an observer for ever, nor overflow a timer). */
  maxRetryAfterMs: number;
}

export interface ObserverConfig {
  /** LIST page size (limit=). */
  pageSize: number;
  /** Watch timeoutSeconds is drawn at random from [min, max] per watch. */
  watchTimeoutMinSeconds: number;
  watchTimeoutMaxSeconds: number;
  /** A watch that sends nothing (not even a bookmark) for timeoutSeconds + this is
   *  treated as stalled and reconnected. */
  inactivityMarginSeconds: number;
  connectTimeoutSeconds: number;
  backoff: BackoffConfig;
  /** Worker threads for observers; 0 picks from the number of cores. */
  threads: number;
  /** Messages per batch sent from an observer to the main thread, and the longest a
   *  message waits for its batch to fill. */
  batchMaxMessages: number;
  batchMaxDelayMs: number;
  /** A single object (watch event or LIST item) over this many bytes is skipped with a
   *  warning and a metric, never buffered whole. */
  maxObjectBytes: number;
  /** A LIST page whose objects pass this many bytes is asked again with half the limit. */
  maxListPageBytes: number;
  /** LISTs in progress at once per cluster (shared by its observers). */
  maxConcurrentLists: number;
  /** Annotation keys whose values never leave the observer (`*` is a wildcard), and the
   *  size over which any annotation value is withheld (core/plugin/annotation-rules.ts). */
  withheldAnnotations: string[];
  maxAnnotationBytes: number;
}

export interface Neo4jSinkConfig {
  uri: string;
  username: string;
  /** Name of the environment variable holding the password (never the password itself). */
  passwordEnv: string;
  database: string | null;
  /** A writer registration whose heartbeat stopped expires after this long. */
  writerLeaseSeconds: number;
}

export interface SinkConfig {
  kind: "sqlite" | "neo4j";
  /** The embedded SQLite graph's file. */
  sqlitePath: string;
  neo4j: Neo4jSinkConfig | null;
}

export interface WalConfig {
  path: string;
  /** Past this size the agent stops consuming and relists once the sink catches up. */
  maxBytes: number;
}

export interface LogConfig {
  level: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
}

/** An extra RBAC rule for the agent's ServiceAccount (`kube-observer rbac`). */
export interface RbacRuleConfig {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
  /** null: a ClusterRole rule; a namespace: a rule of a Role in that namespace. */
  namespace: string | null;
}

/** What `kube-observer rbac` and `doctor` need beyond the actors; the agent ignores it. */
export interface RbacConfig {
  /** The ServiceAccount the agent runs as; the roles and bindings are named after it. */
  serviceAccount: string;
  /** The ServiceAccount's namespace. */
  namespace: string;
  extraRules: RbacRuleConfig[];
}

export interface Config {
  clusters: ClusterConfig[];
  actors: ActorConfig[];
  sink: SinkConfig;
  wal: WalConfig;
  /** Directories of third-party resource plugins, loaded beside the built-in ones. */
  pluginDirs: string[];
  observer: ObserverConfig;
  log: LogConfig;
  rbac: RbacConfig;
  /** HOST:PORT for /healthz, /readyz and /metrics (`run --listen` overrides it). */
  listen: string | null;
  /** How long a third-party plugin's toGraph (and, in verify, its reduce) may run on one
   *  object before it is interrupted and the object's message parked (core/plugin/budget.ts). */
  pluginBudgetMs: number;
  /** Keep the attack edges (core/insight/attack/) in the graph as changes arrive; verify expects them. */
  attackEdges: boolean;
  audit: AuditConfig;
  history: HistoryConfig;
}

/** The graph through time (core/history/). */
export interface HistoryConfig {
  enabled: boolean;
  /** Where the history is kept; null: the embedded graph's own file, or beside the WAL. */
  path: string | null;
  /** Versions that ended longer ago are pruned; 0 keeps them for ever. */
  retentionDays: number;
  /** The oldest versions are pruned while the history takes more; 0: no limit. */
  maxBytes: number;
}

/** What the audit checks against (`audit`, `run --audit`). */
export interface AuditConfig {
  /** Registry hosts images may come from (KO-IMG-002); empty turns that rule off. */
  allowedRegistries: string[];
}

/** What config validation needs to know about the loaded resource plugins. */
export interface KnownResource {
  namespaced: boolean;
}
export type KnownResources = ReadonlyMap<string, KnownResource>;

/** Where a configuration problem is: a file and, when known, line and column (1-based). */
export interface ConfigLocation {
  file: string;
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  constructor(
    readonly location: ConfigLocation,
    readonly reason: string,
  ) {
    const where = [location.file, location.line, location.column].filter((p) => p !== undefined).join(":");
    super(`${where}: ${reason}`);
    this.name = "ConfigError";
  }
}
