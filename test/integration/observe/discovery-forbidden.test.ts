// An agent whose ServiceAccount may not `list namespaces`, with an actor that needs
// namespace discovery (every namespace, one observer each) beside one that names its
// namespace. Start-up used to wait for discovery's first list for ever: the signal
// handlers and the config watcher were never installed. Now: the refusal is logged naming
// the permission, /readyz says not ready and why, the named namespace is observed,
// SIGHUP and a config rewrite reload (to a config that needs no discovery: ready), and
// SIGTERM stops the agent cleanly.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { AgentProcess, ActorSpec } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, serviceAccountToken, uniqueName, writeTokenKubeconfig } from "../../support/cluster.js";
import { nodesOf, waitForGraph, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const agents: AgentProcess[] = [];
const ns = uniqueName("disc-forbid");
const roleName = `${ns}-observer`;
let kubeconfig = "";

beforeAll(async () => {
  await createNamespace(core, ns);
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "visible" }, data: { a: "b" } } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "observer" } } });
  // ConfigMaps and Secrets everywhere, but not namespaces.
  await rbac.createClusterRole({
    body: { metadata: { name: roleName }, rules: [{ apiGroups: [""], resources: ["configmaps", "secrets"], verbs: ["list", "watch"] }] },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: roleName },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: roleName },
      subjects: [{ kind: "ServiceAccount", name: "observer", namespace: ns }],
    },
  });
  kubeconfig = writeTokenKubeconfig(await serviceAccountToken(core, ns, "observer"), mkdtempSync(join(tmpdir(), "kube-observer-forbid-")));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await rbac.deleteClusterRole({ name: roleName }).catch(() => undefined);
  await rbac.deleteClusterRoleBinding({ name: roleName }).catch(() => undefined);
  await deleteNamespaces(core, [ns]);
});

/** The named namespace's ConfigMaps, and Secrets in every namespace, one observer each. */
const needsDiscovery: ActorSpec[] = [
  { resource: "configmap", namespace: ns },
  { resource: "secret", topology: "namespace" },
];

function start(): { ws: Workspace; agent: AgentProcess } {
  const ws = workspace("sqlite", needsDiscovery, { kubeconfig, backoff: { initialMs: 200, maxMs: 1000 }, logLevel: "debug" });
  const agent = ws.run(["--listen", "127.0.0.1:0"]);
  agents.push(agent);
  return { ws, agent };
}

async function readyz(agent: AgentProcess): Promise<{ status: number; body: string }> {
  const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
  const res = await fetch(`http://${String(listening.listen)}/readyz`);
  return { status: res.status, body: await res.text() };
}

async function forbiddenReported(agent: AgentProcess): Promise<void> {
  const line = await agent.waitForLog("the forbidden discovery report", (l) => String(l.msg).startsWith("namespace discovery forbidden"), 60_000);
  expect(line.level).toBe(50);
  expect(line.msg).toMatch(/verbs "list" and "watch" on resource "namespaces"/);
  expect(String(line.needs)).toMatch(/namespaces/);
  expect(String(line.reason)).toMatch(/cannot list resource "namespaces"/);
}

describe("namespace discovery forbidden (no `list namespaces`)", () => {
  it("does not hold up start-up: reported, not ready with the reason, named namespaces observed, SIGHUP and a rewrite reload", async () => {
    const { ws, agent } = start();
    await forbiddenReported(agent);
    // The observer of the named namespace runs meanwhile.
    await waitForGraph(
      ws,
      "the named namespace's ConfigMap",
      (lines) => (nodesOf(lines).some((n) => n.key === `local/${ns}/ConfigMap/visible`) ? true : undefined),
      60_000,
    );
    const notReady = await readyz(agent);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatch(
      /cluster "local": namespace discovery forbidden \(the agent may not list and watch namespaces\): .*cannot list resource "namespaces"/,
    );
    expect(agent.logs.some((l) => l.msg === "initial sync complete")).toBe(false);

    // SIGHUP is the agent's (re-reading an unchanged config), not Node's default (exit).
    agent.signal("SIGHUP");
    await agent.waitForLog("the SIGHUP re-read", (l) => l.msg === "config and plugins unchanged" && l.why === "SIGHUP", 30_000);

    // A config that needs no discovery, written over the file: applied while discovery
    // is still refused, and then the agent is ready.
    ws.rewrite({ actors: [{ resource: "configmap", namespace: ns }] });
    await agent.waitForLog("the rewrite applied", (l) => l.msg === "config changed: applying", 30_000);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    expect(await readyz(agent)).toStrictEqual({ status: 200, body: "ok\n" });
    expect((await agent.stop()).code).toBe(0);
  });

  it("SIGTERM stops the agent cleanly while discovery is refused", async () => {
    const { agent } = start();
    await forbiddenReported(agent);
    agent.signal("SIGTERM");
    // Node's default for SIGTERM would end it by the signal, without shutting down.
    const exit = await agent.exited;
    expect(exit).toStrictEqual({ code: 0, signal: null });
    expect(agent.logs.some((l) => l.msg === "shutting down: delivering what is in flight" && l.signal === "SIGTERM")).toBe(true);
    expect(agent.logs.some((l) => l.msg === "stopped")).toBe(true);
  });
});
