// A bad row never stops the graph (issue 13 §7), against the real apiserver and each real
// sink, with a live agent:
// - a RoleBinding whose User subject name is longer than any index takes (the API has no
//   limit) is stored under a bounded key, and who-uses finds the user by its full name;
// - a RoleBinding whose subject name is over the sink's property limit is parked alone
//   (wal status names it, its plugin and the sink's error); the objects delivered with it
//   and every later change still reach the graph;
// - `wal replay` (agent stopped) delivers it again, where it is refused again, and
//   `wal drop` discards it with a log line naming it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { MAX_KEY_BYTES, MAX_PROPERTY_BYTES, storedKey } from "../../../core/graph/limits.js";
import { whoUses } from "../../../core/graph/who-uses.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { nodesOf, waitForGraph, wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const namespaces: string[] = [];

afterAll(async () => {
  await deleteNamespaces(core, namespaces);
});

function binding(name: string, user: string): k8s.V1RoleBinding {
  return {
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
    subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }],
  };
}

/** Runs a CLI command to its end; returns its exit code, stdout and JSON log lines. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; logs: AgentProcess["logs"] }> {
  const p = new AgentProcess(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout, logs: p.logs };
}

describe.each(["sqlite", "neo4j"] as const)("a bad row in the %s sink", (sinkKind: SinkKind) => {
  const ns = uniqueName(`badrow-${sinkKind}`);
  const ws = workspace(sinkKind, [
    { resource: "configmap", namespace: ns },
    { resource: "rolebinding", namespace: ns },
  ]);
  const k = (kind: string, name: string): string => `local/${ns}/${kind}/${name}`;
  // Over the index limit, under the property limit.
  const longUser = `alice-${"a".repeat(MAX_KEY_BYTES * 4)}`;
  // Over the property limit (the binding's `subjects` and the user's `name`).
  const hugeUser = `mallory-${"m".repeat(MAX_PROPERTY_BYTES + 1_000)}`;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    if (sinkKind === "neo4j") await wipeNeo4j();
    namespaces.push(ns);
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "before" }, data: { a: "1" } } });
    agent = ws.run();
    await waitForGraph(ws, "the first ConfigMap", (l) => (nodesOf(l).some((n) => n.key === k("ConfigMap", "before")) ? true : undefined), 60_000);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
  });

  it("stores a key longer than an index takes in a bounded form that who-uses finds by name", async () => {
    await rbac.createNamespacedRoleBinding({ namespace: ns, body: binding("long-subject", longUser) });
    const userKey = storedKey(`local/User/${longUser}`);
    expect(Buffer.byteLength(userKey)).toBeLessThanOrEqual(MAX_KEY_BYTES);
    await waitForGraph(ws, "the binding and its user", (l) => {
      const nodes = nodesOf(l);
      return nodes.some((n) => n.key === k("RoleBinding", "long-subject")) && nodes.some((n) => n.key === userKey && n.properties.name === longUser)
        ? true
        : undefined;
    });
    const sink = await ws.openSink();
    try {
      const usages = await whoUses(sink, `local/User/${longUser}`);
      expect(usages.map((u) => u.user.key)).toEqual([k("RoleBinding", "long-subject")]);
    } finally {
      await sink.close();
    }
    // The command names the user by its bounded key, not the unbounded name.
    const shown = await cli(["who-uses", "user", longUser, "--config", ws.config], ws.env);
    expect(shown.code).toBe(0);
    expect(shown.stdout.split("\n")[0]).toBe(`${userKey} is used by:`);
  });

  it("parks the one object over the sink's limit; the rest of its batch and every later change reach the graph", async () => {
    // Delivered together: the refused binding between two good objects.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "with-1" } } });
    await rbac.createNamespacedRoleBinding({ namespace: ns, body: binding("huge-subject", hugeUser) });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "with-2" } } });
    await agent!.waitForLog("the refused binding parked", (l) => l.msg === "message parked" && l.name === "huge-subject" && l.cause === "sink", 30_000);
    await waitForGraph(ws, "the objects around it", (l) => {
      const keys = new Set(nodesOf(l).map((n) => n.key));
      return keys.has(k("ConfigMap", "with-1")) && keys.has(k("ConfigMap", "with-2")) ? true : undefined;
    });

    // Later changes: a new object and an update, each in the graph within 2 s.
    for (const step of [
      {
        what: "a new ConfigMap",
        run: () => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after" } } }),
        done: (keys: Map<string, Record<string, unknown>>) => keys.has(k("ConfigMap", "after")),
      },
      {
        what: "a label on the first ConfigMap",
        run: () =>
          core.patchNamespacedConfigMap(
            { namespace: ns, name: "before", body: { metadata: { labels: { changed: "yes" } } } },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
          ),
        done: (keys: Map<string, Record<string, unknown>>) =>
          ((keys.get(k("ConfigMap", "before"))?.labels as string[] | undefined) ?? []).includes("changed=yes"),
      },
    ]) {
      const started = Date.now();
      await step.run();
      await waitForGraph(ws, step.what, (l) => (step.done(new Map(nodesOf(l).map((n) => [n.key, n.properties]))) ? true : undefined), 10_000);
      // Issue 13's target: every later change in the graph within 2 s (this includes the
      // API call and up to one 300 ms poll of the graph).
      expect(Date.now() - started, step.what).toBeLessThan(2_000);
    }
    const lines = await ws.exportLines();
    expect(nodesOf(lines).some((n) => n.key === k("RoleBinding", "huge-subject"))).toBe(false);

    const status = await cli(["wal", "status", "--config", ws.config, "--json"], ws.env);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { depth: number; parked: number; parkedMessages: Array<{ name: string; plugin: string; error: string }> };
    expect(parsed.parked).toBe(1);
    expect(parsed.parkedMessages[0]).toMatchObject({ name: "huge-subject", plugin: "rolebinding" });
    expect(parsed.parkedMessages[0]!.error).toMatch(
      new RegExp(`^no graph sink stores it: .*property "(subjects|name)" is \\d+ bytes, more than the ${MAX_PROPERTY_BYTES}`),
    );
    // The parked message's error names no value: the 1 MB name is not in it.
    expect(parsed.parkedMessages[0]!.error.length).toBeLessThan(4_000);
  });

  it("replays the parked message after a restart (refused again) and drops it with a log line naming it", async () => {
    // Not beside a running agent: replay and drop write the WAL, which the agent holds.
    const refused = await cli(["wal", "drop", "--config", ws.config, "--all"], ws.env);
    expect(refused.code).toBe(2);
    await agent!.stop();
    agent = undefined;
    const replayed = await cli(["wal", "replay", "--config", ws.config], ws.env);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain("1 parked message(s) queued for delivery again");
    const queued = JSON.parse((await cli(["wal", "status", "--config", ws.config, "--json"], ws.env)).stdout) as { depth: number; parked: number };
    expect(queued).toMatchObject({ depth: 1, parked: 0 });
    // Still over the limit: parked again (the restart's relist delivers the same state).
    agent = ws.run();
    await agent.waitForLog("the replayed binding parked again", (l) => l.msg === "message parked" && l.name === "huge-subject", 60_000);
    await agent.stop();
    agent = undefined;
    const dropped = await cli(["wal", "drop", "--config", ws.config, "--all"], ws.env);
    expect(dropped.code).toBe(0);
    expect(dropped.logs.some((l) => l.msg === "parked message dropped" && l.name === "huge-subject" && l.resource === "rolebinding")).toBe(true);
    const status = await cli(["wal", "status", "--config", ws.config, "--json"], ws.env);
    expect((JSON.parse(status.stdout) as { parked: number }).parked).toBe(0);
  });
});
