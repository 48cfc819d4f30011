// The Neo4j side of writer registration (core/graph/writer.ts): one :KoWriter node per
// cluster (unique on `cluster`, not an Entity, never exported) holding the writer's
// identity and a heartbeat by the database's clock, so the agents' clocks do not matter.
import type { Driver, ManagedTransaction } from "neo4j-driver";
import neo4j, { isInt } from "neo4j-driver";
import { WriterConflictError, type WriterIdentity, type WriterRecord } from "./writer.js";

export const WRITER_LABEL = "KoWriter";

/** How long a shutdown waits to remove its registrations. */
const RELEASE_TIMEOUT_MS = 2_000;

export const WRITER_CONSTRAINT = `CREATE CONSTRAINT ko_writer_cluster IF NOT EXISTS FOR (w:${WRITER_LABEL}) REQUIRE w.cluster IS UNIQUE`;

/** Takes each cluster's node write lock first (MERGE, then SET), so that two agents
 *  claiming at once are serialised and the second reads what the first wrote. */
const LOCK = `
UNWIND $clusters AS cluster
MERGE (w:${WRITER_LABEL} {cluster: cluster})
ON CREATE SET w.holder = $id, w.heartbeat = 0
SET w.lockedAt = timestamp()`;

const READ = `
UNWIND $clusters AS cluster
MATCH (w:${WRITER_LABEL} {cluster: cluster})
RETURN w.cluster AS cluster, w.holder AS holder, w.pid AS pid, w.host AS host, w.since AS since,
       w.command AS command, timestamp() - w.heartbeat AS ageMs`;

const TAKE = `
UNWIND $clusters AS cluster
MATCH (w:${WRITER_LABEL} {cluster: cluster})
SET w.since = CASE WHEN w.holder = $id AND w.since IS NOT NULL THEN w.since ELSE $since END
SET w.holder = $id, w.pid = $pid, w.host = $host, w.command = $command, w.heartbeat = timestamp()`;

const RELEASE = `
UNWIND $clusters AS cluster
MATCH (w:${WRITER_LABEL} {cluster: cluster, holder: $id})
DELETE w`;

export interface WriterRegistrationOptions {
  driver: Driver;
  database: string | undefined;
  /** Where, for messages: "Neo4j at bolt://… (database …)". */
  where: string;
  leaseSeconds: number;
  /** Another agent took a registration over (this one missed heartbeats for a lease). */
  onLost: (error: WriterConflictError) => void;
  /** A heartbeat that could not reach the database (it is retried). */
  onHeartbeatFailed?: (error: unknown) => void;
}

export class Neo4jWriterRegistration {
  private clusters: string[] = [];
  private writer: WriterIdentity | undefined;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private lost = false;

  constructor(private readonly options: WriterRegistrationOptions) {}

  /** Claims every cluster in `clusters` (all or none), releases the ones left out, and
   *  keeps them with a heartbeat every third of the lease. */
  async register(clusters: readonly string[], writer: WriterIdentity): Promise<void> {
    const wanted = [...new Set(clusters)].sort();
    await this.claim(wanted, writer);
    const dropped = this.clusters.filter((c) => !wanted.includes(c));
    if (dropped.length > 0 && this.writer) await this.release(dropped, this.writer.id);
    this.clusters = wanted;
    this.writer = writer;
    this.lost = false;
    if (!this.timer) {
      const every = Math.max(1_000, (this.options.leaseSeconds * 1000) / 3);
      this.timer = setInterval(() => void this.heartbeat(), every);
      this.timer.unref();
    }
  }

  /** Stops the heartbeat and removes this agent's registrations: best effort and bounded,
   *  so that a shutdown with the database down is not held up (a registration that could
   *  not be removed expires after the lease). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const clusters = this.clusters;
    this.clusters = [];
    if (!this.writer || clusters.length === 0 || this.lost) return;
    const id = this.writer.id;
    const released = (this.beating ?? Promise.resolve()).then(() => this.release(clusters, id)).catch(() => undefined);
    await Promise.race([released, new Promise((resolve) => setTimeout(resolve, RELEASE_TIMEOUT_MS).unref())]);
  }

  private heartbeat(): Promise<void> {
    if (this.beating || !this.writer || this.lost) return this.beating ?? Promise.resolve();
    const writer = this.writer;
    this.beating = this.claim(this.clusters, writer)
      .catch((error: unknown) => {
        if (error instanceof WriterConflictError) {
          this.lost = true;
          clearInterval(this.timer);
          this.timer = undefined;
          this.options.onLost(error);
        } else {
          this.options.onHeartbeatFailed?.(error);
        }
      })
      .finally(() => {
        this.beating = undefined;
      });
    return this.beating;
  }

  private async claim(clusters: readonly string[], writer: WriterIdentity): Promise<void> {
    if (clusters.length === 0) return;
    const leaseMs = this.options.leaseSeconds * 1000;
    const session = this.options.driver.session({ database: this.options.database, defaultAccessMode: neo4j.session.WRITE });
    try {
      await session.executeWrite(async (tx: ManagedTransaction) => {
        await tx.run(LOCK, { clusters, id: writer.id });
        const records = (await tx.run(READ, { clusters })).records.map(
          (r): WriterRecord => ({
            cluster: r.get("cluster") as string,
            id: r.get("holder") as string,
            pid: optionalNumber(r.get("pid")),
            host: (r.get("host") as string | null) ?? undefined,
            since: (r.get("since") as string | null) ?? undefined,
            command: (r.get("command") as string | null) ?? undefined,
            ageMs: toNumber(r.get("ageMs")),
          }),
        );
        const held = records.filter((r) => r.id !== writer.id && r.ageMs < leaseMs);
        // Thrown inside the transaction: it rolls back, and executeWrite does not retry it.
        if (held.length > 0) throw new WriterConflictError(this.options.where, held, this.options.leaseSeconds);
        await tx.run(TAKE, { clusters, id: writer.id, pid: writer.pid, host: writer.host, since: writer.since, command: writer.command });
      });
    } finally {
      await session.close();
    }
  }

  private async release(clusters: readonly string[], id: string): Promise<void> {
    await this.options.driver.executeQuery(RELEASE, { clusters, id }, { database: this.options.database });
  }
}

function toNumber(value: unknown): number {
  return isInt(value) ? value.toNumber() : Number(value);
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : toNumber(value);
}
