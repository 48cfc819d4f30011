// A graph sink whose history is kept in a file of its own (Neo4j, or history.path set):
// each batch is applied to the sink, then to the history's copy of the current graph,
// whose transaction records the versions (recorder.ts). Nothing is acknowledged before
// both committed; a batch applied again after a crash between the two changes nothing in
// the sink and records in the history only what it did not record yet (versions are cut
// by comparing with the open ones, never appended blindly), so the history ends up with
// each change once.
import type { DerivedEdgeSet, ExportLine, GraphOp, GraphSchema, GraphSink, GraphStats, IncomingEdge } from "../graph/model.js";
import type { SqliteGraphSink } from "../graph/sqlite-sink.js";
import type { WriterIdentity } from "../graph/writer.js";
import { failpoint } from "../faults.js";

export class HistoryTeeSink implements GraphSink {
  readonly kind: GraphSink["kind"];

  constructor(
    readonly inner: GraphSink,
    readonly history: SqliteGraphSink,
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

  async apply(ops: readonly GraphOp[]): Promise<void> {
    await this.inner.apply(ops);
    failpoint("history.before-apply");
    await this.history.apply(ops);
  }

  async replaceDerived(sets: readonly DerivedEdgeSet[], exclusive?: string): Promise<void> {
    await this.inner.replaceDerived(sets, exclusive);
    await this.history.replaceDerived(sets, exclusive);
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
