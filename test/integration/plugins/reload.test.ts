// Plugins and a running agent: a plugin broken at start-up is reported and the agent runs
// the rest; fixed, it is observed after SIGHUP; a plugin file added with a matching actor
// is observed after the config changes; a changed file is re-imported (not Node's cached
// module); a file that breaks keeps its last good version running, for new observers
// too. One agent process throughout.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { ExportLine } from "../../../core/graph/model.js";
import { repoRoot, type ActorSpec, type AgentProcess, type LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, devEnv, uniqueName } from "../../support/cluster.js";
import { nodesOf, waitForGraph, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("plugins-reload");
const ns2 = uniqueName("plugins-reload2");
const dir = mkdtempSync(join(tmpdir(), "kube-observer-reload-plugins-"));
const file = (name: string): string => join(dir, name);
let agent: AgentProcess | undefined;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [ns, ns2]);
});

/** A ConfigMap plugin with its own node label, whose nodes carry `pluginVersion`. */
const pluginText = (name: string, label: string, version: number): string => `// reload test plugin, version ${version}
export default {
  name: ${JSON.stringify(name)},
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  reduce: (object) => ({ name: object.metadata?.name ?? "" }),
  graph: {
    label: ${JSON.stringify(label)},
    schema: { labels: [${JSON.stringify(label)}], relationships: [] },
    toGraph: () => ({ properties: { pluginVersion: ${version} } }),
  },
};
`;
// Line 3 is not JavaScript.
const syntaxError = "export default {\n  name: 'oops',\n  reduce(o) { return o. ; },\n};\n";

const versionOf = (lines: ExportLine[], key: string): unknown => nodesOf(lines).find((n) => n.key === key)?.properties.pluginVersion;
const k = (namespace: string, label: string, name: string): string => `local/${namespace}/${label}/${name}`;
const configMap = (namespace: string, name: string) => core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { a: "b" } } });
const logAfter = (a: AgentProcess, mark: number, what: string, predicate: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> =>
  a.waitFor(what, () => a.logs.slice(mark).find(predicate), timeoutMs);

describe("plugins on reload", () => {
  beforeAll(async () => {
    await createNamespace(core, ns);
    await createNamespace(core, ns2);
    await configMap(ns, "one");
    await configMap(ns2, "three");
  });

  it("picks up fixed, added and changed plugins, and keeps the last good version of one that breaks", async () => {
    writeFileSync(file("fixed-later.mjs"), syntaxError);
    const actors: ActorSpec[] = [
      { resource: "configmap", namespace: ns },
      { resource: "fixed-later", namespace: ns },
    ];
    const ws = workspace("sqlite", actors, { pluginDirs: [dir], logLevel: "debug", observer: { threads: 4 } });
    agent = ws.run();
    const a = agent;

    // 1. Broken at start-up: reported, its actor not observed, the rest runs.
    const notLoaded = await a.waitForLog("the load error", (l) => String(l.msg).startsWith("plugin not loaded") && l.file === file("fixed-later.mjs"));
    expect(String(notLoaded.reason)).toMatch(/^cannot be loaded: SyntaxError: .*\(line 3\)/);
    await a.waitForLog("the unobserved actor", (l) =>
      String(l.msg).startsWith('actors naming resource "fixed-later" are not observed: its plugin failed to load'),
    );
    await waitForGraph(ws, "the ConfigMap", (l) => (nodesOf(l).some((n) => n.key === k(ns, "ConfigMap", "one")) ? true : undefined));

    // 2. Fixed, then SIGHUP with the config unchanged: observed.
    let mark = a.logs.length;
    writeFileSync(file("fixed-later.mjs"), pluginText("fixed-later", "FixedLaterConfig", 1));
    a.signal("SIGHUP");
    await logAfter(a, mark, "the plugins reload", (l) => l.msg === "plugins changed: applying");
    await waitForGraph(ws, "the fixed plugin's node", (l) => (versionOf(l, k(ns, "FixedLaterConfig", "one")) === 1 ? true : undefined));

    // 3. A new plugin file and an actor naming it: observed after the config change.
    mark = a.logs.length;
    writeFileSync(file("added.mjs"), pluginText("added", "AddedConfig", 1));
    actors.push({ resource: "added", namespace: ns });
    ws.rewrite({ actors });
    await logAfter(a, mark, "the config reload", (l) => l.msg === "config changed: applying");
    const reconciled = await logAfter(a, mark, "the reconcile", (l) => l.msg === "observers reconciled");
    expect(reconciled).toMatchObject({ started: 1, stopped: 0 });
    await waitForGraph(ws, "the added plugin's node", (l) => (versionOf(l, k(ns, "AddedConfig", "one")) === 1 ? true : undefined));

    // 4. The file changes (same name and path): SIGHUP re-imports it; only its observer restarts.
    mark = a.logs.length;
    writeFileSync(file("added.mjs"), pluginText("added", "AddedConfig", 2));
    a.signal("SIGHUP");
    // The old observer is stopped, then the new version's started once it has ended.
    const reconciles = (): LogLine[] => a.logs.slice(mark).filter((l) => l.msg === "observers reconciled");
    const total = (field: string): number => reconciles().reduce((n, l) => n + Number(l[field]), 0);
    await a.waitFor("the restart of the changed plugin's observer", () => (total("started") >= 1 ? true : undefined));
    expect([total("started"), total("stopped")]).toEqual([1, 1]);
    await waitForGraph(ws, "the changed plugin's version", (l) => (versionOf(l, k(ns, "AddedConfig", "one")) === 2 ? true : undefined));
    expect(
      a.logs
        .slice(mark)
        .filter((l) => l.phase === "stopped")
        .map((l) => l.resource),
    ).toEqual(["added"]);

    // 5. The file breaks: reported; version 2 keeps running, for a new namespace's observer too.
    mark = a.logs.length;
    writeFileSync(file("added.mjs"), syntaxError);
    a.signal("SIGHUP");
    const kept = await logAfter(a, mark, "the kept-version report", (l) => String(l.msg).startsWith("plugin not reloaded"));
    expect(kept).toMatchObject({ file: file("added.mjs"), plugin: "added" });
    expect(String(kept.reason)).toMatch(/SyntaxError/);
    expect(String(kept.msg)).toContain("its last good version keeps running");
    await configMap(ns, "two");
    actors.push({ resource: "added", namespace: ns2 });
    mark = a.logs.length;
    ws.rewrite({ actors });
    expect(await logAfter(a, mark, "the reconcile", (l) => l.msg === "observers reconciled")).toMatchObject({ started: 1, stopped: 0 });
    const lines = await waitForGraph(ws, "objects through the kept version", (l) =>
      versionOf(l, k(ns, "AddedConfig", "two")) === 2 &&
      versionOf(l, k(ns2, "AddedConfig", "three")) === 2 &&
      versionOf(l, k(ns, "FixedLaterConfig", "two")) === 1
        ? l
        : undefined,
    );
    expect(versionOf(lines, k(ns, "AddedConfig", "one"))).toBe(2);

    // One process throughout; no observer crashed.
    expect(a.logs.filter((l) => /ended unexpectedly|ended with an error|crashed|config reload rejected/.test(String(l.msg)))).toEqual([]);
    expect(await Promise.race([a.exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("running"), 100))])).toBe("running");
  });

  it("a worker thread runs the loaded version of a file changed on disk since, from its source", async () => {
    // The compiled pool and worker, as the agent runs them.
    const { ObserverPool } = (await import(join(repoRoot, "dist/core/observer/pool.js"))) as typeof import("../../../core/observer/pool.js");
    const { sourceVersion } = (await import(join(repoRoot, "dist/core/plugin/registry.js"))) as typeof import("../../../core/plugin/registry.js");
    const pluginFile = join(mkdtempSync(join(tmpdir(), "kube-observer-edited-plugin-")), "edited.mjs");
    writeFileSync(pluginFile, pluginText("edited", "EditedConfig", 1).replace("reduce: (object) => ({", 'reduce: (object) => ({ from: "loaded version", '));
    const source = readFileSync(pluginFile, "utf8");
    writeFileSync(pluginFile, syntaxError); // edited (and broken) after the agent loaded it
    const pool = new ObserverPool(1);
    try {
      const run = (withSource: boolean) => {
        const objects: unknown[] = [];
        const handle = pool.start(
          {
            id: `edited-${withSource}`,
            cluster: { name: "local", kubeconfig: devEnv().kubeconfig, context: null, inCluster: false },
            namespace: ns,
            pluginName: "edited",
            pluginFile,
            pluginVersion: sourceVersion(source),
            pluginBuiltin: false,
            ...(withSource ? { pluginSource: source } : {}),
            config: {
              pageSize: 500,
              watchTimeoutMinSeconds: 290,
              watchTimeoutMaxSeconds: 300,
              inactivityMarginSeconds: 30,
              connectTimeoutSeconds: 10,
              backoff: { initialMs: 100, factor: 2, maxMs: 1000, resetAfterMs: 60_000, jitter: 0, maxRetryAfterMs: 300_000 },
              threads: 1,
              batchMaxMessages: 500,
              batchMaxDelayMs: 10,
              maxObjectBytes: 8 << 20,
              maxListPageBytes: 64 << 20,
              maxConcurrentLists: 16,
              withheldAnnotations: ["kapp.k14s.io/original", "kapp.k14s.io/original-diff", "objectset.rio.cattle.io/applied", "*last-applied*"],
              maxAnnotationBytes: 4096,
            },
            once: true,
            listSlots: 4,
          },
          { onBatch: async (messages) => void objects.push(...messages.filter((m) => m.name === "one").map((m) => m.object)), onStatus: () => undefined },
        );
        return handle.done.then(
          (status) => ({ phase: status.phase as string, objects }),
          (error: unknown) => ({ phase: `rejected: ${(error as Error).message}`, objects }),
        );
      };
      // Without the source, the worker refuses to run what the file holds now.
      const refused = await run(false);
      expect(refused.phase).toMatch(/^rejected: plugin .*edited\.mjs: changed on disk since the agent loaded it/);
      // With it, the loaded version runs.
      expect(await run(true)).toEqual({ phase: "stopped", objects: [{ from: "loaded version", name: "one" }] });
    } finally {
      await pool.close();
    }
  });
});
