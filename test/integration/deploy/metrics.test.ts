// /metrics against the real apiserver: every family the operator guide lists moves when
// the thing it counts happens (objects delivered, watches re-opened, a resource not
// served, batches committed), and the gauges read the agent's state.
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";
import { BACKUP_CRD, examplePluginDir } from "../../support/crd.js";
import { workspace } from "../../support/graph.js";
import { sample } from "../../support/metrics.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apiext = kc.makeApiClient(k8s.ApiextensionsV1Api);
const namespaces: string[] = [];

afterAll(async () => {
  await deleteNamespaces(core, namespaces);
});

describe("/metrics", () => {
  it("counts deliveries, watch restarts, commits and a not-served resource, and reads observers and the WAL", async () => {
    // The example CRD must not be installed: its observer is the not-served one.
    const crd = await apiext.readCustomResourceDefinition({ name: BACKUP_CRD }).catch(() => undefined);
    expect(crd, `${BACKUP_CRD} is installed; another test left it behind`).toBeUndefined();
    const ns = uniqueName("metrics");
    namespaces.push(ns);
    await createNamespace(core, ns);
    for (const name of ["a", "b", "c"]) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { k: name } } });

    const ws = workspace(
      "sqlite",
      [
        { resource: "configmap", namespace: ns },
        { resource: "secret", namespace: ns },
        { resource: "backuppolicy", namespace: ns },
      ],
      {
        pluginDirs: [examplePluginDir],
        // Short watches, so that re-opened watches show within the test.
        observer: { watchTimeoutMinSeconds: 2, watchTimeoutMaxSeconds: 2 },
        backoff: { initialMs: 200, maxMs: 1000 },
      },
    );
    const agent = ws.run(["--listen", "127.0.0.1:0"]);
    try {
      const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
      const base = `http://${String(listening.listen)}`;
      const scrape = async (): Promise<string> => {
        const response = await fetch(`${base}/metrics`);
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
        return response.text();
      };

      // The not-served observer never syncs: wait for the other two and for its failures.
      const first = await eventually(
        "configmaps delivered and the not-served resource counted",
        async () => {
          const text = await scrape();
          const applied = sample(text, "kube_observer_messages_total", { cluster: "local", resource: "configmap", action: "Applied" }) ?? 0;
          const notServed = sample(text, "kube_observer_errors_total", { where: "observer", kind: "not-found" }) ?? 0;
          // Delivered is not yet committed: the sink's counts are read once the dispatcher has
          // committed what was delivered (it may still hold the last batch).
          const committed = sample(text, "kube_observer_sink_messages_total", { sink: "sqlite", outcome: "committed" }) ?? 0;
          return applied >= 4 && notServed >= 1 && committed >= 5 && sample(text, "kube_observer_observers", { phase: "watching" }) === 2 ? text : undefined;
        },
        60_000,
      );
      // 3 ConfigMaps and the namespace's kube-root-ca.crt, each listed once, plus the list boundary.
      expect(sample(first, "kube_observer_messages_total", { cluster: "local", resource: "configmap", action: "Applied" })).toBe(4);
      expect(sample(first, "kube_observer_messages_total", { cluster: "local", resource: "configmap", action: "Restarted" })).toBeGreaterThanOrEqual(1);
      expect(sample(first, "kube_observer_observers", { phase: "not-served" })).toBe(1);
      expect(sample(first, "kube_observer_observers", { phase: "forbidden" })).toBe(0);
      expect(sample(first, "kube_observer_initial_sync_complete")).toBe(0); // one scope can never sync
      expect(sample(first, "kube_observer_sink_batch_seconds_count", { sink: "sqlite", outcome: "committed" })).toBeGreaterThanOrEqual(1);
      expect(sample(first, "kube_observer_sink_messages_total", { sink: "sqlite", outcome: "committed" })).toBeGreaterThanOrEqual(5);
      expect(sample(first, "kube_observer_wal_parked")).toBe(0);
      expect(sample(first, "kube_observer_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);

      // A new object is counted once; 2-second watches are re-opened without a LIST.
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "d" }, data: { k: "d" } } });
      const later = await eventually(
        "the new ConfigMap and re-opened watches",
        async () => {
          const text = await scrape();
          const applied = sample(text, "kube_observer_messages_total", { cluster: "local", resource: "configmap", action: "Applied" }) ?? 0;
          const restarts = sample(text, "kube_observer_watch_restarts_total", { cluster: "local", resource: "configmap" }) ?? 0;
          return applied >= 5 && restarts >= 2 ? text : undefined;
        },
        30_000,
      );
      expect(sample(later, "kube_observer_messages_total", { cluster: "local", resource: "configmap", action: "Applied" })).toBe(5);
      expect(sample(later, "kube_observer_relists_total", { cluster: "local", resource: "configmap" }) ?? 0).toBe(0);
      // Everything appended has been committed: the WAL is empty and nothing is old.
      const drained = await eventually("the WAL to drain", async () => {
        const text = await scrape();
        return sample(text, "kube_observer_wal_depth") === 0 ? text : undefined;
      });
      expect(sample(drained, "kube_observer_wal_oldest_unacked_seconds")).toBe(0);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
