// The Neo4j graph sink (neo4j-driver 6, Bolt). Semantics: docs/graph-semantics.md, the
// same as the embedded SQLite sink. Each apply() is one transaction (session.executeWrite,
// which retries transient errors and deadlocks); inside it, ops are planned into runs
// (neo4j-plan.ts) and every step of a run is one UNWIND query per label or type.
import neo4j, { Neo4jError, isInt, type Driver, type ManagedTransaction, type QueryResult } from "neo4j-driver";
import * as cypher from "./neo4j-cypher.js";
import { sweepRun, planOps, type EdgeRow, type NodeRow, type Run, type RunDelete, type RunUpsert, type SelectorRow, type Step } from "./neo4j-plan.js";
import { GraphContract, GraphContractError } from "./contract.js";
import { resolveSelectionsAsync, type ScopedNode } from "./selector-resolution.js";
import {
  DERIVED_OWNER_PREFIX,
  DERIVED_RELATIONSHIPS,
  ENTITY_LABEL,
  SELECTOR_LABEL,
  type DerivedEdgeSet,
  type ExportLine,
  type GraphOp,
  type GraphSchema,
  type GraphSink,
  type GraphStats,
  type IncomingEdge,
} from "./model.js";
import { compareCodePoints, compareEdges, edgeSortKey, sortedKeys } from "./order.js";
import { scopeCovers, sweepScopePrefix } from "./keys.js";
import { Neo4jWriterRegistration, WRITER_CONSTRAINT } from "./neo4j-writer.js";
import { applyNeo4jWrite, checkNeo4jReadable, META_CONSTRAINT, planNeo4jWrite, readNeo4jSchema, stampNeo4jSchema } from "./neo4j-schema.js";
import { GraphSchemaError, logSchemaAction, type SchemaLog, type StorageSchemaStatus } from "./schema-version.js";
import type { WriterConflictError, WriterIdentity } from "./writer.js";

export { GraphContractError } from "./contract.js";

export interface Neo4jSinkOptions {
  /** e.g. bolt://localhost:7687 or neo4j://host:7687. */
  uri: string;
  username: string;
  password: string;
  /** null/undefined: the server's default database. */
  database?: string | null;
  /** Outages, heartbeat failures, and a migration or rebuild of an older stored graph. */
  log?: SchemaLog;
  /** A writer registration without a heartbeat for this long expires (default 30). */
  writerLeaseSeconds?: number;
  /** Another agent took this one's writer registration over. */
  onWriterLost?: (error: WriterConflictError) => void;
}

export const DEFAULT_WRITER_LEASE_SECONDS = 30;

/** A failure talking to Neo4j; the message names the URI (never the password). */
export class Neo4jSinkError extends Error {
  constructor(
    message: string,
    /** The Neo4j error code, e.g. "ServiceUnavailable", when there is one. */
    readonly code: string | undefined,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = "Neo4jSinkError";
  }
}

/** Rows per UNWIND query: bounds what an Eager (SET n = map) buffers. */
const ROWS_PER_QUERY = 1000;
/** Keys per `IN $keys` query. */
const KEYS_PER_QUERY = 5000;
const PING_TIMEOUT_MS = 5000;
const TRANSACTION_RETRY_MS = 5000;
const CONNECT_TIMEOUT_MS = 10_000;
const INDEX_WAIT_SECONDS = 300;

export class Neo4jSink implements GraphSink {
  readonly kind = "neo4j" as const;
  private readonly driver: Driver;
  private readonly database: string | undefined;
  /** The URI without any user:password@ part, for messages. */
  private readonly uri: string;
  private readonly username: string;
  private readonly password: string;
  private readonly log: Neo4jSinkOptions["log"];
  /** The declared schema (init), and the contract unmarked ops are checked against. */
  private readonly contract = new GraphContract();
  private queries: QueryCache | undefined;
  private answering = true;
  private readonly writerOptions: Pick<Neo4jSinkOptions, "writerLeaseSeconds" | "onWriterLost">;
  private registration: Neo4jWriterRegistration | undefined;
  /** The stored graph's version, once init() or checkReadable() has read it. */
  private schema: StorageSchemaStatus | undefined;

  constructor(options: Neo4jSinkOptions) {
    this.writerOptions = { writerLeaseSeconds: options.writerLeaseSeconds, onWriterLost: options.onWriterLost };
    this.uri = redactUri(options.uri);
    this.username = options.username;
    this.password = options.password;
    this.database = options.database ?? undefined;
    this.log = options.log;
    try {
      this.driver = neo4j.driver(options.uri, neo4j.auth.basic(options.username, options.password), {
        userAgent: "kube-observer",
        // executeWrite retries deadlocks and transient errors for this long; an outage
        // outlasts it and surfaces, and the dispatcher's own backoff takes over (the
        // driver's default of 30 s would hide an outage from the agent for that long).
        maxTransactionRetryTime: TRANSACTION_RETRY_MS,
        connectionTimeout: CONNECT_TIMEOUT_MS,
      });
    } catch (error) {
      throw new Neo4jSinkError(`cannot connect to Neo4j at ${this.uri}: ${this.reason(error)}`, codeOf(error), error);
    }
  }

  /** A sink whose server has answered (wrong URI or credentials fail here, clearly). */
  static async connect(options: Neo4jSinkOptions): Promise<Neo4jSink> {
    const sink = new Neo4jSink(options);
    try {
      await sink.driver.verifyConnectivity({ database: sink.database });
    } catch (error) {
      await sink.close().catch(() => undefined);
      throw sink.wrap(error, "connecting");
    }
    return sink;
  }

  async init(schema: GraphSchema): Promise<void> {
    this.contract.declare(schema, [ENTITY_LABEL, SELECTOR_LABEL]);
    const labels = [...this.contract.labels].sort();
    try {
      // Decided before anything is written: a newer graph is refused untouched.
      const planned = planNeo4jWrite(await readNeo4jSchema(this.driver, this.database, this.where()), this.where());
      await applyNeo4jWrite(this.driver, this.database, planned, this.where(), this.writerOptions.writerLeaseSeconds ?? DEFAULT_WRITER_LEASE_SECONDS);
      // Schema changes cannot share a transaction with writes: each runs on its own.
      const wanted = [...cypher.SCHEMA_STATEMENTS, WRITER_CONSTRAINT, META_CONSTRAINT];
      for (const statement of wanted) await this.driver.executeQuery(statement, {}, { database: this.database });
      await this.dropUnusedSchema(wanted);
      await this.driver.executeQuery(cypher.AWAIT_INDEXES, { seconds: INDEX_WAIT_SECONDS }, { database: this.database });
      if (planned.action !== "keep") {
        await stampNeo4jSchema(this.driver, this.database);
        logSchemaAction(this.log, this.where(), planned);
      }
      // What the first init did stays (a reload's init finds the version current).
      if (!this.schema || planned.action !== "keep") this.schema = planned;
    } catch (error) {
      throw this.wrap(error, "checking the storage version and creating constraints and indexes");
    }
    this.queries = new QueryCache(labels);
  }

  /** Drops the agent's constraints and indexes that no query uses (made by earlier
   *  releases): each costs every write an index entry. */
  private async dropUnusedSchema(wanted: readonly string[]): Promise<void> {
    const names = new Set(wanted.map((statement) => /^CREATE (?:CONSTRAINT|INDEX) (\S+)/.exec(statement)?.[1]));
    const own = async (query: string, kind: "CONSTRAINT" | "INDEX"): Promise<Array<{ name: string; kind: "CONSTRAINT" | "INDEX" }>> =>
      (await this.driver.executeQuery(query, {}, { database: this.database })).records.map((r) => ({ name: r.get("name") as string, kind }));
    const unused = [...(await own(cypher.OWN_CONSTRAINTS, "CONSTRAINT")), ...(await own(cypher.OWN_INDEXES, "INDEX"))].filter((s) => !names.has(s.name));
    for (const { name, kind } of unused) await this.driver.executeQuery(cypher.dropSchema(kind, name), {}, { database: this.database });
    if (unused.length > 0)
      this.log?.info?.({ dropped: unused.map((s) => s.name) }, "dropped constraints and indexes no query uses (made by an earlier release)");
  }

  /** For read-only commands: throws GraphSchemaError unless the graph is at this agent's
   *  storage version (or empty). */
  async checkReadable(): Promise<void> {
    let found: Awaited<ReturnType<typeof readNeo4jSchema>>;
    try {
      found = await readNeo4jSchema(this.driver, this.database, this.where());
    } catch (error) {
      throw this.wrap(error, "reading the graph's storage version");
    }
    this.schema = checkNeo4jReadable(found, this.where());
  }

  /** What init() found and did; before init(), what it would do (nothing is written). */
  async storageSchema(): Promise<StorageSchemaStatus> {
    if (this.schema) return this.schema;
    try {
      const found = await readNeo4jSchema(this.driver, this.database, this.where());
      return planNeo4jWrite(found, this.where());
    } catch (error) {
      throw this.wrap(error, "reading the graph's storage version");
    }
  }

  async apply(ops: readonly GraphOp[]): Promise<void> {
    if (ops.length === 0) return;
    const queries = this.queries;
    if (queries === undefined) throw new GraphContractError("the Neo4j sink needs init(schema) before apply()");
    this.contract.check(ops);
    const steps = planOps(ops);
    const session = this.driver.session({ database: this.database, defaultAccessMode: neo4j.session.WRITE });
    try {
      await session.executeWrite((tx) => new Applier(tx, queries).apply(steps));
    } catch (error) {
      throw this.wrap(error, `applying ${ops.length} graph op(s)`);
    } finally {
      await session.close();
    }
  }

  async stats(): Promise<GraphStats> {
    const [nodes, edges] = await this.read("reading stats", async (tx) => [
      (await tx.run(cypher.STATS_NODES)).records.map((r) => [r.get("label") as string, toNumber(r.get("count"))] as const),
      (await tx.run(cypher.STATS_EDGES)).records.map((r) => [r.get("type") as string, toNumber(r.get("count"))] as const),
    ]);
    return { nodes: Object.fromEntries(nodes), edges: Object.fromEntries(edges) };
  }

  async *export(): AsyncIterable<ExportLine> {
    // Sorted here, not by ORDER BY: Neo4j orders strings by UTF-16 unit, the contract by code point.
    // Neo4j reads at READ COMMITTED: a node or relationship another transaction deletes
    // while the scan passes it comes back with null properties. It is gone; so is its row.
    const { nodes, edges } = await this.read("exporting the graph", async (tx) => ({
      nodes: (await tx.run(cypher.EXPORT_NODES)).records
        .filter((r) => typeof r.get("key") === "string" && r.get("properties") !== null)
        .map((r) => nodeLine(r.get("labels"), r.get("key"), r.get("properties"))),
      edges: (await tx.run(cypher.EXPORT_EDGES)).records
        .filter((r) => typeof r.get("from") === "string" && typeof r.get("to") === "string" && r.get("properties") !== null)
        .map((r) => edgeLine(r.get("rel"), r.get("from"), r.get("to"), r.get("properties"))),
    }));
    nodes.sort((a, b) => compareCodePoints(a.key, b.key));
    yield* nodes;
    for (const { line } of edges.map((line) => ({ line, order: edgeSortKey(line) })).sort((a, b) => compareEdges(a.order, b.order))) yield line;
  }

  async subgraph(labels: readonly string[], rels: readonly string[]): Promise<ExportLine[]> {
    const nodeQuery = cypher.subgraphNodes(labels);
    const edgeQuery = cypher.subgraphEdges(rels);
    // Rows deleted while read come back null, as in export.
    const { nodes, edges } = await this.read("reading part of the graph", async (tx) => ({
      nodes: (nodeQuery === null ? [] : (await tx.run(nodeQuery)).records)
        .filter((r) => typeof r.get("key") === "string" && r.get("properties") !== null)
        .map((r) => nodeLine(r.get("labels"), r.get("key"), r.get("properties"))),
      edges: (edgeQuery === null ? [] : (await tx.run(edgeQuery)).records)
        .filter((r) => typeof r.get("from") === "string" && typeof r.get("to") === "string" && r.get("properties") !== null)
        .map((r) => edgeLine(r.get("rel"), r.get("from"), r.get("to"), r.get("properties"))),
    }));
    // A node has one label besides Entity, so no node is read twice.
    nodes.sort((a, b) => compareCodePoints(a.key, b.key));
    const sorted = edges.map((line) => ({ line, order: edgeSortKey(line) })).sort((a, b) => compareEdges(a.order, b.order));
    return [...nodes, ...sorted.map((e) => e.line)];
  }

  async neighbourhood(keys: readonly string[]): Promise<ExportLine[]> {
    const { nodes, edges } = await this.read("reading what changed objects touch", async (tx) => {
      const found = new Map<string, Extract<ExportLine, { type: "node" }>>();
      for (const r of (await tx.run(cypher.NEIGHBOURHOOD_NODES, { keys: [...keys] })).records) {
        // Rows deleted while read come back null, as in export.
        if (typeof r.get("key") === "string" && r.get("properties") !== null)
          found.set(r.get("key"), nodeLine(r.get("labels"), r.get("key"), r.get("properties")));
      }
      const lines: Array<Extract<ExportLine, { type: "edge" }>> = [];
      const ends: string[] = [];
      const take = (records: Iterable<import("neo4j-driver").Record>): void => {
        for (const r of records) {
          if (typeof r.get("from") !== "string" || typeof r.get("to") !== "string" || r.get("properties") === null) continue;
          lines.push(edgeLine(r.get("rel"), r.get("from"), r.get("to"), r.get("properties")));
          const end = r.get("endKey");
          if (typeof end === "string" && r.get("endProperties") !== null && !found.has(end)) {
            found.set(end, nodeLine(r.get("endLabels"), end, r.get("endProperties")));
            ends.push(end);
          }
        }
      };
      const direct = new Set(found.keys());
      take((await tx.run(cypher.NEIGHBOURHOOD_EDGES, { keys: [...keys] })).records);
      // The links of the placeholders at those ends (an image's registry), and their ends.
      const placeholders = ends.filter((k) => !direct.has(k) && found.get(k)?.properties.observed === false);
      if (placeholders.length > 0) take((await tx.run(cypher.PLACEHOLDER_LINKS, { keys: placeholders })).records);
      return { nodes: [...found.values()], edges: lines };
    });
    // The from-node of an owned edge is the key or a node it owns, read above; the one
    // case not read is an edge into a key from a node read only as its end: already added.
    nodes.sort((a, b) => compareCodePoints(a.key, b.key));
    const unique = new Map(edges.map((line) => [JSON.stringify(edgeSortKey(line)), line]));
    const sorted = [...unique.values()].map((line) => ({ line, order: edgeSortKey(line) })).sort((a, b) => compareEdges(a.order, b.order));
    return [...nodes, ...sorted.map((e) => e.line)];
  }

  async replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void> {
    if (exclusive !== undefined && !exclusive.startsWith(DERIVED_OWNER_PREFIX)) throw new Error(`not a derivation scope prefix: ${JSON.stringify(exclusive)}`);
    for (const set of sets) if (!set.owner.startsWith(DERIVED_OWNER_PREFIX)) throw new Error(`not a derivation scope: ${JSON.stringify(set.owner)}`);
    const byType = new Map<string, Array<{ from: string; to: string; props: Record<string, unknown> }>>();
    for (const set of sets) {
      for (const e of set.edges) {
        if (!(DERIVED_RELATIONSHIPS as readonly string[]).includes(e.type)) throw new Error(`not a derived edge type: ${JSON.stringify(e.type)}`);
        const list = byType.get(e.type) ?? [];
        list.push({ from: e.from, to: e.to, props: { ...e.properties, owner: set.owner, derived: true } });
        byType.set(e.type, list);
      }
    }
    const owners = sets.map((s) => s.owner);
    const session = this.driver.session({ database: this.database });
    try {
      await session.executeWrite(async (tx) => {
        for (const type of DERIVED_RELATIONSHIPS) {
          await tx.run(cypher.deleteDerived(type), { owners });
          if (exclusive !== undefined) await tx.run(cypher.deleteDerivedUnder(type), { prefix: exclusive });
        }
        for (const [type, edges] of byType) for (const chunk of chunks(edges, KEYS_PER_QUERY)) await tx.run(cypher.createDerived(type), { edges: chunk });
      });
    } catch (error) {
      throw this.wrap(error, "writing derived edges");
    } finally {
      await session.close();
    }
  }

  async incoming(key: string): Promise<IncomingEdge[]> {
    const rows = await this.read(`reading the edges into ${JSON.stringify(key)}`, async (tx) =>
      (await tx.run(cypher.INCOMING, { key })).records
        .filter((r) => typeof r.get("key") === "string" && r.get("source") !== null && r.get("properties") !== null) // deleted while read (see export)
        .map((r) => {
          const from = nodeLine(r.get("labels"), r.get("key"), r.get("source"));
          const edge: IncomingEdge = {
            rel: r.get("rel"),
            properties: plainProperties(r.get("properties")),
            from: { labels: from.labels, key: from.key, properties: from.properties },
          };
          return { edge, order: edgeSortKey({ rel: edge.rel, from: from.key, to: key, properties: edge.properties }) };
        }),
    );
    return rows.sort((a, b) => compareEdges(a.order, b.order)).map((r) => r.edge);
  }

  async ping(): Promise<boolean> {
    // session.run: one attempt (executeQuery would retry an unreachable server for 30 s).
    const session = this.driver.session({ database: this.database, defaultAccessMode: neo4j.session.READ });
    try {
      await withTimeout(
        session.run("RETURN 1").then(() => undefined),
        PING_TIMEOUT_MS,
      );
      this.answering = true;
      return true;
    } catch (error) {
      // Warn once per outage, not on every readiness probe.
      if (this.answering) this.log?.warn({ uri: this.uri, error: this.reason(error) }, "Neo4j does not answer");
      this.answering = false;
      return false;
    } finally {
      void session.close().catch(() => undefined);
    }
  }

  async registerWriter(clusters: readonly string[], writer: WriterIdentity): Promise<void> {
    if (!this.registration) {
      const log = this.log;
      this.registration = new Neo4jWriterRegistration({
        driver: this.driver,
        database: this.database,
        where: this.where(),
        leaseSeconds: this.writerOptions.writerLeaseSeconds ?? DEFAULT_WRITER_LEASE_SECONDS,
        onLost: (error) => this.writerOptions.onWriterLost?.(error),
        onHeartbeatFailed: (error) => log?.warn({ err: this.reason(error) }, "writer registration heartbeat failed; retrying"),
      });
    }
    try {
      await this.registration.register(clusters, writer);
    } catch (error) {
      if ((error as Error).name === "WriterConflictError") throw error;
      throw this.wrap(error, "registering as the graph's writer");
    }
  }

  async close(): Promise<void> {
    await this.registration?.close();
    await this.driver.close();
  }

  private async read<T>(action: string, work: (tx: ManagedTransaction) => Promise<T>): Promise<T> {
    const session = this.driver.session({ database: this.database, defaultAccessMode: neo4j.session.READ });
    try {
      return await session.executeRead(work);
    } catch (error) {
      throw this.wrap(error, action);
    } finally {
      await session.close();
    }
  }

  private wrap(error: unknown, action: string): Error {
    if (error instanceof GraphContractError || error instanceof Neo4jSinkError || error instanceof GraphSchemaError) return error;
    const code = codeOf(error);
    const reason = this.reason(error);
    const where = this.where();
    if (code === "ServiceUnavailable" || code === "SessionExpired") return new Neo4jSinkError(`${where} is unavailable (${action}): ${reason}`, code, error);
    if (code === "Neo.ClientError.Security.Unauthorized" || code === "Neo.ClientError.Security.AuthenticationRateLimit") {
      return new Neo4jSinkError(`${where} refused the credentials of user ${JSON.stringify(this.username)} (${action}): ${reason}`, code, error);
    }
    if (code === "Neo.ClientError.Database.DatabaseNotFound") return new Neo4jSinkError(`${where}: the database does not exist (${action})`, code, error);
    return new Neo4jSinkError(`${where}: ${action} failed: ${reason}`, code, error);
  }

  private where(): string {
    return `Neo4j at ${this.uri}${this.database === undefined ? "" : ` (database ${JSON.stringify(this.database)})`}`;
  }

  /** The error's message, with the password blotted out should a layer ever echo it. A
   *  server error about the request itself (a statement, a constraint, a value) can quote
   *  the values sent ("… property `x` = '…'", "Encountered: Map{…}"): only its code and
   *  size are kept. Connection and authentication errors quote nothing sent. */
  private reason(error: unknown): string {
    const text = serverErrorText(codeOf(error), error instanceof Error ? error.message : String(error));
    return this.password.length >= 4 ? text.split(this.password).join("***") : text;
  }
}

/** Neo4j error codes whose messages can quote the parameters of the request. */
const QUOTING_CODE = /^Neo\.(ClientError\.(Statement|Schema|Procedure)|DatabaseError|TransientError\.Statement)\./;

/** A Neo4j error's text as the agent may repeat it: for codes about the request, only
 *  the code and the message's length. */
export function serverErrorText(code: string | undefined, message: string): string {
  if (code !== undefined && QUOTING_CODE.test(code)) return `${code} (the server's message, ${message.length} characters, is not shown: it may quote a value)`;
  return message;
}

// ---------------------------------------------------------------------------------------

/** Query texts per label/type; rebuilt when init() declares more labels (the relabel
 *  clause names all of them). */
class QueryCache {
  private readonly texts = new Map<string, string>();
  constructor(private readonly labels: readonly string[]) {}

  writeNodes = (primary: string): string => this.memo(`write:${primary}`, () => cypher.writeNodes(primary, this.labels));
  createNodes = (primary: string): string => this.memo(`create:${primary}`, () => cypher.createNodes(primary));
  createPlaceholders = (primary: string): string => this.memo(`placeholder:${primary}`, () => cypher.createPlaceholders(primary));
  demote = (primary: string | null): string => this.memo(`demote:${primary ?? ""}`, () => cypher.demote(primary, this.labels));
  createEdges = (type: string): string => this.memo(`edges:${type}`, () => cypher.createEdges(type));
  createLinks = (type: string): string => this.memo(`links:${type}`, () => cypher.createLinks(type));

  private memo(id: string, build: () => string): string {
    let text = this.texts.get(id);
    if (text === undefined) {
      text = build();
      this.texts.set(id, text);
    }
    return text;
  }
}

/** One apply() inside one transaction attempt (a retry builds a new one). */
class Applier {
  /** Nodes that lost an edge: collected once, at the end of the apply. */
  private readonly garbage = new Set<string>();
  /** Keys upserted or deleted: their selected edges are redone at the end of the apply. */
  private readonly touched = new Set<string>();
  /** Writes sent and not yet answered (send()). */
  private readonly pending: Array<Promise<void>> = [];

  constructor(
    private readonly tx: ManagedTransaction,
    private readonly q: QueryCache,
  ) {}

  async apply(steps: readonly Step[]): Promise<void> {
    try {
      for (const step of steps) {
        if (step.kind === "run") await this.run(step.run);
        else await this.sweep(step.scope, step.present, step.except);
      }
      // The garbage candidates of the writes sent so far are in once they have answered.
      await this.settle();
      await this.resolveSelectors();
      await this.collectGarbage();
      await this.settle();
    } catch (error) {
      // A read that failed after a write sent before it failed reports the transaction as
      // broken: the write's own error says why.
      throw (await this.firstFailure()) ?? error;
    }
  }

  /** Sends a write without waiting for its answer: the server runs a transaction's
   *  queries in the order they were sent, so later reads see it, and the writes of a run
   *  travel together instead of one round trip each. Its outcome is checked by settle(). */
  private send(query: string, params: Record<string, unknown>, onResult?: (result: QueryResult) => void): void {
    const answered = Promise.resolve(this.tx.run(query, params)).then((result) => onResult?.(result));
    // Observed at once, so a failure is never an unhandled rejection; settle() reports it.
    answered.catch(() => undefined);
    this.pending.push(answered);
  }

  /** Waits for every write sent; throws the first failure. */
  private async settle(): Promise<void> {
    const failure = await this.firstFailure();
    if (failure !== undefined) throw failure;
  }

  private async firstFailure(): Promise<unknown> {
    const outcomes = await Promise.allSettled(this.pending.splice(0));
    return outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected")?.reason;
  }

  private async sweep(scope: string, present: ReadonlySet<string>, except: readonly string[]): Promise<void> {
    const keys: string[] = [];
    const prefix = sweepScopePrefix(scope);
    // Every namespace's scope of a label: a prefix lookup in the scope index, then the match.
    const result = prefix ? await this.tx.run(cypher.SCOPE_PREFIX_NODES, { prefix }) : await this.tx.run(cypher.SCOPE_NODES, { scope });
    for (const r of result.records) {
      const key = r.get("key") as string;
      if (scopeCovers(scope, except, r.get("scope") as string) && r.get("observed") === true && !present.has(key)) keys.push(key);
    }
    if (keys.length > 0) await this.run(sweepRun(keys.sort(compareCodePoints)));
  }

  private async run(run: Run): Promise<void> {
    for (const key of run.droppedTargets) this.garbage.add(key);
    // Decided first: removing the run's old edges would hide references the ops before
    // the delete had not removed yet. A delete of a missing key is a no-op.
    const referenced = await this.decideDeletes(run);
    const deletes = run.deletes.filter((d) => referenced.has(d.key));
    const owners = [...run.upserts.map((u) => u.key), ...deletes.map((d) => d.key)];
    for (const key of owners) this.touched.add(key);
    // A key not in the graph owns nothing (every delete takes its owned edges, nodes and
    // selectors with it): only keys that exist (deletes always do) are cleaned up.
    // Probed once for every node the run writes: new ones are created outright below.
    const written = [...run.nodes.values()].flatMap((rows) => rows.map((r) => r.key));
    const existing = await this.existing([...new Set([...run.upserts.map((u) => u.key), ...written])]);
    const upserts = run.upserts.filter((u) => existing.has(u.key));
    const cleanup = [...upserts.map((u) => u.key), ...deletes.map((d) => d.key)];
    await this.removeOwnedEdges(cleanup);
    await this.removeOwnedNodes(upserts, deletes);
    await this.replaceSelectors(cleanup, run.selectors);
    await this.demote(deletes.filter((d) => referenced.get(d.key) === true));
    await this.detachDelete(deletes.filter((d) => referenced.get(d.key) === false).map((d) => d.key));
    await this.writeNodes(run.nodes, existing, written);
    await this.writeRows(run.placeholders, this.q.createPlaceholders);
    await this.createEdges(run.edges);
    for (const [type, rows] of run.links) {
      for (const chunk of chunks(rows, ROWS_PER_QUERY)) this.send(this.q.createLinks(type), { rows: chunk });
    }
  }

  private async existing(keys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const chunk of chunks(keys, KEYS_PER_QUERY)) for (const key of await this.column<string>(cypher.EXISTING_KEYS, { keys: chunk }, "key")) found.add(key);
    return found;
  }

  private async replaceSelectors(owners: readonly string[], rows: readonly SelectorRow[]): Promise<void> {
    for (const chunk of chunks(owners, KEYS_PER_QUERY)) this.send(cypher.DELETE_SELECTORS, { owners: chunk });
    for (const chunk of chunks(rows, ROWS_PER_QUERY)) this.send(cypher.CREATE_SELECTORS, { rows: chunk });
  }

  /** Selected edges into or out of the touched keys become exactly what the stored
   *  selectors select now: the shared algorithm (selector-resolution.ts) over these
   *  queries, in this transaction. */
  private async resolveSelectors(): Promise<void> {
    const tx = this.tx;
    await resolveSelectionsAsync(this.touched, {
      anySelector: async () => (await tx.run(cypher.ANY_SELECTOR)).records.length > 0,
      deleteSelectedInto: async (keys) => {
        for (const chunk of chunks(keys, KEYS_PER_QUERY)) this.send(cypher.DELETE_SELECTED_INTO, { keys: chunk });
      },
      selectorsOf: (owners) => readInChunks(owners, (chunk) => this.selectorRows(cypher.SELECTORS_OF, { owners: chunk })),
      selectorsIn: (scopes) => readInChunks(scopes, (chunk) => this.selectorRows(cypher.SELECTORS_FOR, { scopes: chunk })),
      observedIn: (scopes) =>
        readInChunks(scopes, async (chunk) =>
          (await tx.run(cypher.SCOPE_LABELS, { scopes: chunk })).records.flatMap((r): ScopedNode[] => {
            const sc = r.get("sc") as string;
            return r.get("scope") === sc && r.get("observed") === true ? [{ key: r.get("key") as string, scope: sc, labels: plainValue(r.get("labels")) }] : [];
          }),
        ),
      observedNodes: (keys) =>
        readInChunks(keys, async (chunk) =>
          (await tx.run(cypher.NODE_LABELS, { keys: chunk })).records.flatMap((r): ScopedNode[] => {
            const scope = r.get("scope") as string | null;
            return r.get("observed") === true && typeof scope === "string" ? [{ key: r.get("key") as string, scope, labels: plainValue(r.get("labels")) }] : [];
          }),
        ),
      createSelected: async (edges) => {
        // The edge properties: the selector's, parsed once per selector, and its owner.
        const props = new Map<SelectorRow, EdgeRow["props"]>();
        const byType = new Map<string, EdgeRow[]>();
        for (const { selector: s, to } of edges) {
          let p = props.get(s);
          if (!p) {
            p = { ...(JSON.parse(s.props) as EdgeRow["props"]), owner: s.owner };
            props.set(s, p);
          }
          const rows = byType.get(s.type);
          if (rows) rows.push({ from: s.from, to, props: p });
          else byType.set(s.type, [{ from: s.from, to, props: p }]);
        }
        await this.createEdges(byType);
      },
    });
  }

  private async selectorRows(query: string, params: Record<string, unknown>): Promise<SelectorRow[]> {
    return (await this.tx.run(query, params)).records.map((r) => ({
      owner: r.get("owner") as string,
      from: r.get("from") as string,
      type: r.get("type") as string,
      scope: r.get("scope") as string,
      spec: r.get("spec") as string,
      props: r.get("props") as string,
    }));
  }

  /** For each delete whose key exists: does another object's edge still point at it when
   *  the delete comes? Edges of owners whose first op is later in the run still do. */
  private async decideDeletes(run: Run): Promise<Map<string, boolean>> {
    const decisions = new Map<string, boolean>();
    const pos = new Map(run.deletes.map((d) => [d.key, d.pos]));
    for (const chunk of chunks(
      run.deletes.map((d) => d.key),
      KEYS_PER_QUERY,
    )) {
      // Derived edges are not references, and never touch a placeholder: they go first.
      await this.tx.run(cypher.DELETE_DERIVED_OF, { keys: chunk });
      for (const r of (await this.tx.run(cypher.INCOMING_OWNERS, { keys: chunk })).records) {
        const key = r.get("key") as string;
        const at = pos.get(key) ?? 0;
        const owners = r.get("owners") as string[];
        decisions.set(
          key,
          owners.some((owner) => owner === "" || (owner !== key && (run.firstPos.get(owner) ?? run.size) > at)),
        );
      }
    }
    return decisions;
  }

  private async removeOwnedEdges(owners: string[]): Promise<void> {
    if (owners.length === 0) return;
    for (const chunk of chunks(owners, KEYS_PER_QUERY)) {
      this.send(cypher.REMOVE_OWNED_EDGES, { owners: chunk }, (result) => {
        for (const r of result.records) this.garbage.add(r.get("target") as string);
      });
    }
  }

  /** Upserts keep the owned nodes they list; deletes keep none. */
  private async removeOwnedNodes(upserts: readonly RunUpsert[], deletes: readonly RunDelete[]): Promise<void> {
    const keep = new Map<string, ReadonlySet<string>>(upserts.map((u) => [u.key, new Set(u.keep)]));
    for (const d of deletes) keep.set(d.key, new Set());
    if (keep.size === 0) return;
    const doomed: string[] = [];
    for (const chunk of chunks([...keep.keys()], KEYS_PER_QUERY)) {
      for (const r of (await this.tx.run(cypher.OWNED_NODES, { owners: chunk })).records) {
        const key = r.get("key") as string;
        const kept = keep.get(r.get("owner") as string);
        if (kept !== undefined && key !== r.get("owner") && !kept.has(key)) doomed.push(key);
      }
    }
    await this.detachDelete(doomed);
  }

  private async demote(deletes: readonly RunDelete[]): Promise<void> {
    const byLabel = new Map<string | null, Array<{ key: string; props: Record<string, unknown> | null }>>();
    for (const d of deletes) {
      const label = d.demoteTo?.label ?? null;
      const rows = byLabel.get(label) ?? [];
      rows.push({ key: d.key, props: d.demoteTo?.props ?? null });
      byLabel.set(label, rows);
    }
    for (const [label, rows] of byLabel) {
      for (const chunk of chunks(rows, ROWS_PER_QUERY)) this.send(this.q.demote(label), { rows: chunk });
    }
  }

  /** Deletes nodes with their edges; what they were connected to may become garbage. */
  private async detachDelete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    for (const chunk of chunks(keys, KEYS_PER_QUERY)) {
      for (const neighbour of await this.column<string>(cypher.NEIGHBOURS, { keys: chunk }, "key")) this.garbage.add(neighbour);
      this.send(cypher.DETACH_DELETE, { keys: chunk });
    }
    for (const key of keys) this.garbage.delete(key);
  }

  /** Nodes the run found in the graph are merged and relabelled; the others created. A
   *  key written twice in the run (possible only for owned nodes) takes the merge path. */
  private async writeNodes(rowsByLabel: ReadonlyMap<string, NodeRow[]>, existing: ReadonlySet<string>, written: readonly string[]): Promise<void> {
    const seen = new Set<string>();
    const twice = new Set<string>();
    for (const key of written) (seen.has(key) ? twice : seen).add(key);
    const merge = new Map<string, NodeRow[]>();
    const create = new Map<string, NodeRow[]>();
    for (const [label, rows] of rowsByLabel) {
      for (const row of rows) {
        const target = existing.has(row.key) || twice.has(row.key) ? merge : create;
        const list = target.get(label);
        if (list) list.push(row);
        else target.set(label, [row]);
      }
    }
    await this.writeRows(merge, this.q.writeNodes);
    await this.writeRows(create, this.q.createNodes);
  }

  private async writeRows(rowsByLabel: ReadonlyMap<string, NodeRow[]>, query: (label: string) => string): Promise<void> {
    for (const [label, rows] of rowsByLabel) {
      for (const chunk of chunks(rows, ROWS_PER_QUERY)) this.send(query(label), { rows: chunk });
    }
  }

  private async createEdges(edgesByType: ReadonlyMap<string, EdgeRow[]>): Promise<void> {
    for (const [type, rows] of edgesByType) {
      for (const chunk of chunks(rows, ROWS_PER_QUERY)) {
        this.send(this.q.createEdges(type), { rows: chunk }, (result) => {
          const created = toNumber(result.records[0]?.get("created"));
          // Cannot happen for ops under the contract (nodes are written first); refuse to commit a partial graph if it does.
          if (created !== chunk.length) throw new GraphContractError(`${chunk.length - created} ${type} edge(s) could not be created: an endpoint is missing`);
        });
      }
    }
  }

  /** In rounds: deleting an unused placeholder can leave what its links pointed at unused. */
  private async collectGarbage(): Promise<void> {
    let candidates = [...this.garbage];
    while (candidates.length > 0) {
      const doomed: string[] = [];
      const next = new Set<string>();
      for (const chunk of chunks(candidates, KEYS_PER_QUERY)) {
        for (const r of (await this.tx.run(cypher.GARBAGE, { keys: chunk })).records) {
          doomed.push(r.get("key") as string);
          for (const k of r.get("next") as string[]) next.add(k);
        }
      }
      for (const chunk of chunks(doomed, KEYS_PER_QUERY)) this.send(cypher.DELETE_NODES, { keys: chunk });
      for (const k of doomed) next.delete(k);
      candidates = [...next];
    }
  }

  private async column<T>(query: string, params: Record<string, unknown>, field: string): Promise<T[]> {
    return (await this.tx.run(query, params)).records.map((r) => r.get(field) as T);
  }
}

// ---------------------------------------------------------------------------------------

function nodeLine(labels: unknown, key: unknown, properties: unknown): Extract<ExportLine, { type: "node" }> {
  const { key: _key, ...rest } = plainProperties(properties);
  return { type: "node", labels: (labels as string[]).slice().sort(compareCodePoints), key: key as string, properties: sortedKeys(rest) };
}

function edgeLine(rel: unknown, from: unknown, to: unknown, properties: unknown): Extract<ExportLine, { type: "edge" }> {
  return { type: "edge", rel: rel as string, from: from as string, to: to as string, properties: plainProperties(properties) };
}

/** Neo4j properties as plain JS values (Integers become numbers), keys sorted. */
function plainProperties(properties: unknown): Record<string, unknown> {
  const record = properties as Record<string, unknown>;
  return sortedKeys(Object.fromEntries(Object.keys(record).map((k) => [k, plainValue(record[k])])));
}

function plainValue(value: unknown): unknown {
  if (isInt(value)) return value.toNumber();
  if (Array.isArray(value)) return value.map(plainValue);
  return value;
}

function toNumber(value: unknown): number {
  return isInt(value) ? value.toNumber() : Number(value);
}

function codeOf(error: unknown): string | undefined {
  return error instanceof Neo4jError ? error.code : undefined;
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** One read per chunk of keys (`IN $keys` queries), the rows together. */
async function readInChunks<T>(keys: readonly string[], read: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const rows: T[] = [];
  for (const chunk of chunks(keys, KEYS_PER_QUERY)) rows.push(...(await read(chunk)));
  return rows;
}

/** The URI without user:password@ (never in messages or logs). */
function redactUri(uri: string): string {
  return String(uri).replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, "$1");
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => undefined); // a late failure after the timeout is not unhandled
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
