// The graph a direct LIST of the cluster implies, for tests: the same code `verify` uses
// (core/verify/expected-graph.ts: every listed object through its plugin and the
// translation into a fresh in-memory embedded sink). Tests compare an agent's graph with
// it after crashes and outages (the translation itself is checked against hand-written
// expectations in pipeline.test.ts).
import { loadPlugins } from "../../core/plugin/registry.js";
import { KubeHttpClient } from "../../core/kube/client.js";
import type { ExportLine, GraphOp } from "../../core/graph/model.js";
import { expectedGraph, scopeOps } from "../../core/verify/expected-graph.js";
import { listAll } from "../../core/verify/list.js";
import { adminKubeConfig } from "./cluster.js";

export async function expectedExport(cluster: string, scopes: Array<{ resource: string; namespace: string | null }>): Promise<ExportLine[]> {
  const { plugins } = await loadPlugins([]);
  const client = new KubeHttpClient(adminKubeConfig(), { connectTimeoutMs: 10_000, listTimeoutMs: 60_000, userAgent: "kube-observer-test" });
  try {
    const ops: GraphOp[] = [];
    for (const { resource, namespace } of scopes) {
      const plugin = plugins.get(resource);
      if (!plugin) throw new Error(`no plugin ${resource}`);
      const scope = { cluster, namespace, plugin };
      const result = scopeOps(scope, await listAll(client, scope, 500));
      if (result.untranslatable.length > 0) throw new Error(`untranslatable objects: ${JSON.stringify(result.untranslatable)}`);
      ops.push(...result.ops);
    }
    return await expectedGraph(ops);
  } finally {
    client.close();
  }
}
