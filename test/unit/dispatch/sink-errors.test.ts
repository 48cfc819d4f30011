// Which sink errors are about the rows (park them) and which about the database (retry).
import { describe, expect, it } from "vitest";
import { classifySinkError } from "../../../core/dispatch/sink-errors.js";
import { SinkLimitError } from "../../../core/graph/limits.js";
import { GraphContractError, Neo4jSinkError } from "../../../core/graph/neo4j-sink.js";
import { FailpointError } from "../../../core/faults.js";
import { HistoryRecordError } from "../../../core/history/recorder.js";

const coded = (code: string): Error => Object.assign(new Error(code), { code });

describe("classifySinkError", () => {
  it("calls errors about the rows deterministic", () => {
    expect(classifySinkError(new SinkLimitError("too big"))).toBe("deterministic");
    expect(classifySinkError(new GraphContractError("4097 bytes is longer than the 2048 a key may have"))).toBe("deterministic");
    expect(classifySinkError(coded("SQLITE_CONSTRAINT_UNIQUE"))).toBe("deterministic");
    expect(classifySinkError(coded("SQLITE_TOOBIG"))).toBe("deterministic");
    expect(classifySinkError(new Neo4jSinkError("refused", "Neo.ClientError.Schema.ConstraintValidationFailed"))).toBe("deterministic");
    expect(classifySinkError(new Neo4jSinkError("refused", "Neo.ClientError.Statement.ArgumentError"))).toBe("deterministic");
  });

  it("never blames the rows for the history failing, whatever its cause", () => {
    expect(classifySinkError(new HistoryRecordError(coded("SQLITE_CONSTRAINT_UNIQUE")))).toBe("transient");
    expect(classifySinkError(new HistoryRecordError(new SinkLimitError("too big")))).toBe("transient");
  });

  it("calls errors about the database now transient", () => {
    expect(classifySinkError(coded("SQLITE_BUSY"))).toBe("transient");
    expect(classifySinkError(coded("SQLITE_BUSY_SNAPSHOT"))).toBe("transient");
    expect(classifySinkError(coded("SQLITE_IOERR_WRITE"))).toBe("transient");
    expect(classifySinkError(coded("SQLITE_FULL"))).toBe("transient");
    for (const code of [
      "ServiceUnavailable",
      "SessionExpired",
      "Neo.ClientError.Cluster.NotALeader",
      "Neo.ClientError.Transaction.TransactionTimedOut",
      "Neo.ClientError.Security.Unauthorized",
      "Neo.TransientError.Transaction.DeadlockDetected",
      "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
      "Neo.DatabaseError.General.UnknownError",
    ]) {
      expect(classifySinkError(new Neo4jSinkError("failed", code)), code).toBe("transient");
    }
    // The code of a wrapped driver error is found through the cause.
    expect(classifySinkError(new Neo4jSinkError("unavailable", undefined, coded("ServiceUnavailable")))).toBe("transient");
    expect(classifySinkError(new Neo4jSinkError("refused", undefined, coded("Neo.ClientError.Schema.ConstraintValidationFailed")))).toBe("deterministic");
  });

  it("retries what it does not know (retrying a good batch is safe, parking it is not)", () => {
    expect(classifySinkError(new Error("connection refused"))).toBe("transient");
    expect(classifySinkError(new FailpointError("dispatcher.before-commit"))).toBe("transient");
    expect(classifySinkError("a string")).toBe("transient");
  });
});
