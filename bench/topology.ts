// Watch topology: the same objects observed with one observer (one LIST+WATCH) per
// namespace and resource — what `namespace = "*"` gives — and with one cluster-wide
// observer per resource (the host re-declares the plugins cluster-scoped, see
// bench/agent-host.ts), at tier.topologyNamespaces namespaces.
import { join } from "node:path";
import { readState, type DevEnvState } from "../scripts/devenv/env.js";
import { AgentRun, writeAgentConfig } from "./agent.js";
import { resourcesOf } from "./baseline.js";
import { ChurnGenerator, CommitTracker } from "./churn.js";
import { WatchProbe } from "./watch-probe.js";
import type { KubeWriter } from "./kube.js";
import { removeChurnObjects } from "./load.js";
import { countSockets, cpuPercent, median, ProcSampler, sleep } from "./measure.js";
import type { TopologyModeResult, TopologyResult } from "./report.js";
import type { NamespacePlan, Tier } from "./tiers.js";

export interface TopologyOptions {
  env: DevEnvState;
  kube: KubeWriter;
  tier: Tier;
  workDir: string;
  resources: string[];
  /** The namespaces to watch: the tier's and the fillers. */
  namespaces: string[];
  plans: NamespacePlan[];
  replicaSetUids: ReadonlyMap<string, string>;
  idleSeconds: number;
  churnSeconds: number;
  churnRate: number;
  threads: number;
  say: (line: string) => void;
}

export async function measureTopology(o: TopologyOptions): Promise<TopologyResult> {
  const modes: TopologyModeResult[] = [];
  // Cluster-wide first: the apiserver's RSS hardly ever shrinks, so the second run starts
  // from the first one's high-water mark — its growth over that is what it needs more.
  for (const mode of ["cluster-wide", "per-namespace"] as const) {
    // Read again: a restarted apiserver has a new pid.
    const apiserverPid = (readState() ?? o.env).pids["kube-apiserver"];
    const dir = join(o.workDir, `topology-${mode}`);
    const all = (await o.kube.listAll("/api/v1/namespaces")).map((n) => n.metadata!.name!);
    const wanted = new Set(o.namespaces);
    const exclude = all.filter((n) => !wanted.has(n));
    const config = writeAgentConfig({
      dir,
      env: o.env,
      sink: "sqlite",
      resources: o.resources,
      exclude,
      threads: o.threads,
      topology: mode === "per-namespace" ? "namespace" : "cluster",
    });
    o.say(`topology: ${mode} — starting the agent`);
    const apiserver = new ProcSampler(apiserverPid, 500).start();
    const apiserverBefore = apiserver.last();
    const agent = new AgentRun(config.file, "sqlite", join(dir, "agent.log"), o.env);
    try {
      const started = await agent.waitFor("started", 120_000);
      const complete = await agent.waitFor("complete", 30 * 60_000);
      const syncSeconds = (complete.lastCommitAt - started.at) / 1000;
      o.say(`topology: ${mode} — ${complete.stats.observers} observers, graph complete after ${syncSeconds.toFixed(1)} s; idle ${o.idleSeconds} s`);
      await sleep(3_000);
      const a0 = agent.sampler.take();
      const s0 = apiserver.take();
      await sleep((o.idleSeconds * 1000) / 2);
      const sockets = countSockets(agent.pid);
      let apiserverSockets = Number.NaN;
      try {
        apiserverSockets = countSockets(apiserverPid);
      } catch {
        /* not ours to read */
      }
      await sleep((o.idleSeconds * 1000) / 2);
      const a1 = agent.sampler.take();
      const s1 = apiserver.take();
      if (!a0 || !a1) throw new Error(`the agent (pid ${agent.pid}) could not be sampled during the idle window`);
      const window = agent.sampler.between(a0.at, a1.at);
      let churn = null;
      if (o.churnSeconds > 0) {
        const tracker = new CommitTracker();
        agent.onCommits = (at, items) => tracker.onCommits(at, items);
        agent.track(true);
        const probeTracker = new CommitTracker();
        const probe = new WatchProbe(o.env.kubeconfig, await resourcesOf(o.resources), new Set(o.plans.map((p) => p.name)), (at, items) =>
          probeTracker.onCommits(at, items),
        );
        await probe.start();
        const generator = new ChurnGenerator(o.kube, o.tier, o.plans, o.replicaSetUids);
        churn = await generator.step({
          rate: o.churnRate,
          seconds: o.churnSeconds,
          tracker,
          probe: probeTracker,
          agent: agent.sampler,
          drainTimeoutMs: 30_000,
        });
        agent.track(false);
        await probe.stop();
      }
      const final = complete.stats;
      modes.push({
        mode,
        namespaces: o.namespaces.length,
        observers: final.observers,
        objects: final.objects,
        syncSeconds,
        sockets,
        apiserverSockets,
        agentRssBytes: median(window.map((s) => s.rssBytes)),
        agentIdleCpuPercent: cpuPercent(a0, a1),
        apiserverRssBytes: s0 && s1 ? median(apiserver.between(s0.at, s1.at).map((s) => s.rssBytes)) : Number.NaN,
        apiserverRssBeforeBytes: apiserverBefore?.rssBytes ?? Number.NaN,
        apiserverIdleCpuPercent: s0 && s1 ? cpuPercent(s0, s1) : Number.NaN,
        churn,
      });
    } finally {
      apiserver.stop();
      await agent.stop();
      // The next mode starts from the same objects.
      await removeChurnObjects(o.kube, o.tier);
    }
  }
  modes.sort((a, b) => (a.mode === "per-namespace" ? -1 : 1) - (b.mode === "per-namespace" ? -1 : 1));
  return {
    namespaces: o.namespaces.length,
    idleSeconds: o.idleSeconds,
    sink: "sqlite",
    modes,
    note:
      'Both runs use the config\'s own topology: topology = "cluster" (what namespace = "*" gets by default: one list+watch per resource) and topology = "namespace" ' +
      "(one per namespace and resource), with the same exclusions (every namespace but the tier's and the fillers'). Both run with the SQLite sink and the admin (APF-exempt) " +
      "credentials; the cluster-wide run goes first, and the apiserver's RSS rarely shrinks, so read the per-namespace run's apiserver RSS as growth over the cluster-wide one's.",
  };
}
