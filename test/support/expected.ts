// The graph a direct LIST of the cluster implies: every listed object run through the
// same plugins and translation into a fresh in-memory embedded sink. Tests compare an
// agent's graph with it after crashes and outages (the translation itself is checked
// against hand-written expectations in pipeline.test.ts).
import { loadPlugins } from "../../core/plugin/registry.js";
import { toGraphOp } from "../../core/dispatch/translate.js";
import { KubeHttpClient } from "../../core/kube/client.js";
import { SqliteGraphSink } from "../../core/graph/sqlite-sink.js";
import type { ExportLine, GraphOp } from "../../core/graph/model.js";
import type { KubeMessage } from "../../core/messages.js";
import { adminKubeConfig } from "./cluster.js";

export async function expectedExport(cluster: string, scopes: Array<{ resource: string; namespace: string | null }>): Promise<ExportLine[]> {
  const { plugins } = await loadPlugins([]);
  const client = new KubeHttpClient(adminKubeConfig(), { connectTimeoutMs: 10_000, listTimeoutMs: 60_000, userAgent: "kube-observer-test" });
  const sink = new SqliteGraphSink(":memory:");
  try {
    const ops: GraphOp[] = [];
    for (const scope of scopes) {
      const loaded = plugins.get(scope.resource);
      if (!loaded) throw new Error(`no plugin ${scope.resource}`);
      const lw = client.forResource(loaded.plugin.resource, scope.namespace);
      let continueToken: string | undefined;
      do {
        const page = await lw.list({ limit: 500, continueToken });
        for (const object of page.items) {
          const message: KubeMessage = {
            cluster,
            namespace: scope.namespace,
            resource: scope.resource,
            kind: loaded.plugin.resource.kind,
            action: "Applied",
            objectNamespace: object.metadata?.namespace ?? null,
            uid: object.metadata?.uid ?? null,
            name: object.metadata?.name ?? null,
            resourceVersion: object.metadata?.resourceVersion ?? "",
            observedAt: "",
            object: loaded.plugin.reduce(object),
          };
          const op = toGraphOp(message, loaded);
          if (op) ops.push(op);
        }
        continueToken = page.continueToken;
      } while (continueToken);
    }
    await sink.apply(ops);
    const lines: ExportLine[] = [];
    for await (const line of sink.export()) lines.push(line);
    return lines;
  } finally {
    client.close();
    await sink.close();
  }
}
