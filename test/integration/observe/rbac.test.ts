// An agent whose ServiceAccount may not read Secrets: everything else flows, the Secret
// observer reports "forbidden" and keeps retrying with backoff, no Secret boundary is
// emitted (a 403 must never sweep), and once access is granted it recovers by itself.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, scopeMessages, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, serviceAccountToken, uniqueName, writeTokenKubeconfig } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const agents: AgentProcess[] = [];
const namespaces: string[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const ns of namespaces) {
    await rbac.deleteClusterRole({ name: `${ns}-observer` }).catch(() => undefined);
    await rbac.deleteClusterRoleBinding({ name: `${ns}-observer` }).catch(() => undefined);
  }
  await deleteNamespaces(core, namespaces);
});

describe.each(["namespace", "cluster"] as const)("an agent without permission to read Secrets (%s topology)", (topology) => {
  it("observes the rest, reports the Secret observer forbidden without a boundary, and recovers when granted", async () => {
    const ns = uniqueName(`rbac-${topology.slice(0, 2)}`);
    const roleName = `${ns}-observer`;
    namespaces.push(ns);
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "visible" }, data: { a: "b" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "hidden" }, stringData: { k: "v" } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "observer" } } });
    await rbac.createClusterRole({
      body: { metadata: { name: roleName }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list", "watch"] }] },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: roleName },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: roleName },
        subjects: [{ kind: "ServiceAccount", name: "observer", namespace: ns }],
      },
    });
    const kubeconfig = writeTokenKubeconfig(await serviceAccountToken(core, ns, "observer"), mkdtempSync(join(tmpdir(), "kube-observer-rbac-")));
    // Cluster topology: one watch of every namespace per resource, all but this one excluded.
    const others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => n !== ns);
    const actor = (resource: string) => (topology === "namespace" ? { resource, namespace: ns } : { resource, exclude: others });
    const scope = topology === "namespace" ? ns : null;
    const agent = AgentProcess.run(
      writeConfig({
        kubeconfig,
        actors: [actor("configmap"), actor("secret")],
        backoff: { initialMs: 200, maxMs: 1000 },
        logLevel: "debug",
      }),
    );
    agents.push(agent);
    const a = agent;

    await a.waitForMessage("the ConfigMap boundary", (m) => m.resource === "configmap" && m.action === "Restarted");
    expect(scopeMessages(a.messages, "configmap", scope).some((m) => m.name === "visible" && m.action === "Applied")).toBe(true);
    // Forbidden: reported once (a warning), then retried with backoff, not abandoned —
    // the apiserver counts the refused LISTs.
    const forbidden = await a.waitForLog("the forbidden report", (l) => l.resource === "secret" && l.phase === "forbidden", 20_000);
    expect(forbidden.level).toBe(40);
    expect(String(forbidden.reason)).toMatch(/forbidden/i);
    expect(scopeMessages(a.messages, "secret", scope)).toEqual([]);
    const retried = await a.waitForLog(
      "a third refused attempt",
      (l) => l.resource === "secret" && l.msg === "observer still forbidden" && Number(l.failures) >= 3,
      20_000,
    );
    expect(retried.level).toBe(20);
    expect(scopeMessages(a.messages, "secret", scope)).toEqual([]);

    // The operator fixes the RBAC: the observer recovers without a restart.
    await rbac.replaceClusterRole({
      name: roleName,
      body: { metadata: { name: roleName }, rules: [{ apiGroups: [""], resources: ["configmaps", "secrets"], verbs: ["list", "watch"] }] },
    });
    const boundary = await a.waitForMessage("the Secret boundary after the grant", (m) => m.resource === "secret" && m.action === "Restarted", 30_000);
    expect(boundary.present!.map((p) => p.name)).toContain("hidden");
    // The ConfigMap observer never restarted meanwhile.
    expect(scopeMessages(a.messages, "configmap", scope).filter((m) => m.action === "Restarted")).toHaveLength(1);
  });
});
