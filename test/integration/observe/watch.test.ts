// Observers follow the cluster: namespaces that appear and disappear, and watches the
// server closes on its timeout resume from their resourceVersion without a relist.
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, scopeMessages, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, apiserverRequestCount, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const created: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, created);
});

describe("namespaces appearing and disappearing", () => {
  it("cluster-wide: covers a namespace created while running within 5 s with no new observer, and reports its objects deleted with it", async () => {
    const prefix = uniqueName("dync");
    const config = writeConfig({ actors: [{ resource: "configmap" }, { resource: "secret" }] });
    const agent = AgentProcess.run(config);
    agents.push(agent);
    await agent.waitForLog("initial sync", (l) => l.msg === "initial sync complete", 60_000);
    const reconciled = agent.logs.filter((l) => l.msg === "observers reconciled");
    expect(reconciled.at(-1)?.observers).toBe(2);

    const ns = `${prefix}-late`;
    created.push(ns);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const createdAt = Date.now();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "hello" }, data: { a: "b" } } });
    const seen = await agent.waitForMessage(
      "the new namespace's ConfigMap",
      (m) => m.objectNamespace === ns && m.name === "hello" && m.action === "Applied",
      15_000,
    );
    expect(seen.namespace).toBeNull();
    expect(Date.parse(seen.observedAt) - createdAt).toBeLessThan(5_000);

    await core.deleteNamespace({ name: ns });
    await agent.waitForMessage("Deleted for the ConfigMap", (m) => m.objectNamespace === ns && m.name === "hello" && m.action === "Deleted", 90_000);
    // Still the same two observers: nothing was started or stopped for the namespace.
    expect(agent.logs.filter((l) => l.msg === "observers reconciled")).toHaveLength(reconciled.length);
  });

  it("per namespace: observes a namespace created while running within 5 s, and stops observing it when it is deleted", async () => {
    const prefix = uniqueName("dyn");
    const config = writeConfig({
      actors: [
        { resource: "configmap", topology: "namespace" },
        { resource: "secret", topology: "namespace" },
      ],
      logLevel: "debug",
    });
    const agent = AgentProcess.run(config);
    agents.push(agent);
    await agent.waitForLog("initial sync", (l) => l.msg === "initial sync complete", 60_000);

    const ns = `${prefix}-late`;
    created.push(ns);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const createdAt = Date.now();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "hello" }, data: { a: "b" } } });
    const seen = await agent.waitForMessage("the new namespace's ConfigMap", (m) => m.namespace === ns && m.name === "hello" && m.action === "Applied", 15_000);
    expect(Date.parse(seen.observedAt) - createdAt).toBeLessThan(5_000);
    // The secret observer of the namespace lists independently of the ConfigMap one.
    const secrets = await agent.waitForMessage(
      "the new namespace's secret boundary",
      (m) => m.namespace === ns && m.resource === "secret" && m.action === "Restarted",
      15_000,
    );
    expect(Date.parse(secrets.observedAt) - createdAt).toBeLessThan(5_000);

    await core.deleteNamespace({ name: ns });
    await agent.waitForMessage("Deleted for the ConfigMap", (m) => m.namespace === ns && m.name === "hello" && m.action === "Deleted", 90_000);
    for (const resource of ["configmap", "secret"]) {
      await agent.waitForLog(
        `the ${resource} observer of ${ns} to stop`,
        (l) => l.namespace === ns && l.resource === resource && l.phase === "stopped",
        90_000,
      );
    }
    // Its scope ends with an empty boundary: downstream sweeps whatever was left.
    const last = scopeMessages(agent.messages, "configmap", ns)
      .filter((m) => m.action === "Restarted")
      .at(-1);
    expect(last?.present).toEqual([]);
  });
});

describe.each(["namespace", "cluster"] as const)("watch timeouts (%s topology)", (topology) => {
  it("re-watches from the last resourceVersion when the server closes the watch, without a LIST", async () => {
    const ns = uniqueName("timeout");
    created.push(ns);
    await createNamespace(core, ns);
    // The namespace controller LISTs every resource of a namespace it deletes: earlier
    // tests' namespaces must be gone before the apiserver's LIST count means anything.
    await eventually(
      "earlier tests' namespaces to finish terminating",
      async () => ((await core.listNamespace()).items.some((n) => n.status?.phase === "Terminating") ? undefined : true),
      180_000,
      1_000,
    );
    // Counted before the LIST counter is read: this LIST is not the agent's.
    const listed = topology === "namespace" ? 0 : (await core.listPersistentVolumeClaimForAllNamespaces()).items.length;
    const pagesOfOneList = Math.max(1, Math.ceil(listed / 500));
    const listsBefore = await apiserverRequestCount({ verb: "LIST", resource: "persistentvolumeclaims" });
    const watchesBefore = await apiserverRequestCount({ verb: "WATCH", resource: "persistentvolumeclaims" });

    // Cluster topology: one watch of every namespace, all but this one excluded.
    const others = (await core.listNamespace()).items.map((n) => n.metadata!.name!).filter((n) => n !== ns);
    const config = writeConfig({
      actors: [topology === "namespace" ? { resource: "persistentvolumeclaim", namespace: ns } : { resource: "persistentvolumeclaim", exclude: others }],
      observer: { watchTimeoutMinSeconds: 2, watchTimeoutMaxSeconds: 2 },
    });
    const agent = AgentProcess.run(config);
    agents.push(agent);
    await agent.waitForMessage("the first boundary", (m) => m.action === "Restarted");
    // Several 2-second watches come and go; a change made late is still delivered.
    await new Promise((r) => setTimeout(r, 9_000));
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: "late" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
    });
    await agent.waitForMessage("the PVC created after several watch timeouts", (m) => m.name === "late" && m.action === "Applied");
    await agent.stop();

    const lists = (await apiserverRequestCount({ verb: "LIST", resource: "persistentvolumeclaims" })) - listsBefore;
    const watches = (await apiserverRequestCount({ verb: "WATCH", resource: "persistentvolumeclaims" })) - watchesBefore;
    // One complete LIST: one request per page of 500 (a cluster-wide list pages through
    // every namespace's PVCs), and no second list.
    expect(lists).toBe(pagesOfOneList);
    expect(watches).toBeGreaterThanOrEqual(4);
    expect(agent.messages.filter((m) => m.action === "Restarted")).toHaveLength(1);
  }, 300_000);
});
