// Faults the observers survive: kube-apiserver restarting while objects are deleted and
// recreated behind its back, and a worker thread dying under its observers.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { readState, startServerAgain, stopServer } from "../../../scripts/devenv/env.js";
import { AgentProcess, repoRoot, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { etcdDelete, etcdPut } from "../../support/etcd.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const created: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, created);
});

describe.each(["namespace", "cluster"] as const)("kube-apiserver restart (%s topology)", (topology) => {
  it("relists after the restart: deletes made while it was down leave the boundary, a recreated name is delete-then-add", async () => {
    const ns = uniqueName("outage");
    created.push(ns);
    await createNamespace(core, ns);
    // Cluster topology: one watch of every namespace, all but this one excluded.
    const others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => n !== ns);
    const actor = topology === "namespace" ? { resource: "configmap", namespace: ns } : { resource: "configmap", exclude: others };
    const scope = topology === "namespace" ? ns : null;
    const mine = (messages: typeof agent.messages) =>
      messages.filter((m) => m.resource === "configmap" && m.namespace === scope && (m.action === "Restarted" || m.objectNamespace === ns));
    const originals: Record<string, string> = {};
    for (const name of ["gone", "recreated", "kept"]) {
      const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: "1" } } });
      originals[name] = cm.metadata!.uid!;
    }
    const agent = AgentProcess.run(writeConfig({ actors: [actor], backoff: { initialMs: 200, maxMs: 2000 } }));
    agents.push(agent);
    await agent.waitForMessage("the first boundary", (m) => m.action === "Restarted");
    const before = agent.messages.length;

    await stopServer("kube-apiserver");
    // Behind the apiserver's back: one ConfigMap deleted, one replaced by a new object
    // (new uid) under the same name. etcd decodes JSON as well as protobuf.
    expect(await etcdDelete(`/registry/configmaps/${ns}/gone`)).toBe(1);
    const newUid = randomUUID();
    await etcdPut(
      `/registry/configmaps/${ns}/recreated`,
      JSON.stringify({
        kind: "ConfigMap",
        apiVersion: "v1",
        metadata: { name: "recreated", namespace: ns, uid: newUid, creationTimestamp: new Date().toISOString() },
        data: { v: "2" },
      }),
    );
    await agent.waitForLog(
      "the observer to notice the outage",
      (l) => l.phase === "backing-off" && l.resource === "configmap" && (l.namespace ?? null) === scope,
      30_000,
    );
    await startServerAgain("kube-apiserver");

    const boundary = await agent.waitFor(
      "a second boundary after the restart",
      () => agent.messages.slice(before).find((m) => m.action === "Restarted"),
      60_000,
    );
    const after = mine(agent.messages.slice(before));
    const upToBoundary = after.slice(0, after.indexOf(boundary) + 1);
    const summary = upToBoundary.filter((m) => m.name !== "kube-root-ca.crt").map((m) => `${m.action} ${m.name ?? ""} ${m.uid ?? ""}`);
    // Delete (old uid) comes before Applied (new uid) for the recreated name.
    expect(summary.indexOf(`Deleted recreated ${originals.recreated}`)).toBeGreaterThanOrEqual(0);
    expect(summary.indexOf(`Deleted recreated ${originals.recreated}`)).toBeLessThan(summary.indexOf(`Applied recreated ${newUid}`));
    // The deleted one is left out of the boundary (the sink sweeps it), not sent as a
    // Deleted message; the agent says how many the relist found gone.
    expect(summary.some((s) => s.includes(`gone ${originals.gone}`))).toBe(false);
    expect(summary).toContain(`Applied kept ${originals.kept}`);
    const relistLog = await agent.waitForLog(
      "the relist's count of deleted objects",
      (l) => l.msg.startsWith("relist: objects deleted while the watch was down") && l.resource === "configmap",
      20_000,
    );
    expect(relistLog.gone).toBe(1);
    expect(summary.at(-1)).toBe("Restarted  ");
    expect(
      boundary
        .present!.map((p) => `${p.name} ${p.uid}`)
        .filter((p) => !p.startsWith("kube-root-ca.crt"))
        .sort(),
    ).toEqual([`kept ${originals.kept}`, `recreated ${newUid}`].sort());
    // And it watches again: a change after the restart arrives.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after" }, data: { v: "1" } } });
    await agent.waitForMessage("a ConfigMap created after the restart", (m) => m.name === "after" && m.action === "Applied");
  });
});

/** The actor for one namespace in either topology: named, or "*" with every other excluded. */
async function actorFor(
  topology: "namespace" | "cluster",
  resource: string,
  ns: string,
): Promise<{ resource: string; namespace?: string; exclude?: string[] }> {
  if (topology === "namespace") return { resource, namespace: ns };
  const others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => n !== ns);
  return { resource, exclude: others };
}

describe.each(["namespace", "cluster"] as const)("a stalled kube-apiserver (half-open connection, %s topology)", (topology) => {
  it("notices a watch that sends nothing, reconnects after the server resumes, and loses nothing", async () => {
    const ns = uniqueName("stall");
    created.push(ns);
    await createNamespace(core, ns);
    const scope = topology === "namespace" ? ns : undefined;
    const agent = AgentProcess.run(
      writeConfig({
        actors: [await actorFor(topology, "configmap", ns)],
        // Inactivity timer = 4 s watch timeout + 2 s margin; short connect timeout.
        observer: { watchTimeoutMinSeconds: 4, watchTimeoutMaxSeconds: 4, inactivityMarginSeconds: 2, connectTimeoutSeconds: 2 },
        backoff: { initialMs: 200, maxMs: 1000 },
        logLevel: "debug",
      }),
    );
    agents.push(agent);
    await agent.waitForMessage("the first boundary", (m) => m.action === "Restarted");
    const apiserverPid = readState()!.pids["kube-apiserver"];
    process.kill(apiserverPid, "SIGSTOP");
    try {
      const stalled = await agent.waitForLog(
        "the stall to be noticed",
        (l) => l.resource === "configmap" && l.namespace === scope && l.phase === "backing-off",
        20_000,
      );
      expect(String(stalled.reason)).toMatch(/sent nothing|no response/);
    } finally {
      process.kill(apiserverPid, "SIGCONT");
    }
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after-stall" }, data: { a: "b" } } });
    await agent.waitForMessage("a change after the apiserver resumed", (m) => m.name === "after-stall" && m.action === "Applied", 30_000);
  });
});

describe.each(["namespace", "cluster"] as const)("a worker thread dying (%s topology)", (topology) => {
  it("is replaced, and the observers that ran on it relist and resume", async () => {
    const ns = uniqueName("crash");
    created.push(ns);
    await createNamespace(core, ns);
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "s1" }, stringData: { k: "v" } } });
    const marker = join(mkdtempSync(join(tmpdir(), "kube-observer-crash-")), "crashed");
    // Per namespace the observers are keyed cluster/<ns>/resource; cluster-wide cluster/*/resource.
    const scopeKey = topology === "namespace" ? ns : "*";
    const scopeOf = (resource: string) => agent.messages.filter((m) => m.resource === resource && m.namespace === (topology === "namespace" ? ns : null));
    const config = writeConfig({
      actors: [await actorFor(topology, "secret", ns), await actorFor(topology, "crash-once", ns)],
      observer: { threads: 1 },
      backoff: { initialMs: 200, maxMs: 2000 },
      pluginDirs: [resolve(repoRoot, "test/fixtures/plugins/crash-once")],
    });
    const agent = AgentProcess.run(config, [], { CRASH_ONCE_MARKER: marker });
    agents.push(agent);
    await agent.waitFor("both boundaries", () => (agent.messages.filter((m) => m.action === "Restarted").length >= 2 ? true : undefined));

    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "bomb", labels: { "kube-observer-test/crash": "thread" } }, data: { a: "b" } },
    });
    // Every observer on the (only) thread ends, and is started again.
    for (const resource of ["secret", "crash-once"]) {
      await agent.waitForLog(
        `${resource} observer restarted`,
        (l) => l.msg === "observer ended unexpectedly; restarting it" && String(l.observer).endsWith(`/${scopeKey}/${resource}`),
        30_000,
      );
    }
    // They relist: a second boundary per scope, and the secret is there again.
    await agent.waitFor(
      "second boundaries",
      () => (["secret", "crash-once"].every((r) => scopeOf(r).filter((m) => m.action === "Restarted").length >= 2) ? true : undefined),
      30_000,
    );
    const secretBoundaries = scopeOf("secret").filter((m) => m.action === "Restarted");
    expect(secretBoundaries.at(-1)!.present!.map((p) => p.name)).toContain("s1");
    // And resume watching on the new thread.
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "s2" }, stringData: { k: "v" } } });
    await agent.waitForMessage("a Secret created after the crash", (m) => m.name === "s2" && m.action === "Applied");
    expect(agent.messages.some((m) => m.resource === "crash-once" && m.name === "bomb" && m.action === "Applied")).toBe(true);
  });
});
