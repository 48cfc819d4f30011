// A plugin whose resource the apiserver does not serve (its CRD not installed): reported
// once per observer with the plugin's file and group/version/plural, retried slowly, the
// other observers unaffected; once the CRD is installed, its objects appear without
// restarting the agent. `run --once` fails that scope with the same reason.
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { AgentProcess, LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { BACKUP_API, createBackupPolicy, deleteBackupCrd, examplePluginDir, examplePluginFile, installBackupCrd } from "../../support/crd.js";
import { nodesOf, waitForGraph, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("plugins-unserved");
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, [ns]);
  await deleteBackupCrd();
});

const isReport = (l: LogLine): boolean => l.msg.startsWith("resource not served by the apiserver") && l.namespace === ns;

describe("a plugin whose resource is not served", () => {
  it("is reported once, retried slowly, and observed once its CRD is installed, without a restart", async () => {
    await deleteBackupCrd();
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "unaffected" }, data: { a: "b" } } });
    // The slow retry is the backoff's maximum: 2 s here (30 s by default).
    const ws = workspace(
      "sqlite",
      [
        { resource: "backuppolicy", namespace: ns },
        { resource: "configmap", namespace: ns },
      ],
      {
        pluginDirs: [examplePluginDir],
        logLevel: "debug",
        backoff: { initialMs: 100, maxMs: 2000, jitter: 0.1 },
      },
    );
    const agent = ws.run();
    agents.push(agent);

    const report = await agent.waitForLog("the not-served report", isReport, 60_000);
    expect(report).toMatchObject({ level: 40, resource: "backuppolicy", file: examplePluginFile, api: BACKUP_API, phase: "not-served" });
    expect(String(report.reason)).toContain(`the apiserver does not serve ${BACKUP_API}`);
    expect(String(report.reason)).toContain("is the CRD installed");
    expect(report.retryInMs as number).toBeGreaterThanOrEqual(1800);

    // The other observer is unaffected.
    await waitForGraph(ws, "the ConfigMap", (l) => (nodesOf(l).some((n) => n.key === `local/${ns}/ConfigMap/unaffected`) ? true : undefined), 30_000);

    // Retried, slowly, and reported only once.
    const retries = (): LogLine[] => agent.logs.filter((l) => l.msg === "observer still not-served" && l.namespace === ns);
    await agent.waitFor("two slow retries", () => (retries().length >= 2 ? true : undefined), 30_000);
    for (const retry of retries()) expect(retry.retryInMs as number).toBeGreaterThanOrEqual(1800);
    const retryTimes = [report, ...retries()].map((l) => Number(l.time));
    for (let i = 1; i < retryTimes.length; i++) expect(retryTimes[i]! - retryTimes[i - 1]!).toBeGreaterThanOrEqual(1500);
    expect(agent.logs.filter(isReport)).toHaveLength(1);
    expect(agent.logs.some((l) => l.resource === "backuppolicy" && l.phase === "backing-off")).toBe(false);

    // The CRD arrives; so does an object. Same process, no restart.
    await installBackupCrd();
    await createBackupPolicy(ns, "late", { schedule: "@hourly", target: "s3://backups.example/late", credentialsSecretRef: { name: "creds" } });
    await waitForGraph(
      ws,
      "the BackupPolicy created after the CRD",
      (l) => (nodesOf(l).some((n) => n.key === `local/${ns}/BackupPolicy/late`) ? true : undefined),
      60_000,
    );
    const served = await agent.waitForLog("the served-now line", (l) => l.msg === "resource is served now: observing it" && l.namespace === ns);
    expect(served).toMatchObject({ resource: "backuppolicy", file: examplePluginFile });
    expect(agent.logs.filter(isReport)).toHaveLength(1);
    expect(agent.logs.some((l) => l.msg === "observer ended unexpectedly; restarting it")).toBe(false);
    expect(await Promise.race([agent.exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("running"), 100))])).toBe("running");
  });

  it("run --once fails the scope with the reason and still delivers the rest", async () => {
    await deleteBackupCrd();
    const ws = workspace(
      "sqlite",
      [
        { resource: "backuppolicy", namespace: ns },
        { resource: "configmap", namespace: ns },
      ],
      { pluginDirs: [examplePluginDir] },
    );
    const agent = ws.run(["--once"]);
    agents.push(agent);
    expect((await agent.exited).code).toBe(1);
    const failed = agent.logs.find((l) => l.msg === "scope not delivered");
    expect(failed).toMatchObject({ observer: `local/${ns}/backuppolicy` });
    expect(String(failed?.reason)).toContain(`the apiserver does not serve ${BACKUP_API}`);
    const keys = nodesOf(await ws.exportLines()).map((n) => n.key);
    expect(keys).toContain(`local/${ns}/ConfigMap/unaffected`);
  });
});
