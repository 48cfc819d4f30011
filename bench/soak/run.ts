// `npm run soak -- [--minutes N] [--sink sqlite|neo4j] [...]`: a bounded fault-injection
// run against the local environment (loopback only; it stops by itself). The tier's
// objects are created (or reused), the agent runs under a steady churn, and faults are
// injected at random times; after each one clears, `verify` compares the graph with an
// independent LIST until they are equal (or the settle time runs out). Prints one row
// per fault kind and writes bench/results/soak-<sink>-<tier>-<N>min.{md,json}.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { up } from "../../scripts/devenv/env.js";
import { NEO4J_PASSWORD_ENV, repoRoot, writeAgentConfig } from "../agent.js";
import { ChurnGenerator, CommitTracker } from "../churn.js";
import { cleanNeo4j } from "../graph-check.js";
import { KubeWriter } from "../kube.js";
import { ensureTier, removeChurnObjects } from "../load.js";
import { machineFacts } from "../machine.js";
import { ProcSampler, sleep } from "../measure.js";
import { tierByName } from "../tiers.js";
import { SoakAgent } from "./agent-process.js";
import { converge } from "./converge.js";
import { FAULT_KINDS, faultApplies, injectFault, type FaultContext, type FaultKind, type FaultOutcome } from "./faults.js";
import { evaluate, kindRows, table, writeSoakResult, type FaultRecord, type SoakResult } from "./report.js";

const HELP = `Usage: npm run soak -- [options]

  --minutes N          how long to inject faults (default 30; the planned ones below all
                       run even if that takes longer); then one last check, and it stops
  --sink sqlite|neo4j  the graph sink (default sqlite; neo4j-outage needs neo4j)
  --tier XS|S|M        objects created (or reused) first (default S)
  --faults a,b,...     fault kinds (default: every kind that applies to the sink):
                       ${FAULT_KINDS.join(", ")}
  --min-sigkills N     SIGKILLs planned at least (default 20)
  --min-each N         of every other kind, at least (default 3)
  --rate N             churn writes per second (default 20)
  --gap MIN,MAX        seconds of churn between faults, drawn at random (default 5,15)
  --seed N             the fault schedule's random seed (default: time)
  --out DIR            results directory (default bench/results)
  --keep               keep the work directory (agent log, WAL, graph)

Exit code: 0 every fault converged with nothing lost, duplicated or stale; 1 otherwise;
2 bad arguments.`;

/** A small seeded PRNG (mulberry32): the schedule of a run can be replayed with --seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The churn, in short steps so that it can be paused while convergence is checked. */
class ChurnLoop {
  ok = 0;
  failed = 0;
  private paused = true;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly tracker = new CommitTracker();
  private readonly sampler = new ProcSampler(process.pid);

  constructor(
    private readonly generator: ChurnGenerator,
    private readonly rate: number,
  ) {}

  start(): void {
    this.paused = false;
    this.loop = (async () => {
      while (!this.stopped) {
        if (this.paused) {
          await sleep(100);
          continue;
        }
        const step = await this.generator.step({ rate: this.rate, seconds: 0.5, tracker: this.tracker, agent: this.sampler, drainTimeoutMs: 0 });
        this.ok += step.writesOk;
        this.failed += step.writesFailed;
      }
    })();
  }

  /** Waits for the current half-second step to end (its writes answered). */
  async pause(): Promise<void> {
    this.paused = true;
    await sleep(600);
  }

  resume(): void {
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

function plan(kinds: readonly FaultKind[], minSigkills: number, minEach: number, rand: () => number): FaultKind[] {
  const list: FaultKind[] = [];
  for (const k of kinds) for (let i = 0; i < (k === "sigkill" ? minSigkills : minEach); i++) list.push(k);
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "30" },
      sink: { type: "string", default: "sqlite" },
      tier: { type: "string", default: "S" },
      faults: { type: "string" },
      "min-sigkills": { type: "string", default: "20" },
      "min-each": { type: "string", default: "3" },
      rate: { type: "string", default: "20" },
      gap: { type: "string", default: "5,15" },
      seed: { type: "string" },
      out: { type: "string", default: join(repoRoot, "bench/results") },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const say = (line: string): void => void process.stderr.write(`[soak] ${line}\n`);
  const minutes = Number(values.minutes);
  const sinkArg = values.sink;
  const rate = Number(values.rate);
  const minSigkills = Number(values["min-sigkills"]);
  const minEach = Number(values["min-each"]);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  if (sinkArg !== "sqlite" && sinkArg !== "neo4j") throw new UsageError(`--sink must be sqlite or neo4j, not ${JSON.stringify(sinkArg)}`);
  const sink: "sqlite" | "neo4j" = sinkArg;
  for (const [name, n] of Object.entries({ minutes, rate, "min-sigkills": minSigkills, "min-each": minEach, seed })) {
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number >= 0`);
  }
  const [gapMin, gapMax] = values.gap.split(",").map(Number);
  if (!Number.isFinite(gapMin) || !Number.isFinite(gapMax) || gapMin! < 0 || gapMax! < gapMin!)
    throw new UsageError(`--gap must be MIN,MAX seconds (MIN <= MAX), not ${JSON.stringify(values.gap)}`);
  const requested = values.faults ? values.faults.split(",").map((f) => f.trim()) : [...FAULT_KINDS];
  for (const f of requested)
    if (!(FAULT_KINDS as readonly string[]).includes(f)) throw new UsageError(`unknown fault kind ${JSON.stringify(f)} (known: ${FAULT_KINDS.join(", ")})`);
  const kinds = (requested as FaultKind[]).filter((k) => faultApplies(k, sink));
  const tier = tierByName(values.tier);
  const loadAtStart = loadavg();
  const startedAt = new Date().toISOString();

  const { state: env } = await up((line) => say(`env: ${line}`));
  const kube = new KubeWriter(env);
  const setup = await ensureTier(kube, tier, { fresh: false, say });
  await removeChurnObjects(kube, tier);
  if (sink === "neo4j") await cleanNeo4j(env);
  // Observe the tier's namespaces and the victims made later; nothing that was there before.
  const tierNames = new Set(setup.plans.map((p) => p.name));
  const others = (await kube.listAll("/api/v1/namespaces")).map((n) => n.metadata!.name!).filter((n) => !tierNames.has(n));
  const dir = mkdtempSync(join(tmpdir(), "kube-observer-soak-"));
  const crashMarker = join(dir, "thread-crashed");
  const watchTimeoutMaxSeconds = 20;
  const { file: config } = writeAgentConfig({
    dir,
    env,
    sink,
    resources: ["pod", "configmap", "secret", "serviceaccount", "persistentvolumeclaim", "crash-once"],
    exclude: others,
    observer: { watchTimeoutMinSeconds: "15", watchTimeoutMaxSeconds: String(watchTimeoutMaxSeconds) },
    // Debug: observer phase changes (a relist after 410) are the faults' evidence.
    logLevel: "debug",
    // The worker-killed fault's plugin: it kills its thread once per marker file.
    pluginDirs: [resolve(repoRoot, "test/fixtures/plugins/crash-once")],
  });
  const agentEnv = { [NEO4J_PASSWORD_ENV]: env.neo4j.password, CRASH_ONCE_MARKER: crashMarker };
  // Present: the plugin does nothing; the worker-killed fault removes it.
  writeFileSync(crashMarker, "armed by the soak\n");
  const agent = new SoakAgent(config, join(dir, "agent.log"), agentEnv);
  say(`work directory ${dir}; seed ${seed}; faults ${kinds.join(", ")}`);

  agent.start();
  try {
    return await soak();
  } finally {
    // Never leave the agent behind, whatever failed.
    await agent.close();
  }

  async function soak(): Promise<number> {
    const synced = await agent.waitForLine((l) => l.includes('"initial sync complete"'), 600_000);
    if (!synced) throw new Error(`the agent did not finish its initial sync within 10 minutes (log: ${join(dir, "agent.log")})`);
    const initial = await converge(config, agentEnv, 600);
    if (!initial.equal) throw new Error(`the initial sync did not converge: ${JSON.stringify(initial)}`);
    say(`initial sync converged (${(initial.elapsedMs / 1000).toFixed(1)} s of verify)`);

    const churn = new ChurnLoop(new ChurnGenerator(kube, tier, setup.plans, setup.replicaSetUids), rate);
    churn.start();
    const rand = random(seed);
    const schedule = plan(kinds, minSigkills, minEach, rand);
    const ctx: FaultContext = {
      agent,
      env,
      kube,
      sink,
      watchTimeoutMaxSeconds,
      crashMarker,
      observedNamespace: setup.plans[0]!.name,
      victimPrefix: `soak-victim-${Date.now().toString(36)}`,
      say,
    };
    const faults: FaultRecord[] = [];
    const endAt = Date.now() + minutes * 60_000;
    // Every planned fault runs, then random ones until the time is up.
    while (schedule.length > 0 || Date.now() < endAt) {
      const kind = schedule.shift() ?? kinds[Math.floor(rand() * kinds.length)]!;
      await sleep((gapMin! + rand() * (gapMax! - gapMin!)) * 1000); // churn between faults
      const injectedAt = Date.now();
      say(`fault ${faults.length + 1}: ${kind}`);
      // A fault that cannot be injected (a request refused) is recorded, and the run goes on.
      const outcome: FaultOutcome = await injectFault(kind, ctx).catch((error: unknown) => {
        if (!agent.running) agent.start();
        return { clearedAt: Date.now(), note: `injection failed: ${error instanceof Error ? error.message : String(error)}` };
      });
      await churn.pause();
      const settle = kind === "neo4j-outage" ? 180 : 60;
      const checkStart = Date.now();
      const convergence = await converge(config, agentEnv, settle);
      const deaths = agent.reviveIfDead(injectedAt).map((d) => `exit ${d.code ?? d.signal} at +${((d.at - injectedAt) / 1000).toFixed(1)} s`);
      // Converged: by the moment verify's successful look read the graph (the churn is
      // paused, so the cluster it listed just before is still the cluster). Not: how long
      // verify kept looking.
      const convergeMs = checkStart - outcome.clearedAt + (convergence.equal ? convergence.graphReadAtMs : convergence.elapsedMs);
      const convergeAfterMs = convergence.previousGraphReadAtMs === null ? 0 : checkStart - outcome.clearedAt + convergence.previousGraphReadAtMs;
      const note = outcome.evidence ? `${outcome.note}; ${await outcome.evidence}` : outcome.note;
      faults.push({ kind, injectedAt: new Date(injectedAt).toISOString(), note, convergeMs, convergeAfterMs, convergence, agentDeaths: deaths });
      say(
        `  ${convergence.equal ? `converged after ${(convergeAfterMs / 1000).toFixed(1)}, by` : "NOT converged in"} ${(convergeMs / 1000).toFixed(1)} s (${note})${convergence.failure ? `: ${convergence.failure}` : ""}${deaths.length ? `; agent died: ${deaths.join(", ")}` : ""}`,
      );
      churn.resume();
    }
    await churn.stop();
    const final = await converge(config, agentEnv, 120);
    const exit = await agent.close();
    kube.close();

    const rows = kindRows(faults);
    const result: SoakResult = {
      startedAt,
      minutes,
      sink,
      tier: tier.name,
      objects: setup.plans.reduce((n, p) => n + p.pods + p.configmaps + p.secrets + p.serviceaccounts + p.pvcs, 0),
      churnRate: rate,
      churnWrites: { ok: churn.ok, failed: churn.failed },
      faults,
      rows,
      final,
      agentExit: exit ? { code: exit.code, signal: exit.signal } : null,
      targets: evaluate(rows, kinds, minSigkills, minEach),
      machine: machineFacts(loadAtStart),
      command: `npm run soak -- ${process.argv.slice(2).join(" ")}`.trim(),
    };
    const base = writeSoakResult(values.out, result);
    process.stdout.write(`${table(rows)}\n\nfinal: ${final.equal ? "equal" : "differs"}; results: ${base}.md\n`);
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
    const clean = final.equal && rows.every((r) => r.converged === r.injected);
    return clean ? 0 : 1;
  }
}

class UsageError extends Error {}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${error instanceof Error ? error.message : String(error)}\n${error instanceof UsageError ? `\n${HELP}\n` : ""}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
