// `kube-observer verify` against the real apiserver and both sinks: a graph the agent
// wrote verifies clean; a node and an edge deleted behind the agent's back, a ConfigMap
// the agent has not seen, and a node the cluster does not have are each reported, by key;
// a scope the credentials may not list fails naming it; beside a live agent it settles.
//
// Each sink gets its own cluster name, so that what other tests write into the shared
// Neo4j (cluster "local") is outside this config and not compared.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import * as k8s from "@kubernetes/client-node";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VerifyReport } from "../../../core/verify/verify.js";
import { AgentProcess, writeConfig } from "../../support/agent.js";
import {
  adminKubeConfig,
  createNamespace,
  deleteNamespaces,
  eventually,
  neo4jDriver,
  serviceAccountToken,
  uniqueName,
  writeTokenKubeconfig,
} from "../../support/cluster.js";
import { workspace, type SinkKind, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, namespaces);
});

interface VerifyRun {
  code: number | null;
  stdout: string;
  stderr: string;
  report: VerifyReport | undefined;
}

/** Runs `verify` as a child process; parses its --json report when asked for one. */
async function verify(config: string, env: Record<string, string>, args: string[] = []): Promise<VerifyRun> {
  const child = new AgentProcess(["verify", "--config", config, ...args], env);
  agents.push(child);
  const { code } = await child.exited;
  const report = args.includes("--json") && child.stdout.trim() ? (JSON.parse(child.stdout) as VerifyReport) : undefined;
  return { code, stdout: child.stdout, stderr: child.stderr, report };
}

/** Writes into the graph directly, as someone (or something) behind the agent's back. */
interface GraphTamper {
  deleteNode(key: string): Promise<void>;
  deleteEdge(rel: string, from: string, to: string): Promise<void>;
  /** An observed node of `scope` (cluster/namespace/Label), as the sinks store one. */
  addNode(label: string, key: string, scope: string, properties: Record<string, string>): Promise<void>;
}

function tamper(ws: Workspace): GraphTamper {
  if (ws.sink === "sqlite") {
    const write = async (fn: (db: Database.Database) => number): Promise<void> => {
      const db = new Database(ws.graphPath);
      try {
        expect(fn(db)).toBe(1);
      } finally {
        db.close();
      }
    };
    return {
      deleteNode: (key) =>
        write((db) => {
          db.prepare("DELETE FROM edges WHERE from_key = ? OR to_key = ?").run(key, key);
          return db.prepare("DELETE FROM nodes WHERE key = ?").run(key).changes;
        }),
      deleteEdge: (rel, from, to) => write((db) => db.prepare("DELETE FROM edges WHERE type = ? AND from_key = ? AND to_key = ?").run(rel, from, to).changes),
      addNode: (label, key, scope, properties) =>
        write(
          (db) =>
            db
              .prepare("INSERT INTO nodes (key, label, owner, observed, scope, props) VALUES (?, ?, ?, 1, ?, ?)")
              .run(key, label, key, scope, JSON.stringify(properties)).changes,
        ),
    };
  }
  const run = async (query: string, params: Record<string, unknown>, counter: "nodesDeleted" | "relationshipsDeleted" | "nodesCreated"): Promise<void> => {
    const driver = neo4jDriver();
    try {
      const result = await driver.executeQuery(query, params);
      expect(result.summary.counters.updates()[counter]).toBe(1);
    } finally {
      await driver.close();
    }
  };
  return {
    deleteNode: (key) => run("MATCH (n:Entity {key: $key}) DETACH DELETE n", { key }, "nodesDeleted"),
    deleteEdge: (rel, from, to) => run(`MATCH (:Entity {key: $from})-[r:${rel}]->(:Entity {key: $to}) DELETE r`, { from, to }, "relationshipsDeleted"),
    addNode: (label, key, scope, properties) =>
      run(
        `CREATE (n:Entity:${label}) SET n = $properties, n.key = $key, n.observed = true, n.owner = $key, n.scope = $scope`,
        { key, scope, properties },
        "nodesCreated",
      ),
  };
}

const RESOURCES = ["pod", "configmap", "secret", "serviceaccount"];

describe.each(["sqlite", "neo4j"] as const)("verify with the %s sink", (sinkKind: SinkKind) => {
  const ns = uniqueName(`verify-${sinkKind}`);
  const cluster = uniqueName(`verify-${sinkKind}`);
  const k = (kind: string, name: string): string => `${cluster}/${ns}/${kind}/${name}`;
  const ws = workspace(
    sinkKind,
    RESOURCES.map((resource) => ({ resource, namespace: ns })),
    { cluster },
  );
  const json = ["--json", "--settle-seconds", "0"];

  beforeAll(async () => {
    namespaces.push(ns);
    await createNamespace(core, ns);
    // Published by kube-controller-manager into every namespace: there before the agent lists.
    await eventually("kube-root-ca.crt", () => core.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace: ns }).catch(() => undefined));
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "app-config" }, data: { mode: "strict" } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "lonely" }, data: { a: "b" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "app-secret" }, stringData: { password: "verify-hunter2" } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "app" } } });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          serviceAccountName: "app",
          automountServiceAccountToken: false,
          containers: [
            {
              name: "app",
              image: "registry.example/verify/web:1.0",
              env: [{ name: "MODE", valueFrom: { configMapKeyRef: { name: "app-config", key: "mode" } } }],
              volumeMounts: [{ name: "creds", mountPath: "/creds" }],
            },
          ],
          volumes: [{ name: "creds", secret: { secretName: "app-secret" } }],
        },
      },
    });
    await ws.runOnce();
  }, 180_000);

  it("exits 0 on the graph the agent wrote, and says so in the table", async () => {
    const run = await verify(ws.config, ws.env, json);
    expect(run.stderr).not.toContain("cannot list");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = run.report!;
    expect(report.equal).toBe(true);
    expect(report.failures).toEqual([]);
    expect(report.sink).toBe(sinkKind);
    expect(report.clusters).toEqual([cluster]);
    expect(report.scopes).toBe(RESOURCES.length);
    const row = (label: string) => report.nodes.find((r) => r.label === label);
    // app-config, lonely, and the namespace's kube-root-ca.crt.
    expect(row("ConfigMap")).toMatchObject({ expected: 3, inGraph: 3, missing: 0, stale: 0, different: 0 });
    expect(row("Pod")).toMatchObject({ expected: 1, inGraph: 1 });
    expect(report.edges.find((r) => r.rel === "RUNS_AS")).toMatchObject({ expected: 1, inGraph: 1, missing: 0, extra: 0 });
    expect(report.verdict).toBe(`graph equals the cluster: ${report.totals.expectedNodes} nodes, ${report.totals.expectedEdges} edges`);
    expect(report.totals.expectedNodes).toBeGreaterThanOrEqual(10);
    if (sinkKind === "sqlite") expect(report.ignored).toEqual({ nodes: 0, edges: 0 });

    const text = await verify(ws.config, ws.env, ["--settle-seconds", "0"]);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^NODE LABEL\s+EXPECTED\s+IN GRAPH\s+MISSING\s+STALE\s+DIFFERENT$/m);
    expect(text.stdout).toMatch(/^ConfigMap\s+3\s+3\s+0\s+0\s+0$/m);
    expect(text.stdout).toMatch(/^RUNS_AS\s+1\s+1\s+0\s+0$/m);
    expect(text.stdout.trimEnd().split("\n").at(-1)).toBe(report.verdict);
    expect(text.stdout).not.toContain("verify-hunter2");
  }, 60_000);

  it("names exactly the node and the edge deleted behind the agent's back, and the agent's next run repairs them", async () => {
    // Each test starts from the agent's graph (other tests wipe the shared Neo4j between files).
    await ws.runOnce();
    const graph = tamper(ws);
    await graph.deleteNode(k("ConfigMap", "lonely"));
    await graph.deleteEdge("RUNS_AS", k("Pod", "web"), k("ServiceAccount", "app"));

    const run = await verify(ws.config, ws.env, json);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const report = run.report!;
    expect(report.equal).toBe(false);
    expect(report.totals).toMatchObject({ missingNodes: 1, staleNodes: 0, differentNodes: 0, missingEdges: 1, extraEdges: 0 });
    expect(report.nodes.find((r) => r.label === "ConfigMap")).toMatchObject({
      expected: 3,
      inGraph: 2,
      missing: 1,
      examples: { missing: [k("ConfigMap", "lonely")] },
    });
    expect(report.edges.find((r) => r.rel === "RUNS_AS")).toMatchObject({
      expected: 1,
      inGraph: 0,
      missing: 1,
      examples: { missing: [{ rel: "RUNS_AS", from: k("Pod", "web"), to: k("ServiceAccount", "app"), owner: k("Pod", "web") }] },
    });
    expect(report.verdict).toMatch(/^graph differs from the cluster: 1 node missing, 1 edge missing \(expected \d+ nodes, \d+ edges\)$/);

    const text = await verify(ws.config, ws.env, ["--settle-seconds", "0"]);
    expect(text.code, text.stdout + text.stderr).toBe(1);
    expect(text.stdout).toContain(`  missing ConfigMap: ${k("ConfigMap", "lonely")}\n`);
    expect(text.stdout).toContain(`  missing RUNS_AS: ${k("Pod", "web")} -> ${k("ServiceAccount", "app")}\n`);

    // A relist is truth: the agent puts both back.
    await ws.runOnce();
    expect((await verify(ws.config, ws.env, json)).report).toMatchObject({ equal: true, totals: { missingNodes: 0, missingEdges: 0 } });
  }, 120_000);

  it("reports a ConfigMap the agent has not seen as missing, and a node the cluster does not have as stale", async () => {
    await ws.runOnce();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "unseen" }, data: { a: "b" } } });
    await tamper(ws).addNode("ConfigMap", k("ConfigMap", "ghost"), `${cluster}/${ns}/ConfigMap`, { cluster, namespace: ns, name: "ghost" });

    const run = await verify(ws.config, ws.env, json);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const report = run.report!;
    expect(report.totals).toMatchObject({ missingNodes: 1, staleNodes: 1, differentNodes: 0, missingEdges: 0, extraEdges: 0 });
    expect(report.nodes.find((r) => r.label === "ConfigMap")).toMatchObject({
      expected: 4,
      inGraph: 4,
      missing: 1,
      stale: 1,
      examples: { missing: [k("ConfigMap", "unseen")], stale: [k("ConfigMap", "ghost")] },
    });

    // The agent sweeps the ghost (its key in an observed scope) and adds the new one.
    await ws.runOnce();
    expect((await verify(ws.config, ws.env, json)).report).toMatchObject({ equal: true, totals: { missingNodes: 0, staleNodes: 0 } });
  }, 120_000);

  it("settles beside a live agent while the cluster changes", async () => {
    const agent = ws.run();
    agents.push(agent);
    try {
      await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "while-live" }, data: { a: "b" } } });
      const run = await verify(ws.config, ws.env, ["--json", "--settle-seconds", "30"]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.report!.nodes.find((r) => r.label === "ConfigMap")).toMatchObject({ expected: 5, inGraph: 5 });
    } finally {
      await agent.stop();
    }
  }, 120_000);

  if (sinkKind === "sqlite") {
    it("fails naming the scope the credentials may not list, and exits 1", async () => {
      // A ServiceAccount with no RBAC: it may list nothing in the namespace.
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "nobody" } } });
      const dir = mkdtempSync(join(tmpdir(), "kube-observer-verify-"));
      const kubeconfig = writeTokenKubeconfig(await serviceAccountToken(core, ns, "nobody"), dir);
      const config = writeConfig(
        {
          actors: [{ resource: "configmap", namespace: ns }],
          cluster,
          kubeconfig,
          sink: { kind: "sqlite", sqlitePath: ws.graphPath },
          walPath: join(dir, "wal.sqlite"),
        },
        dir,
      );
      const run = await verify(config, ws.env, json);
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stderr).toContain(`cannot list configmap in namespace "${ns}" of cluster "${cluster}": forbidden`);
      expect(run.report!.failures).toEqual([
        expect.objectContaining({ scope: `${cluster}/${ns}/configmap`, cluster, namespace: ns, resource: "configmap", kind: "forbidden" }),
      ]);
      expect(run.report!.verdict).toMatch(/^could not verify: cannot list configmap in namespace .* forbidden/);
    }, 60_000);
  }
});
