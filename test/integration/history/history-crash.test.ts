// The history across crashes (failpoints, SIGKILL): killed after the commit and before the
// WAL ack, the batch is delivered again and the history records nothing twice (not even an
// object the batch made, changed and deleted, which applying it again re-creates for a
// moment); with Neo4j, killed between the Neo4j commit and the history's inbox, or with the
// batch in the inbox before the history's thread recorded it, the history still gets every
// change once; a relist that finds objects unchanged adds nothing. Both
// sinks, real apiserver.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import Database from "better-sqlite3";
import { adminKubeConfig, createNamespace, deleteNamespaces } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind, type Workspace } from "../../support/graph.js";
import { HistoryReader } from "../../../core/history/reader.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const id = randomBytes(4).toString("hex");
const N = `history-crash-${id}`;
const COUNT = 30;

beforeAll(async () => {
  await createNamespace(core, N);
  for (let i = 0; i < COUNT; i++) {
    await core.createNamespacedConfigMap({ namespace: N, body: { metadata: { name: `cm-${i}` }, data: { v: "1" } } });
  }
}, 120_000);

afterAll(async () => {
  await deleteNamespaces(core, [N]);
});

const historyPath = (ws: Workspace): string => (ws.sink === "sqlite" ? ws.graphPath : ws.walPath.replace(/\.sqlite$/, ".history.sqlite"));

/** Rows the history holds twice: versions of one key (or edge) opened by the same change. */
function duplicates(ws: Workspace): { nodes: number; edges: number; openPerKey: number; rows: number } {
  const db = new Database(historyPath(ws), { readonly: true });
  try {
    const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      nodes: one("SELECT count(*) AS n FROM (SELECT key, from_rv, from_kind FROM history_nodes GROUP BY key, from_rv, from_kind HAVING count(*) > 1)"),
      edges: one(
        "SELECT count(*) AS n FROM (SELECT from_key, type, to_key, owner, props, from_rv FROM history_edges GROUP BY from_key, type, to_key, owner, props, from_rv HAVING count(*) > 1)",
      ),
      openPerKey: one("SELECT count(*) AS n FROM (SELECT key FROM history_nodes WHERE to_ms IS NULL GROUP BY key HAVING count(*) > 1)"),
      rows: one("SELECT (SELECT count(*) FROM history_nodes) + (SELECT count(*) FROM history_edges) AS n"),
    };
  } finally {
    db.close();
  }
}

/** The first commit fails (the sink is retried after 4 s): meanwhile a ConfigMap is made,
 *  changed and deleted, so the next batch holds all three changes of it; the agent is
 *  killed at `failpoint` in that batch, after its commit. */
async function killedAt(ws: Workspace, failpoint: string, name: string): Promise<void> {
  const agent = ws.run([], { KUBE_OBSERVER_FAILPOINTS: `dispatcher.before-commit=1:throw,${failpoint}=2` });
  await agent.waitForLog("the failed first commit", (l) => l.msg === "graph sink failed; retrying (messages stay in the WAL)", 60_000);
  await core.createNamespacedConfigMap({ namespace: N, body: { metadata: { name }, data: { v: "1" } } });
  await core.patchNamespacedConfigMap(
    { namespace: N, name, body: [{ op: "replace", path: "/data/v", value: "2" }] },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
  );
  await core.deleteNamespacedConfigMap({ namespace: N, name });
  const exit = await agent.exited;
  expect(exit.signal, `${failpoint}: ${agent.logTail()}`).toBe("SIGKILL");
}

const cases: Array<{ sink: SinkKind; failpoint: string }> = [
  { sink: "sqlite", failpoint: "dispatcher.before-ack" },
  { sink: "neo4j", failpoint: "dispatcher.before-ack" },
  { sink: "neo4j", failpoint: "history.before-apply" },
  // In the history's thread (core/history/copy-worker.ts): the batch is in the inbox (and
  // likely acknowledged in the WAL), not yet recorded.
  { sink: "neo4j", failpoint: "history.before-record" },
];

describe.each(cases)("history on the $sink sink, killed at $failpoint", ({ sink, failpoint }) => {
  it("records each change once, loses none, and adds nothing for an unchanged relist", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    const ws = workspace(sink, [{ resource: "configmap", namespace: N }], { history: {}, backoff: { initialMs: 4_000, maxMs: 8_000 } });
    const before = Date.now();
    const briefName = `brief-${sink}-${failpoint.replace(/\W/g, "-")}`;
    await killedAt(ws, failpoint, briefName);
    // Started again: the WAL's batch is delivered again, then a relist.
    await ws.runOnce();
    const cm = (i: number) => `local/${N}/ConfigMap/cm-${i}`;
    const reader = HistoryReader.open(historyPath(ws));
    try {
      for (let i = 0; i < COUNT; i++) {
        const versions = reader.versions(cm(i));
        expect(
          versions.map((v) => [v.fromKind, v.toMs]),
          `${cm(i)}`,
        ).toEqual([["created", null]]);
        // Stamped with when the killed agent saw it, not when the batch came again.
        expect(versions[0]!.fromMs).toBeGreaterThanOrEqual(before - 1_000);
      }
      // The ConfigMap that came and went in the batch delivered twice: each change once.
      const brief = reader.versions(`local/${N}/ConfigMap/${briefName}`);
      expect(brief.map((v) => [v.fromKind, v.toKind])).toEqual([
        ["created", "changed"],
        ["changed", "deleted"],
      ]);
    } finally {
      reader.close();
    }
    const first = duplicates(ws);
    expect(first).toMatchObject({ nodes: 0, edges: 0, openPerKey: 0 });

    // Another start finds everything unchanged: not a row more.
    await ws.runOnce();
    expect(duplicates(ws).rows).toBe(first.rows);

    // A change while the agent is down is one new version.
    await core.patchNamespacedConfigMap(
      { namespace: N, name: "cm-0", body: [{ op: "replace", path: "/data/v", value: `2-${sink}-${failpoint}` }] },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
    await ws.runOnce();
    const after = HistoryReader.open(historyPath(ws));
    try {
      expect(after.versions(cm(0)).map((v) => v.fromKind)).toEqual(["created", "changed"]);
    } finally {
      after.close();
    }
    // Put back for the next case.
    await core.patchNamespacedConfigMap(
      { namespace: N, name: "cm-0", body: [{ op: "replace", path: "/data/v", value: "1" }] },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
  }, 180_000);
});
