// One live writer per (cluster, graph database). Two agents with separate WALs that write
// the same cluster into the same Neo4j database would race each other's relist sweeps, so
// an agent registers itself in the sink (holder identity + heartbeat) and a second one is
// refused. The embedded SQLite graph needs no registration: its file lock already admits
// one agent (core/lock/exclusive-file.ts).
import type { Holder } from "../lock/exclusive-file.js";

/** The agent as a graph writer. `id` is its WAL's identity: an agent restarted on the same
 *  WAL (the same pod volume) takes its own registration back at once. */
export interface WriterIdentity extends Holder {
  id: string;
}

/** What a sink records about the registered writer of one cluster. */
export interface WriterRecord extends Partial<Holder> {
  cluster: string;
  id: string;
  /** Milliseconds since its last heartbeat, by the database's clock. */
  ageMs: number;
}

/** Another live agent writes this cluster into this database; exit code 2. */
export class WriterConflictError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly where: string,
    readonly holders: readonly WriterRecord[],
    readonly leaseSeconds: number,
  ) {
    const who = holders
      .map(
        (h) =>
          `cluster "${h.cluster}" by agent ${h.id}${h.pid !== undefined ? ` (pid ${h.pid} on host ${h.host ?? "?"}, since ${h.since ?? "?"})` : ""}, last heartbeat ${(h.ageMs / 1000).toFixed(1)} s ago`,
      )
      .join("; ");
    super(
      `${where} is already written by another live kube-observer agent: ${who}. Two writers of one cluster race each other's relist sweeps, so this one will not write. ` +
        `Stop the other agent (a registration without a heartbeat for ${leaseSeconds} s expires by itself), or point this one at another database or cluster name.`,
    );
    this.name = "WriterConflictError";
  }
}
