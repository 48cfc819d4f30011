// The faults the soak injects, each against the real local servers or the real agent
// process. A fault runs from injection until it has cleared and returns the moment it
// cleared: convergence is measured from there. The churn load keeps running meanwhile.
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { promisify } from "node:util";
import { startServerAgain, stopServer, type DevEnvState } from "../../scripts/devenv/env.js";
import { etcdCompact, etcdRevision } from "../../scripts/devenv/etcd.js";
import type { KubeWriter } from "../kube.js";
import { nsPath } from "../kube.js";
import { sleep } from "../measure.js";
import { LABEL_CHURN } from "../tiers.js";
import type { SoakAgent } from "./agent-process.js";

const run = promisify(execFile);

export const FAULT_KINDS = [
  "sigkill",
  "sigstop",
  "apiserver-restart",
  "etcd-compaction",
  "neo4j-outage",
  "wal-disk-full",
  "namespace-deleted-while-down",
  "worker-killed",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultContext {
  agent: SoakAgent;
  env: DevEnvState;
  kube: KubeWriter;
  sink: "sqlite" | "neo4j";
  /** The agent's longest watch timeout: a pause past it ends every watch. */
  watchTimeoutMaxSeconds: number;
  /** The crash-once plugin kills its worker thread when this file is absent. */
  crashMarker: string;
  /** A namespace the agent observes, for the thread-killing ConfigMap. */
  observedNamespace: string;
  /** Namespace names made for the delete-while-down fault: unique per run (a counter follows). */
  victimPrefix: string;
  say: (line: string) => void;
}

export interface FaultOutcome {
  clearedAt: number;
  /** What happened, in a few words. */
  note: string;
  /** What the agent's log showed afterwards (awaited after the convergence check, so
   *  that looking for it does not delay the check). */
  evidence?: Promise<string>;
}

export function faultApplies(kind: FaultKind, sink: "sqlite" | "neo4j"): boolean {
  return kind !== "neo4j-outage" || sink === "neo4j";
}

let victims = 0;

export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<FaultOutcome> {
  switch (kind) {
    case "sigkill": {
      await ctx.agent.end("SIGKILL");
      ctx.agent.start();
      return { clearedAt: Date.now(), note: "killed and started again" };
    }
    case "sigstop": {
      // Stopped past the watch timeout: every watch the apiserver ends meanwhile is found
      // closed on SIGCONT.
      const seconds = ctx.watchTimeoutMaxSeconds + 5;
      ctx.agent.pause();
      await sleep(seconds * 1000);
      ctx.agent.resume();
      return { clearedAt: Date.now(), note: `stopped ${seconds} s` };
    }
    case "apiserver-restart": {
      await stopServer("kube-apiserver");
      await sleep(5_000);
      await startServerAgain("kube-apiserver");
      return { clearedAt: Date.now(), note: "down 5 s" };
    }
    case "etcd-compaction": {
      // Watches end while the agent is stopped; the history they would resume from is
      // compacted away. The apiserver is restarted too, so that its watch cache (which
      // could still serve a recent resourceVersion from memory) starts after the
      // compaction: the agent's watches are then answered 410 Gone for certain.
      const seconds = ctx.watchTimeoutMaxSeconds + 5;
      ctx.agent.pause();
      await sleep(seconds * 1000);
      const revision = await etcdRevision(ctx.env.etcdUrl);
      await etcdCompact(ctx.env.etcdUrl, revision);
      await stopServer("kube-apiserver");
      await startServerAgain("kube-apiserver");
      const gone = ctx.agent.waitForLine((l) => l.includes("too old resource version"), 30_000);
      ctx.agent.resume();
      return { clearedAt: Date.now(), note: `compacted at ${revision}`, evidence: gone.then((l) => (l ? "410 Gone, relisted" : "no 410 logged within 30 s")) };
    }
    case "neo4j-outage": {
      await stopServer("neo4j");
      await sleep(60_000);
      await startServerAgain("neo4j");
      return { clearedAt: Date.now(), note: "down 60 s" };
    }
    case "wal-disk-full": {
      // RLIMIT_FSIZE on the running agent: no file of its may grow past a few KiB, so WAL
      // appends (and graph writes) fail as on a full disk; then the limit is lifted.
      const pid = ctx.agent.pid;
      await run("prlimit", ["--pid", String(pid), "--fsize=4096:unlimited"]);
      await sleep(20_000);
      if (ctx.agent.running && ctx.agent.pid === pid) await run("prlimit", ["--pid", String(pid), "--fsize=unlimited:unlimited"]);
      return { clearedAt: Date.now(), note: "files capped at 4 KiB for 20 s" };
    }
    case "namespace-deleted-while-down": {
      const name = `${ctx.victimPrefix}-${++victims}`;
      await makeVictim(ctx.kube, name);
      await sleep(3_000); // observed before the agent goes down
      await ctx.agent.end("SIGTERM");
      await ctx.kube.must("DELETE", `/api/v1/namespaces/${name}`, undefined, { ok: [200, 202, 404] });
      const deadline = Date.now() + 120_000;
      while ((await ctx.kube.send("GET", `/api/v1/namespaces/${name}`)).status !== 404) {
        if (Date.now() > deadline) throw new Error(`namespace ${name} was not deleted within 120 s`);
        await sleep(500);
      }
      ctx.agent.start();
      return { clearedAt: Date.now(), note: `${name} (20 objects) deleted while stopped` };
    }
    case "worker-killed": {
      rmSync(ctx.crashMarker, { force: true });
      const restarted = ctx.agent.waitForLine((l) => l.includes("observer ended unexpectedly; restarting it"), 60_000);
      const name = `thread-bomb-${Date.now()}`;
      await ctx.kube.must("POST", nsPath(ctx.observedNamespace, "configmaps"), {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, labels: { "kube-observer-test/crash": "thread", [LABEL_CHURN]: "true" } },
        data: { a: "b" },
      });
      // Labelled as churn: the next run's clean-up removes it. The fault has cleared when
      // the dead thread's observers are started again.
      const seen = await restarted;
      return { clearedAt: Date.now(), note: seen ? "a worker thread died; its observers restarted" : "no observer restart logged within 60 s" };
    }
  }
}

/** A namespace with ConfigMaps, Secrets and (unscheduled, so deletable without a kubelet) Pods. */
async function makeVictim(kube: KubeWriter, name: string): Promise<void> {
  await kube.must("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { "soak.kube-observer/victim": "true" } } });
  // Pods are refused until kube-controller-manager has made the namespace's default ServiceAccount.
  const deadline = Date.now() + 60_000;
  while ((await kube.send("GET", `${nsPath(name, "serviceaccounts")}/default`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`namespace ${name} got no default ServiceAccount within 60 s`);
    await sleep(200);
  }
  for (let i = 0; i < 8; i++) {
    await kube.must("POST", nsPath(name, "configmaps"), { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm-${i}` }, data: { k: String(i) } });
    await kube.must("POST", nsPath(name, "secrets"), { apiVersion: "v1", kind: "Secret", metadata: { name: `s-${i}` }, stringData: { k: String(i) } });
  }
  for (let i = 0; i < 4; i++) {
    await kube.must("POST", nsPath(name, "pods"), {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `p-${i}` },
      spec: { containers: [{ name: "c", image: "registry.soak.example/app:1" }] },
    });
  }
}
