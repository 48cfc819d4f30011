// Opening the graph sink when the database may not answer yet: a running agent waits for
// it (tries again with backoff, says why it is not open), a once run and every refusal
// fail; a refusal that comes only once the database answers is reported to the agent.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { SinkStartup, sinkUnavailable } from "../../../core/graph/sink-startup.js";
import { Neo4jSinkError } from "../../../core/graph/neo4j-sink.js";
import { GraphSchemaError } from "../../../core/graph/schema-version.js";

const backoff = { initialMs: 2, maxMs: 8, factor: 2, jitter: 0, resetAfterMs: 60_000 };
const down = (): Neo4jSinkError =>
  new Neo4jSinkError("Neo4j at bolt://db:7687 is unavailable (checking the storage version): connect ECONNREFUSED", "ServiceUnavailable");
const newer = (): GraphSchemaError =>
  new GraphSchemaError("Neo4j at bolt://db:7687", 9, "Neo4j at bolt://db:7687 has graph storage schema version 9, written by a newer kube-observer");

type LogLine = { level: number; msg: string } & Record<string, unknown>;

/** A SinkStartup whose attempts answer from `script` (an error to throw, or "ok"). */
function startup(script: Array<Error | "ok">): { s: SinkStartup; attempts: () => number; logs: LogLine[] } {
  let attempts = 0;
  const logs: LogLine[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const s = new SinkStartup(
    async () => {
      const step = script[attempts++] ?? "ok";
      if (step !== "ok") throw step;
    },
    "neo4j",
    backoff,
    log,
  );
  return { s, attempts: () => attempts, logs };
}

describe("SinkStartup", () => {
  it("opens at once when the sink answers", async () => {
    const { s } = startup(["ok"]);
    await s.open(true, () => expect.unreachable());
    expect(s.state.kind).toBe("open");
    expect(await s.ready).toBe(true);
    expect(s.problem()).toBeUndefined();
  });

  it("waits for a sink that does not answer, saying why, and opens once it does", async () => {
    const { s, attempts, logs } = startup([down(), down(), down(), "ok"]);
    await s.open(true, () => expect.unreachable());
    expect(s.state.kind).toBe("waiting");
    expect(s.problem()).toMatch(/^the graph sink has not answered since start-up \(1 attempts since .*\): Neo4j at bolt:\/\/db:7687 is unavailable/);
    expect(await s.ready).toBe(true);
    expect(attempts()).toBe(4);
    expect(s.state.kind).toBe("open");
    expect(logs.map((l) => l.msg)).toEqual([
      "graph sink does not answer at start-up: observing into the WAL, not ready; delivered once the sink answers",
      "graph sink still does not answer",
      "graph sink still does not answer",
      "graph sink answers: opened; delivering what the WAL holds",
    ]);
  });

  it("reports a refusal that comes once the database answers (a newer storage schema: exit code 2)", async () => {
    const { s, logs } = startup([down(), newer()]);
    const refused: Error[] = [];
    await s.open(true, (error) => refused.push(error));
    expect(await s.ready).toBe(false);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(GraphSchemaError);
    expect((refused[0] as GraphSchemaError).exitCode).toBe(2);
    expect(s.problem()).toMatch(/^the graph sink refused this agent: .*newer kube-observer/);
    expect(logs.at(-1)).toMatchObject({ level: 60, msg: "graph sink answered and refused this agent: stopping" });
  });

  it("does not wait in a once run, nor for a refusal or wrong credentials at start-up", async () => {
    const once = startup([down()]);
    await expect(once.s.open(false, () => expect.unreachable())).rejects.toThrow("is unavailable");
    expect(await once.s.ready).toBe(false);
    const refused = startup([newer()]);
    await expect(refused.s.open(true, () => expect.unreachable())).rejects.toBeInstanceOf(GraphSchemaError);
    const credentials = startup([
      new Neo4jSinkError('Neo4j at bolt://db:7687 refused the credentials of user "neo4j"', "Neo.ClientError.Security.Unauthorized"),
    ]);
    await expect(credentials.s.open(true, () => expect.unreachable())).rejects.toThrow("refused the credentials");
    expect(credentials.attempts()).toBe(1);
  });

  it("stops waiting at shutdown", async () => {
    const { s, attempts } = startup(Array.from({ length: 1000 }, down));
    await s.open(true, () => expect.unreachable());
    s.stop();
    expect(await s.ready).toBe(false);
    const after = attempts();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(attempts()).toBe(after);
  });

  it("waits out only errors that say the database is not there", () => {
    expect(sinkUnavailable(down())).toBe(true);
    expect(sinkUnavailable(new Neo4jSinkError("x", "SessionExpired"))).toBe(true);
    expect(sinkUnavailable(new Neo4jSinkError("x", "Neo.TransientError.General.DatabaseUnavailable"))).toBe(true);
    expect(sinkUnavailable(new Neo4jSinkError("x", "Neo.ClientError.Security.Unauthorized"))).toBe(false);
    expect(sinkUnavailable(new Neo4jSinkError("x", "Neo.ClientError.Database.DatabaseNotFound"))).toBe(false);
    expect(sinkUnavailable(newer())).toBe(false);
    expect(sinkUnavailable(new Error("ECONNREFUSED"))).toBe(false);
  });
});
