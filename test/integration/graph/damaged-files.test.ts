// Damaged files against the real apiserver: garbage over the WAL (after an agent was killed
// with messages in it), a damaged page in the middle of the embedded graph found by
// quick_check at start-up, and one found only when the relist's apply reads it. Each time
// the agent keeps running: the damaged file is moved aside (and logged, and counted), a
// fresh one takes its place, and the graph ends equal to the cluster; the WAL keeps its
// identity, so an agent on Neo4j takes its writer registration back at once. Read-only
// commands and doctor report the damage, exit non-zero (doctor: a warning) and leave the
// files where they are.
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import Database from "better-sqlite3";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ExportLine } from "../../../core/graph/model.js";
import { Wal } from "../../../core/wal/wal.js";
import { AgentProcess, type LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, devEnv, eventually, uniqueName } from "../../support/cluster.js";
import { damageMiddlePage, digest, writeGarbage } from "../../support/damage.js";
import { expectedExport } from "../../support/expected.js";
import { normalise, waitForGraph, wipeNeo4j, workspace, type SinkKind, type Workspace } from "../../support/graph.js";
import { sample } from "../../support/metrics.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, namespaces);
});

const RESOURCES = ["pod", "configmap", "secret"];

/** A namespace with enough objects for several pages of graph nodes. */
async function populate(prefix: string): Promise<string> {
  const ns = uniqueName(prefix);
  namespaces.push(ns);
  await createNamespace(core, ns);
  for (let i = 0; i < 6; i++) await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `s-${i}` }, stringData: { k: `v${i}` } } });
  for (let i = 0; i < 60; i++) {
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: `cm-${i}`, labels: { app: "damaged-files", tier: `t-${i % 5}` } }, data: { a: String(i), b: "x".repeat(100) } },
    });
  }
  for (let i = 0; i < 8; i++) {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: `pod-${i}`, labels: { app: "damaged-files" } },
        spec: {
          automountServiceAccountToken: false,
          containers: [
            {
              name: "c",
              image: `registry.example/damaged/app:${i % 3}`,
              envFrom: [{ configMapRef: { name: `cm-${i}` } }, { secretRef: { name: `s-${i % 6}` } }],
            },
          ],
        },
      },
    });
  }
  return ns;
}

/** The cluster changes while the agent is down: only a relist brings these to the graph. */
async function changeWhileDown(ns: string): Promise<void> {
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "created-while-down" }, data: { a: "b" } } });
  await core.deleteNamespacedConfigMap({ namespace: ns, name: "cm-1" });
  await core.deleteNamespacedPod({ namespace: ns, name: "pod-2", gracePeriodSeconds: 0 });
}

/** The namespace's part of a graph, and the shared nodes (images, registries). */
function mine(lines: ExportLine[], cluster: string, ns: string): ExportLine[] {
  const ours = (key: string): boolean => key.startsWith(`${cluster}/${ns}/`) || !key.startsWith(`${cluster}/`);
  return normalise(
    lines.filter((l) => (l.type === "node" ? ours(l.key) : ours(l.from))),
    ["observedAt"],
  );
}

async function expectGraphEqualsCluster(ws: Workspace, cluster: string, ns: string): Promise<void> {
  // The pod deleted with grace 0 may take a moment to leave the apiserver's list.
  await eventually("pod-2 gone", async () =>
    (await core.listNamespacedPod({ namespace: ns })).items.some((p) => p.metadata?.name === "pod-2") ? undefined : true,
  );
  const expected = mine(
    await expectedExport(
      cluster,
      RESOURCES.map((resource) => ({ resource, namespace: ns })),
    ),
    cluster,
    ns,
  );
  expect(expected.length).toBeGreaterThan(60);
  await waitForGraph(
    ws,
    "the graph to equal the cluster",
    (lines) => (JSON.stringify(mine(lines, cluster, ns)) === JSON.stringify(expected) ? true : undefined),
    90_000,
  ).catch(async (error: Error) => {
    expect(mine(await ws.exportLines(), cluster, ns)).toEqual(expected);
    throw error;
  });
}

function stillRunning(agent: AgentProcess): () => boolean {
  let exited = false;
  void agent.exited.then(() => (exited = true));
  return () => !exited;
}

async function corruptFilesMetric(agent: AgentProcess): Promise<{ wal: number | undefined; graph: number | undefined }> {
  const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
  const text = await (await fetch(`http://${String(listening.listen)}/metrics`)).text();
  return {
    wal: sample(text, "kube_observer_corrupt_files_total", { store: "wal" }),
    graph: sample(text, "kube_observer_corrupt_files_total", { store: "graph" }),
  };
}

function walIdentity(path: string): string | undefined {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], { value: string }>("SELECT value FROM kube_observer_meta WHERE key = 'id'").get()?.value;
  } finally {
    db.close();
  }
}

const copies = (ws: Workspace): string[] =>
  readdirSync(ws.dir)
    .filter((f) => f.includes(".corrupt-"))
    .sort();

const movedAside = (store: string, file: string) => (l: LogLine) => l.level === 50 && l.store === store && l.file === file && typeof l.movedTo === "string";

describe.each(["sqlite", "neo4j"] as const)("garbage over the WAL, %s sink", (sinkKind: SinkKind) => {
  it("after an agent was killed with messages in it: moved aside, a fresh WAL with the same identity, the graph equal to the cluster", async () => {
    if (sinkKind === "neo4j") await wipeNeo4j();
    const ns = await populate(`dmg-wal-${sinkKind}`);
    const cluster = uniqueName("dmg");
    // A lease far longer than the test: a WAL with a new identity would be refused (exit 2).
    const sink = sinkKind === "neo4j" ? { sink: { kind: "neo4j" as const, uri: devEnv().neo4j.boltUrl, writerLeaseSeconds: 600 } } : {};
    const ws = workspace(
      sinkKind,
      RESOURCES.map((resource) => ({ resource, namespace: ns })),
      { cluster, ...sink },
    );

    // Killed at its first sink commit: everything it observed is in the WAL, not acknowledged.
    const killed = new AgentProcess(["run", "--config", ws.config], { ...ws.env, KUBE_OBSERVER_FAILPOINTS: "dispatcher.before-commit=1" });
    agents.push(killed);
    const timer = setTimeout(() => killed.signal("SIGKILL"), 60_000);
    expect((await killed.exited).signal).toBe("SIGKILL");
    clearTimeout(timer);
    expect(killed.stderr).toContain("failpoint dispatcher.before-commit");
    const waiting = new Wal(ws.walPath, { readonly: true });
    expect(waiting.status().depth).toBeGreaterThan(0);
    waiting.close();
    const id = walIdentity(ws.walPath);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    await changeWhileDown(ns);
    writeGarbage(ws.walPath);
    const damaged = digest(ws.walPath);

    const agent = ws.run(["--listen", "127.0.0.1:0"]);
    agents.push(agent);
    const running = stillRunning(agent);
    try {
      const line = await agent.waitForLog("the damaged WAL moved aside", movedAside("WAL", ws.walPath), 60_000);
      expect(line.msg).toContain(`the WAL ${ws.walPath} is damaged: moved it aside to ${String(line.movedTo)}`);
      expect(line).toMatchObject({ found: "SQLITE_NOTADB: file is not a database", when: "start-up" });
      expect(String(line.cost)).toContain("observed again by the relist");
      expect(String(line.movedTo)).toMatch(/\/wal\.sqlite\.corrupt-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/);
      expect(digest(String(line.movedTo))).toBe(damaged);

      await expectGraphEqualsCluster(ws, cluster, ns);
      expect(running()).toBe(true);
      expect(await corruptFilesMetric(agent)).toEqual({ wal: 1, graph: 0 });
      // The fresh WAL is the same writer: its identity came from the lock file's copy.
      expect(walIdentity(ws.walPath)).toBe(id);
      expect(agent.logs.some((l) => l.msg === "refusing to start")).toBe(false);
      expect(copies(ws)).toEqual([String(line.movedTo).split("/").pop()]);
    } finally {
      expect((await agent.stop()).code).toBe(0);
    }
  }, 300_000);
});

describe("a damaged page in the middle of the embedded graph", () => {
  it("found by quick_check at start-up: moved aside, the graph rebuilt from the relist", async () => {
    const ns = await populate("dmg-graph");
    const cluster = uniqueName("dmg");
    const ws = workspace(
      "sqlite",
      RESOURCES.map((resource) => ({ resource, namespace: ns })),
      { cluster },
    );
    await ws.runOnce();
    await changeWhileDown(ns);
    const { leafPages } = damageMiddlePage(ws.graphPath, "nodes");
    expect(leafPages).toBeGreaterThanOrEqual(3);
    const damaged = digest(ws.graphPath);

    const agent = ws.run(["--listen", "127.0.0.1:0"]);
    agents.push(agent);
    const running = stillRunning(agent);
    try {
      const line = await agent.waitForLog("the damaged graph moved aside", movedAside("embedded graph", ws.graphPath), 60_000);
      expect(line).toMatchObject({ when: "start-up" });
      expect(String(line.found)).toMatch(/SQLITE_CORRUPT|quick_check/);
      expect(String(line.cost)).toContain("rebuilt from the relist");
      expect(digest(String(line.movedTo))).toBe(damaged);
      await expectGraphEqualsCluster(ws, cluster, ns);
      expect(running()).toBe(true);
      expect(await corruptFilesMetric(agent)).toEqual({ wal: 0, graph: 1 });
    } finally {
      expect((await agent.stop()).code).toBe(0);
    }
  }, 300_000);

  it("found only when the relist's apply reads it (quick_check off): replaced while running, every observer relists", async () => {
    const ns = await populate("dmg-apply");
    const cluster = uniqueName("dmg");
    const ws = workspace(
      "sqlite",
      RESOURCES.map((resource) => ({ resource, namespace: ns })),
      { cluster },
    );
    await ws.runOnce();
    await changeWhileDown(ns);
    damageMiddlePage(ws.graphPath, "nodes");

    const agent = ws.run([], { KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES: "0" });
    agents.push(agent);
    const running = stillRunning(agent);
    try {
      const line = await agent.waitForLog("the damaged graph moved aside", movedAside("embedded graph", ws.graphPath), 60_000);
      expect(line).toMatchObject({ when: "running" });
      expect(String(line.found)).toMatch(/^SQLITE_CORRUPT/);
      await agent.waitForLog("every observer relists", (l) => l.msg === "every observer relists", 30_000);
      await expectGraphEqualsCluster(ws, cluster, ns);
      expect(running()).toBe(true);
      expect(existsSync(String(line.movedTo))).toBe(true);
    } finally {
      expect((await agent.stop()).code).toBe(0);
    }
  }, 300_000);
});

describe("read-only commands and doctor on damaged files", () => {
  it("report the damage, exit non-zero and leave the files in place", async () => {
    const ns = await populate("dmg-read");
    const ws = workspace(
      "sqlite",
      RESOURCES.map((resource) => ({ resource, namespace: ns })),
    );
    await ws.runOnce();
    damageMiddlePage(ws.graphPath, "nodes");
    writeGarbage(ws.walPath);
    const files = () => ({ wal: digest(ws.walPath), graph: digest(ws.graphPath), copies: copies(ws) });
    const before = files();
    const command = async (...args: string[]): Promise<AgentProcess> => {
      const child = new AgentProcess([...args, "--config", ws.config], ws.env);
      agents.push(child);
      await child.exited;
      return child;
    };

    const status = await command("wal", "status");
    expect(await status.exited).toMatchObject({ code: 1 });
    expect(status.stderr).toContain(`the WAL ${ws.walPath} is damaged (SQLITE_NOTADB: file is not a database). This command leaves it as it is.`);

    // The header and schema are sound: the export meets the damaged page part-way.
    for (const args of [
      ["graph", "export"],
      ["verify", "--settle-seconds", "0"],
    ]) {
      const child = await command(...args);
      expect((await child.exited).code, args.join(" ")).toBe(1);
      expect(child.stderr).toContain(`the embedded graph ${ws.graphPath} is damaged (SQLITE_CORRUPT`);
    }

    const doctor = await command("doctor", "--json");
    const rows = doctor.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { check: string; target: string; result: string; detail: string });
    expect(rows.find((r) => r.check === "wal")).toMatchObject({ target: ws.walPath, result: "warn" });
    expect(rows.find((r) => r.check === "wal")!.detail).toMatch(/^damaged \(SQLITE_NOTADB: file is not a database\); the agent moves it aside/);
    expect(rows.find((r) => r.check === "sink")).toMatchObject({ target: `sqlite ${ws.graphPath}`, result: "warn" });
    expect(rows.find((r) => r.check === "sink")!.detail).toMatch(
      /^damaged \((SQLITE_CORRUPT|PRAGMA quick_check: \*\*\* in database main \*\*\* [^\n]*)\); the agent moves it aside/,
    );
    expect(files()).toEqual(before);

    // Garbage over the graph too: refused at open.
    writeGarbage(ws.graphPath);
    const garbage = digest(ws.graphPath);
    for (const args of [
      ["who-uses", "configmap", "cm-0", "--namespace", ns],
      ["graph", "stats"],
    ]) {
      const child = await command(...args);
      expect((await child.exited).code, args.join(" ")).toBe(1);
      expect(child.stderr).toContain(`the embedded graph ${ws.graphPath} is damaged (SQLITE_NOTADB: file is not a database)`);
    }
    expect(digest(ws.graphPath)).toBe(garbage);
    expect(copies(ws)).toEqual([]);
    expect(existsSync(join(ws.dir, "graph.sqlite"))).toBe(true);
  }, 300_000);
});
