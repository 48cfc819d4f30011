// Is a sink's error about the rows it was given (the same rows fail the same way every
// time: find them and park them) or about the database right now (retry the same rows
// later)? Unknown errors count as transient: retrying a good batch is safe, parking it
// is not.

/** Neo4j codes whose cause is the database's state, not the rows. */
const NEO4J_TRANSIENT_CODES = new Set([
  "ServiceUnavailable",
  "SessionExpired",
  "Neo.ClientError.Cluster.NotALeader",
  "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
  "Neo.ClientError.Database.DatabaseNotFound",
  "Neo.ClientError.Transaction.TransactionTimedOut",
  "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
  "Neo.ClientError.Transaction.TransactionMarkedAsFailed",
]);

/** SQLite result codes (primary, before the first "_" after SQLITE) caused by the rows. */
const SQLITE_DETERMINISTIC = new Set(["SQLITE_CONSTRAINT", "SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE"]);

/** Error classes the sinks and the core throw for rows no database state would accept. */
const DETERMINISTIC_NAMES = new Set(["SinkLimitError", "GraphContractError"]);

export type SinkErrorKind = "deterministic" | "transient";

export function classifySinkError(error: unknown): SinkErrorKind {
  if (!(error instanceof Error)) return "transient";
  if ((error as { deterministic?: unknown }).deterministic === true) return "deterministic";
  if (DETERMINISTIC_NAMES.has(error.name)) return "deterministic";
  // The history failing is not the rows' fault, whatever its cause (core/history/recorder.ts).
  if (error.name === "HistoryRecordError") return "transient";
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (code.startsWith("SQLITE_")) {
      const primary = code.split("_").slice(0, 2).join("_");
      return SQLITE_DETERMINISTIC.has(primary) ? "deterministic" : "transient";
    }
    if (NEO4J_TRANSIENT_CODES.has(code)) return "transient";
    // Neo4j: ClientErrors are the request's fault (constraint violated, a value it cannot
    // index or store, a type it refuses); TransientErrors and DatabaseErrors are not.
    if (code.startsWith("Neo.ClientError.Security.")) return "transient";
    if (code.startsWith("Neo.ClientError.")) return "deterministic";
    return "transient";
  }
  // Our sink wrappers keep the driver's error as the cause.
  if (error.cause !== undefined && error.cause !== error) return classifySinkError(error.cause);
  return "transient";
}
