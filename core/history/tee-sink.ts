// A graph sink whose history is kept in a file of its own (Neo4j, or history.path set):
// each batch goes to the sink and, once the sink committed it, to the history's copy of the
// current graph (with the agent's thread, history-copy.ts: committed to the history's inbox,
// recorded from there off the dispatcher's path), before the dispatcher acknowledges it. A
// batch applied again after a crash between the two changes nothing in the sink and
// records in the history only what it did not record yet (versions are cut by comparing
// with the open ones, never appended blindly), so the history ends up with each change once.
import type { DerivedEdgeSet, ExportLine, GraphOp, GraphSchema, GraphSink, GraphStats, IncomingEdge } from "../graph/model.js";
import type { WriterIdentity } from "../graph/writer.js";
import { failpoint } from "../faults.js";

/** The history's copy of the current graph: a SqliteGraphSink with history, in the agent's
 *  thread (tests, benches; written while the sink works, committed after it), or in a
 *  thread of its own behind an inbox (history-copy.ts, the agent; `commit` queues it). */
export interface HistoryCopy {
  init(schema: GraphSchema): Promise<void>;
  applyPending(ops: readonly GraphOp[]): Promise<{ commit(): void | Promise<void>; rollback(): void | Promise<void> }>;
  replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void>;
  close(): Promise<void>;
}

export class HistoryTeeSink implements GraphSink {
  readonly kind: GraphSink["kind"];
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly inner: GraphSink,
    readonly history: HistoryCopy,
  ) {
    this.kind = inner.kind;
  }

  async init(schema: GraphSchema): Promise<void> {
    await this.inner.init(schema);
    await this.history.init(schema);
  }

  async registerWriter(clusters: readonly string[], writer: WriterIdentity): Promise<void> {
    await this.inner.registerWriter?.(clusters, writer);
  }

  /** The history's copy gets the batch while the sink works on it, and commits (or
   *  queues) it only after the sink committed: a batch the sink fails or refuses leaves no
   *  trace in the history. */
  apply(ops: readonly GraphOp[]): Promise<void> {
    return this.serially(() => this.applyBoth(ops));
  }

  /** One write at a time: the history's transaction stays open across an await. */
  private serially<T>(write: () => Promise<T>): Promise<T> {
    const result = this.queue.then(write);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async applyBoth(ops: readonly GraphOp[]): Promise<void> {
    const graph = this.inner.apply(ops);
    // Started, not awaited: the history's copy is written while the sink works.
    graph.catch(() => undefined);
    let pending: Awaited<ReturnType<HistoryCopy["applyPending"]>>;
    try {
      pending = await this.history.applyPending(ops);
    } catch (error) {
      // The sink's verdict on the batch comes first (a row it refuses is parked; the
      // history failing is retried).
      await graph;
      throw error;
    }
    try {
      await graph;
    } catch (error) {
      await Promise.resolve(pending.rollback()).catch(() => undefined);
      throw error;
    }
    failpoint("history.before-apply");
    await pending.commit();
  }

  replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void> {
    return this.serially(async () => {
      await this.inner.replaceDerived(sets, exclusive);
      await this.history.replaceDerived(sets, exclusive);
    });
  }

  stats(): Promise<GraphStats> {
    return this.inner.stats();
  }

  export(): AsyncIterable<ExportLine> {
    return this.inner.export();
  }

  incoming(key: string): Promise<IncomingEdge[]> {
    return this.inner.incoming(key);
  }

  subgraph(labels: readonly string[], rels: readonly string[]): Promise<ExportLine[]> {
    return this.inner.subgraph(labels, rels);
  }

  neighbourhood(keys: readonly string[]): Promise<ExportLine[]> {
    return this.inner.neighbourhood(keys);
  }

  storageSchema(): ReturnType<NonNullable<GraphSink["storageSchema"]>> {
    return this.inner.storageSchema ? this.inner.storageSchema() : Promise.reject(new Error("the sink reports no storage schema"));
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      await this.history.close();
    }
  }
}
