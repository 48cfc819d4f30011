// Broken third-party plugins, one file per failure, beside the built-in configmap plugin:
// each is reported in the agent's log with its file and what is wrong; good objects still
// reach the graph; a throw in reduce or in the graph function parks only that object;
// and the agent keeps running (and keeps observing) throughout.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, type LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { nodesOf, waitForGraph, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("plugins-broken");
// A group no apiserver serves, unique to this run.
const unservedGroup = `${uniqueName("nothing")}.plugins-test.kube-observer.dev`;
const dir = mkdtempSync(join(tmpdir(), "kube-observer-broken-plugins-"));
const file = (name: string): string => join(dir, name);

/** A valid plugin over ConfigMaps with its own graph label, with `body` spliced in. */
const configMapPlugin = (name: string, label: string, reduce: string, toGraph: string): string => `
export default {
  name: ${JSON.stringify(name)},
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  reduce(object) { ${reduce} },
  graph: {
    label: ${JSON.stringify(label)},
    schema: { labels: [${JSON.stringify(label)}], relationships: [] },
    toGraph(reduced) { ${toGraph} },
  },
};
`;

const files: Record<string, string> = {
  // Not JavaScript: the brace of reduce is never closed (line 6).
  "syntax-error.mjs": `export default {
  name: "syntax-error",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  reduce(object) {
    return { name: object.metadata.name ;
  },
};
`,
  // No resource at all.
  "missing-field.mjs": `export default { name: "missing-field", apiVersion: 1, reduce: (o) => ({ name: o.metadata?.name ?? "" }) };\n`,
  // namespaced must be a boolean; reduce must be a function.
  "wrong-type.mjs": `export default {
  name: "wrong-type",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: "yes" },
  reduce: "keep everything",
};
`,
  // Takes the built-in configmap plugin's name.
  "clash.mjs": configMapPlugin("configmap", "ClashConfig", "return { name: object.metadata?.name ?? '' };", "return { properties: { clash: true } };"),
  // A resource nobody serves.
  "not-served.mjs": `export default {
  name: "not-served",
  apiVersion: 1,
  resource: { group: ${JSON.stringify(unservedGroup)}, version: "v1", plural: "widgets", kind: "Widget", namespaced: true },
  reduce: (o) => ({ name: o.metadata?.name ?? "" }),
};
`,
  // Throws in reduce for ConfigMaps whose name starts with "bad-reduce".
  "reduce-throws.mjs": configMapPlugin(
    "reduce-throws",
    "ReduceThrowsConfig",
    `const name = object.metadata?.name ?? "";
    if (name.startsWith("bad-reduce")) throw new Error("reduce-throws: cannot reduce " + name);
    return { name };`,
    "return { properties: { reduced: reduced.name } };",
  ),
  // Throws in toGraph for ConfigMaps whose name starts with "poison".
  "graph-throws.mjs": configMapPlugin(
    "graph-throws",
    "GraphThrowsConfig",
    "return { name: object.metadata?.name ?? '' };",
    `if (reduced.name.startsWith("poison")) throw new Error("graph-throws: cannot graph " + reduced.name);
    return { properties: { graphed: true } };`,
  ),
};
for (const [name, text] of Object.entries(files)) writeFileSync(file(name), text);

// Actors name every plugin, the broken ones included: they are reported, the rest run.
const resources = ["configmap", "syntax-error", "missing-field", "wrong-type", "not-served", "reduce-throws", "graph-throws"];
const ws = workspace(
  "sqlite",
  resources.map((resource) => ({ resource, namespace: ns })),
  { pluginDirs: [dir], logLevel: "debug" },
);
let agent: AgentProcess;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [ns]);
});

const configMap = (name: string) => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { a: "b" } } });
const notLoaded = (l: LogLine, name: string): boolean => String(l.msg).startsWith("plugin not loaded") && l.file === file(name);

describe("broken third-party plugins", () => {
  beforeAll(async () => {
    await createNamespace(core, ns);
    for (const name of ["good-1", "good-2", "bad-reduce-1", "poison-1"]) await configMap(name);
    agent = ws.run();
    await agent.waitForLog("the observers to start", (l) => l.msg === "observers reconciled");
  }, 120_000);

  it("reports each plugin that cannot load, with its file and what is wrong", async () => {
    const reason = async (name: string): Promise<string> => String((await agent.waitForLog(`the report for ${name}`, (l) => notLoaded(l, name))).reason);
    expect(await reason("syntax-error.mjs")).toMatch(/^cannot be loaded: SyntaxError: .* \(line 6\)$/);
    const missing = await reason("missing-field.mjs");
    expect(missing).toMatch(/^is not a valid plugin: resource: /);
    expect(missing).not.toMatch(/reduce|name|apiVersion/);
    const wrong = await reason("wrong-type.mjs");
    expect(wrong).toMatch(/^is not a valid plugin: /);
    expect(wrong).toMatch(/resource\.namespaced: .*boolean/);
    expect(wrong).toMatch(/reduce: must be a function/);
    expect(await reason("clash.mjs")).toMatch(/^its name "configmap" is already taken by .*plugins[/\\]configmap\.(js|ts)$/);
    // Nothing else failed to load.
    expect(
      agent.logs
        .filter((l) => String(l.msg).startsWith("plugin not loaded"))
        .map((l) => l.file)
        .sort(),
    ).toEqual(["clash.mjs", "missing-field.mjs", "syntax-error.mjs", "wrong-type.mjs"].map(file));
    // The actors naming them are reported, not fatal.
    for (const resource of ["syntax-error", "missing-field", "wrong-type"]) {
      const line = agent.logs.find((l) => String(l.msg).startsWith(`actors naming resource "${resource}" are not observed`));
      expect(line, resource).toMatchObject({ resource, file: file(`${resource}.mjs`) });
    }
  });

  it("reports a resource the apiserver does not serve, with the plugin's file and API path", async () => {
    const line = await agent.waitForLog(
      "the not-served report",
      (l) => String(l.msg).startsWith("resource not served by the apiserver") && l.resource === "not-served",
      60_000,
    );
    expect(line).toMatchObject({ file: file("not-served.mjs"), api: `${unservedGroup}/v1/widgets`, namespace: ns });
    expect(String(line.reason)).toContain(`does not serve ${unservedGroup}/v1/widgets`);
  });

  it("gets every good object into the graph and parks exactly the ones a plugin throws on", async () => {
    const k = (label: string, name: string): string => `local/${ns}/${label}/${name}`;
    const wanted = [
      ...["good-1", "good-2", "bad-reduce-1", "poison-1", "kube-root-ca.crt"].map((n) => k("ConfigMap", n)),
      ...["good-1", "good-2", "poison-1", "kube-root-ca.crt"].map((n) => k("ReduceThrowsConfig", n)),
      ...["good-1", "good-2", "bad-reduce-1", "kube-root-ca.crt"].map((n) => k("GraphThrowsConfig", n)),
    ].sort();
    const mine = (keys: string[]): string[] => keys.filter((key) => key.startsWith(`local/${ns}/`)).sort();
    const lines = await waitForGraph(
      ws,
      "the good objects",
      (l) => (JSON.stringify(mine(nodesOf(l).map((n) => n.key))) === JSON.stringify(wanted) ? l : undefined),
      60_000,
    ).catch(() => ws.exportLines());
    expect(mine(nodesOf(lines).map((n) => n.key))).toEqual(wanted);

    const parked = await agent.waitFor("two parked messages", () => {
      const p = agent.logs.filter((l) => l.msg === "message parked");
      return p.length >= 2 ? p : undefined;
    });
    expect(parked.map((l) => `${l.plugin} ${l.name} ${l.file}`).sort()).toEqual([
      `graph-throws poison-1 ${file("graph-throws.mjs")}`,
      `reduce-throws bad-reduce-1 ${file("reduce-throws.mjs")}`,
    ]);
    // Where in the plugin it threw, never what it said (plugins build messages from the object).
    const throwLine = (name: string): number => files[name]!.split("\n").findIndex((l) => l.includes("throw new Error")) + 1;
    const reduceErr = String(parked.find((l) => l.plugin === "reduce-throws")?.err);
    expect(reduceErr).toMatch(
      new RegExp(
        `^plugin "reduce-throws" reduce threw an Error at reduce-throws\\.mjs:${throwLine("reduce-throws.mjs")}:\\d+; its message \\(\\d+ characters\\) is not shown`,
      ),
    );
    expect(reduceErr).not.toContain("bad-reduce-1");
    const graphErr = String(parked.find((l) => l.plugin === "graph-throws")?.err);
    expect(graphErr).toMatch(
      new RegExp(`^plugin "graph-throws" toGraph threw an Error at graph-throws\\.mjs:${throwLine("graph-throws.mjs")}:\\d+; its message`),
    );
    expect(graphErr).not.toContain("poison-1");

    const status = new AgentProcess(["wal", "status", "--config", ws.config, "--json"]);
    await status.exited;
    const report = JSON.parse(status.stdout) as { parked: number; parkedMessages: Array<{ plugin: string; name: string; error: string }> };
    expect(report.parked).toBe(2);
    expect(report.parkedMessages.map((p) => `${p.plugin} ${p.name}`).sort()).toEqual(["graph-throws poison-1", "reduce-throws bad-reduce-1"]);
  });

  it("keeps running and observing: objects created later, bad ones included, are handled the same", async () => {
    for (const name of ["bad-reduce-2", "late", "poison-2"]) await configMap(name);
    const k = (label: string, name: string): string => `local/${ns}/${label}/${name}`;
    await waitForGraph(
      ws,
      "the later objects",
      (l) => {
        const keys = new Set(nodesOf(l).map((n) => n.key));
        const there = [
          k("ConfigMap", "late"),
          k("ConfigMap", "bad-reduce-2"),
          k("ConfigMap", "poison-2"),
          k("ReduceThrowsConfig", "late"),
          k("ReduceThrowsConfig", "poison-2"),
          k("GraphThrowsConfig", "late"),
          k("GraphThrowsConfig", "bad-reduce-2"),
        ];
        return there.every((key) => keys.has(key)) ? true : undefined;
      },
      60_000,
    );
    const parked = await agent.waitFor("four parked messages", () => {
      const p = agent.logs.filter((l) => l.msg === "message parked");
      return p.length >= 4 ? p : undefined;
    });
    expect(parked.map((l) => `${l.plugin} ${l.name}`).sort()).toEqual([
      "graph-throws poison-1",
      "graph-throws poison-2",
      "reduce-throws bad-reduce-1",
      "reduce-throws bad-reduce-2",
    ]);
    const keys = new Set(nodesOf(await ws.exportLines()).map((n) => n.key));
    expect(keys.has(k("ReduceThrowsConfig", "bad-reduce-2"))).toBe(false);
    expect(keys.has(k("GraphThrowsConfig", "poison-2"))).toBe(false);
    // No observer crashed or was restarted; the process is alive.
    expect(agent.logs.filter((l) => /ended unexpectedly|ended with an error|crashed/.test(String(l.msg)))).toEqual([]);
    expect(await Promise.race([agent.exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("running"), 100))])).toBe("running");
  });

  it("run --once delivers what it can and exits 1, naming each scope it could not deliver and why", async () => {
    const once = workspace(
      "sqlite",
      resources.map((resource) => ({ resource, namespace: ns })),
      { pluginDirs: [dir] },
    );
    const run = once.run(["--once"]);
    expect((await run.exited).code).toBe(1);
    const failed = Object.fromEntries(run.logs.filter((l) => l.msg === "scope not delivered").map((l) => [String(l.observer), String(l.reason)]));
    expect(Object.keys(failed).sort()).toEqual(["missing-field", "not-served", "syntax-error", "wrong-type"].map((r) => `local/${ns}/${r}`));
    expect(failed[`local/${ns}/syntax-error`]).toBe(`plugin ${file("syntax-error.mjs")}: cannot be loaded: SyntaxError: Unexpected token ';' (line 6)`);
    expect(failed[`local/${ns}/not-served`]).toContain(`does not serve ${unservedGroup}/v1/widgets`);
    const keys = new Set(nodesOf(await once.exportLines()).map((n) => n.key));
    for (const key of [`local/${ns}/ConfigMap/late`, `local/${ns}/ReduceThrowsConfig/late`, `local/${ns}/GraphThrowsConfig/late`])
      expect(keys.has(key), key).toBe(true);
  });
});
