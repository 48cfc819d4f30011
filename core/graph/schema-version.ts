// The graph's storage schema version: the shape a stored graph has (SQLite tables and
// indexes; Neo4j labels, constraints and indexes). Each store records the version it was
// written with, so that an agent never misreads one written by another release: an older
// store is migrated in place, one it cannot migrate is rebuilt from the relist every scope
// gets at start, a newer one is refused. What each version changed: docs/graph-schema.md,
// "Storage schema versions".

/** The version this agent writes. Raise it, with a migration step in each sink (or a
 *  higher OLDEST_MIGRATABLE), whenever a stored graph of the previous version would be
 *  read or written wrongly by the new code. */
export const GRAPH_SCHEMA_VERSION = 2;

/** What a store holds: a recorded version, graph data with no version (written before
 *  versions were recorded: version 0), or nothing of the graph yet. */
export type FoundSchema = number | "unversioned" | "empty";

/** What an agent opening the store for writing does. */
export type SchemaAction = "create" | "keep" | "migrate" | "rebuild" | "refuse";

/** What a sink found and did, for logs, `doctor` and `graph stats`. */
export interface StorageSchemaStatus {
  found: FoundSchema;
  /** The version the store has now (for a refused store: the one it has, untouched). */
  version: number;
  action: SchemaAction;
}

/**
 * The action for a store opened for writing. `canMigrate` says whether the sink has
 * in-place steps from what it found (an unversioned store it recognises, or a version at
 * or above its oldest migratable one).
 */
export function writeAction(found: FoundSchema, canMigrate: boolean): SchemaAction {
  if (found === "empty") return "create";
  if (found === GRAPH_SCHEMA_VERSION) return "keep";
  if (typeof found === "number" && found > GRAPH_SCHEMA_VERSION) return "refuse";
  return canMigrate ? "migrate" : "rebuild";
}

export function describeFound(found: FoundSchema): string {
  if (found === "empty") return "no graph yet";
  if (found === "unversioned") return "version 0 (unversioned: written before kube-observer recorded storage versions)";
  return `version ${found}`;
}

/** A store this agent must not use as it is. Exit code 2: refused, not failed. */
export class GraphSchemaError extends Error {
  readonly exitCode = 2;
  constructor(
    /** The store, e.g. "the embedded graph /data/graph.sqlite" or "Neo4j at bolt://… ". */
    readonly where: string,
    readonly found: FoundSchema,
    message: string,
  ) {
    super(message);
    this.name = "GraphSchemaError";
  }
}

/** A store written by a newer kube-observer: nothing is written to it. */
export function newerSchemaError(where: string, found: number, elsewhere: string): GraphSchemaError {
  return new GraphSchemaError(
    where,
    found,
    `${where} has graph storage schema version ${found}, written by a newer kube-observer; this one knows versions up to ${GRAPH_SCHEMA_VERSION} ` +
      `and will not read or write it (nothing was changed). Run the newer kube-observer against it, or ${elsewhere} (the agent rebuilds the graph from the cluster).`,
  );
}

/** A read-only open of a store that is not at this agent's version (reads never migrate). */
export function unreadableSchemaError(where: string, found: FoundSchema): GraphSchemaError {
  const fix =
    typeof found === "number" && found > GRAPH_SCHEMA_VERSION
      ? "use the kube-observer that wrote it (or a newer one) to read it"
      : "run the agent (`kube-observer run`) of this version once with this config to migrate it, then read it again";
  return new GraphSchemaError(
    where,
    found,
    `${where} has graph storage ${describeFound(found)}; this kube-observer reads version ${GRAPH_SCHEMA_VERSION} only: ${fix}.`,
  );
}

/** The logger's methods a migration needs (info optional: some callers only pass warn). */
export interface SchemaLog {
  info?(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The one log line a migration or rebuild gets (nothing for a new or current store). */
export function logSchemaAction(log: SchemaLog | undefined, where: string, status: StorageSchemaStatus): void {
  const fields = { store: where, from: status.found === "unversioned" ? 0 : status.found, to: status.version };
  if (status.action === "migrate") log?.info?.(fields, `graph storage migrated in place from ${describeFound(status.found)} to version ${status.version}`);
  if (status.action === "rebuild") {
    log?.warn(
      fields,
      `graph storage ${describeFound(status.found)} cannot be migrated to version ${status.version}: the graph was emptied and will be rebuilt from the relist of every scope ` +
        "(objects the agent can no longer list, e.g. after a 403, are not restored)",
    );
  }
}
