// Live churn: a steady, open-loop mix of creates, updates and deletes at a target rate
// against the tier's objects, and the end-to-end latency of each change — from the API
// write's response to the agent's sink commit of that change (the host's
// dispatcher.onCommitted signal, matched by object and resourceVersion).
import type { KubeWriter } from "./kube.js";
import { nsPath } from "./kube.js";
import { configMapManifest, podManifest, podRefs } from "./load.js";
import { median, round, slope, summarize, type LatencySummary, type ProcSampler, cpuPercent, sleep } from "./measure.js";
import { BENCH_REGISTRY, configMapName, LABEL_CHURN, LABEL_STAMP, podName, secretName, type NamespacePlan, type Tier } from "./tiers.js";

/** The operations and their weights (per 100 draws). A volume change is a pod replaced
 *  by one mounting other volumes (a pod's volumes are immutable): two writes. */
export const OP_WEIGHTS = {
  "create-pod": 15,
  "delete-pod": 15,
  "create-configmap": 10,
  "delete-configmap": 10,
  "update-labels": 20,
  "update-image": 20,
  "replace-pod-volumes": 10,
} as const;
export type OpName = keyof typeof OP_WEIGHTS;

interface Change {
  key: string;
  kind: "apply" | "delete";
  rv: number;
  sentAt: number;
  respAt: number;
  committedAt?: number;
}

/** Matches commit signals to changes. A change is committed when its object's commit
 *  carries its resourceVersion or a later one (the WAL coalesces pending messages of one
 *  object into the latest), or, for a delete, when the object's Deleted commit arrives. */
export class CommitTracker {
  private readonly applied = new Map<string, { rv: number; at: number }>();
  private readonly deleted = new Map<string, number>();
  private readonly pending = new Map<string, Change[]>();
  pendingCount = 0;
  lastCommitAt = 0;

  onCommits(at: number, items: readonly string[]): void {
    for (const item of items) {
      const [resource, ns, name, action, rvText] = item.split("|");
      const key = `${resource}|${ns}|${name}`;
      if (action === "D") this.deleted.set(key, at);
      else {
        const rv = Number(rvText);
        const prev = this.applied.get(key);
        if (!prev || rv >= prev.rv) this.applied.set(key, { rv, at });
      }
      const waiting = this.pending.get(key);
      if (!waiting) continue;
      const rest = waiting.filter((c) => !this.resolve(c));
      this.pendingCount -= waiting.length - rest.length;
      if (rest.length) this.pending.set(key, rest);
      else this.pending.delete(key);
    }
  }

  register(change: Change): void {
    if (this.resolve(change)) return;
    const list = this.pending.get(change.key) ?? [];
    list.push(change);
    this.pending.set(change.key, list);
    this.pendingCount += 1;
  }

  private resolve(change: Change): boolean {
    let at: number | undefined;
    const deletedAt = this.deleted.get(change.key);
    // A Deleted commit after the write was sent settles an apply too (coalesced away).
    if (deletedAt !== undefined && deletedAt >= change.sentAt) at = deletedAt;
    else if (change.kind === "apply") {
      const a = this.applied.get(change.key);
      if (a && a.rv >= change.rv) at = a.at;
    }
    if (at === undefined) return false;
    change.committedAt = at;
    this.lastCommitAt = Math.max(this.lastCommitAt, at);
    return true;
  }
}

export interface ChurnStepResult {
  targetRate: number;
  seconds: number;
  writesIssued: number;
  writesOk: number;
  writesFailed: number;
  /** Successful writes per second over the window. */
  achievedRate: number;
  byOp: Record<string, number>;
  /** ms from the write's response to the sink commit. */
  latencyMs: LatencySummary;
  /** ms from sending the write to its response. */
  apiLatencyMs: LatencySummary;
  /** ms from the write's response to the event on the bench's own raw WATCH (the
   *  apiserver's delivery: the floor under latencyMs). */
  watchLatencyMs: LatencySummary | null;
  firstQuarterP50Ms: number;
  lastQuarterP50Ms: number;
  /** ms of latency gained per second of the window (least squares). */
  lagSlopeMsPerS: number;
  /** Changes still waiting for their commit when the window closed. */
  backlogAtEnd: number;
  /** ms from the window's end until the last change was committed. */
  drainMs: number;
  /** Changes never seen committed (within the drain timeout). */
  unconfirmed: number;
  lagGrowing: boolean;
  sustained: boolean;
  /** Why a rate was not sustained: "apiserver" (writes could not be made at the target
   *  rate: the load generator is closed-loop past maxInFlight), "agent" (its lag grew). */
  limitedBy: Array<"apiserver" | "agent">;
  /** Agent CPU per change: ms of CPU (all threads) per write made. */
  agentCpuMsPerChange: number;
  agentCpuPercent: number;
  loadGeneratorCpuPercent: number;
  agentRssBytes: number;
  errors: string[];
}

interface Created {
  ns: string;
  name: string;
  plan: NamespacePlan;
  j: number;
}

const ORIGINAL_KINDS = [
  { resource: "pod", plural: "pods", name: podName, count: (p: NamespacePlan) => p.pods },
  { resource: "configmap", plural: "configmaps", name: configMapName, count: (p: NamespacePlan) => p.configmaps },
  { resource: "secret", plural: "secrets", name: secretName, count: (p: NamespacePlan) => p.secrets },
];

export class ChurnGenerator {
  private readonly pods: Created[] = [];
  private readonly configMaps: Created[] = [];
  private counter = 0;
  private readonly opTable: OpName[] = [];
  private readonly runId = Math.random().toString(36).slice(2, 7);

  constructor(
    private readonly kube: KubeWriter,
    private readonly tier: Tier,
    private readonly plans: readonly NamespacePlan[],
    private readonly replicaSetUids: ReadonlyMap<string, string>,
    private readonly maxInFlight = 128,
  ) {
    for (const [op, weight] of Object.entries(OP_WEIGHTS) as Array<[OpName, number]>) for (let i = 0; i < weight; i++) this.opTable.push(op);
  }

  /** Runs one rate for `seconds`, then waits (up to drainTimeoutMs) for every change to commit. */
  async step(options: {
    rate: number;
    seconds: number;
    tracker: CommitTracker;
    probe?: CommitTracker;
    agent: ProcSampler;
    drainTimeoutMs: number;
  }): Promise<ChurnStepResult> {
    const { rate, seconds, tracker, probe } = options;
    const probed: Change[] = [];
    const changes: Change[] = [];
    const byOp: Record<string, number> = {};
    const errors = new Map<string, number>();
    let issued = 0;
    let ok = 0;
    let failed = 0;
    let inFlight = 0;

    const write = async (key: string, kind: Change["kind"], method: string, path: string, body?: unknown, contentType?: string): Promise<boolean> => {
      issued += 1;
      inFlight += 1;
      const sentAt = Date.now();
      try {
        const res = await this.kube.send(method, path, body, contentType);
        const respAt = Date.now();
        if (res.status < 200 || res.status >= 300) {
          failed += 1;
          const reason = `${method} ${res.status} ${(res.body as { reason?: string }).reason ?? ""}`.trim();
          errors.set(reason, (errors.get(reason) ?? 0) + 1);
          return false;
        }
        ok += 1;
        const change: Change = { key, kind, rv: Number(res.body.metadata?.resourceVersion ?? 0), sentAt, respAt };
        changes.push(change);
        tracker.register(change);
        if (probe) {
          const copy = { ...change };
          probed.push(copy);
          probe.register(copy);
        }
        return true;
      } catch (error) {
        failed += 1;
        const reason = `${method} ${(error as Error).message.slice(0, 80)}`;
        errors.set(reason, (errors.get(reason) ?? 0) + 1);
        return false;
      } finally {
        inFlight -= 1;
      }
    };

    const agentStart = options.agent.take();
    const cpuStart = process.cpuUsage();
    const started = Date.now();
    const endAt = started + seconds * 1000;
    for (;;) {
      const now = Date.now();
      if (now >= endAt) break;
      let due = Math.floor(((now - started) / 1000) * rate) - issued;
      while (due > 0 && inFlight < this.maxInFlight) {
        const op = this.opTable[Math.floor(Math.random() * this.opTable.length)]!;
        byOp[op] = (byOp[op] ?? 0) + 1;
        due -= this.issue(op, write);
      }
      await sleep(2);
    }
    const windowEnd = Date.now();
    const cpuWindow = process.cpuUsage(cpuStart);
    const agentEnd = options.agent.take();
    while (inFlight > 0) await sleep(5);
    let waiting = changes.filter((c) => c.committedAt === undefined);
    const backlogAtEnd = waiting.length;
    const deadline = Date.now() + options.drainTimeoutMs;
    while (waiting.length > 0 && Date.now() < deadline) {
      await sleep(20);
      waiting = waiting.filter((c) => c.committedAt === undefined);
    }

    const committed = changes.filter((c) => c.committedAt !== undefined);
    const latencies = committed.map((c) => Math.max(0, c.committedAt! - c.respAt));
    const quarter = (seconds * 1000) / 4;
    const inQuarter = (q: number): number[] =>
      committed.filter((c) => c.respAt - started >= q * quarter && c.respAt - started < (q + 1) * quarter).map((c) => Math.max(0, c.committedAt! - c.respAt));
    const firstQ = median(inQuarter(0));
    const lastQ = median(inQuarter(3));
    const unconfirmed = changes.length - committed.length;
    const lastCommit = committed.reduce((m, c) => Math.max(m, c.committedAt!), windowEnd);
    const achievedRate = ok / ((windowEnd - started) / 1000);
    const lagGrowing = unconfirmed > 0 || (Number.isFinite(lastQ) && Number.isFinite(firstQ) && lastQ > 2 * firstQ + 100);
    return {
      targetRate: rate,
      seconds,
      writesIssued: issued,
      writesOk: ok,
      writesFailed: failed,
      achievedRate: round(achievedRate),
      byOp,
      latencyMs: summarize(latencies),
      apiLatencyMs: summarize(changes.map((c) => c.respAt - c.sentAt)),
      watchLatencyMs: probe ? summarize(probed.filter((c) => c.committedAt !== undefined).map((c) => Math.max(0, c.committedAt! - c.respAt))) : null,
      firstQuarterP50Ms: round(firstQ),
      lastQuarterP50Ms: round(lastQ),
      lagSlopeMsPerS: round(
        slope(
          committed.map((c) => (c.respAt - started) / 1000),
          latencies,
        ),
        2,
      ),
      backlogAtEnd,
      drainMs: unconfirmed > 0 ? -1 : Math.max(0, lastCommit - windowEnd),
      unconfirmed,
      lagGrowing,
      sustained: achievedRate >= 0.9 * rate && !lagGrowing,
      limitedBy: [...(achievedRate < 0.9 * rate ? (["apiserver"] as const) : []), ...(lagGrowing ? (["agent"] as const) : [])],
      agentCpuMsPerChange: agentStart && agentEnd && ok > 0 ? round(((agentEnd.cpuSeconds - agentStart.cpuSeconds) * 1000) / ok, 2) : Number.NaN,
      agentCpuPercent: agentStart && agentEnd ? round(cpuPercent(agentStart, agentEnd)) : Number.NaN,
      loadGeneratorCpuPercent: round(((cpuWindow.user + cpuWindow.system) / 1e3 / (windowEnd - started)) * 100),
      agentRssBytes: agentEnd?.rssBytes ?? 0,
      errors: [...errors].map(([reason, n]) => `${n}x ${reason}`),
    };
  }

  /** Starts one operation (not awaited); returns how many writes it issues. */
  private issue(
    op: OpName,
    write: (key: string, kind: Change["kind"], method: string, path: string, body?: unknown, contentType?: string) => Promise<boolean>,
  ): number {
    const plan = this.plans[Math.floor(Math.random() * this.plans.length)]!;
    const rand = (n: number): number => Math.floor(Math.random() * n);
    switch (op) {
      case "create-pod": {
        this.createPod(plan, rand(plan.pods), write);
        return 1;
      }
      case "delete-pod": {
        const victim = this.take(this.pods);
        if (!victim) return this.issue("create-pod", write);
        void write(`pod|${victim.ns}|${victim.name}`, "delete", "DELETE", `${nsPath(victim.ns, "pods")}/${victim.name}?gracePeriodSeconds=0`);
        return 1;
      }
      case "replace-pod-volumes": {
        const victim = this.take(this.pods);
        if (!victim) return this.issue("create-pod", write);
        void write(`pod|${victim.ns}|${victim.name}`, "delete", "DELETE", `${nsPath(victim.ns, "pods")}/${victim.name}?gracePeriodSeconds=0`);
        // Same namespace, the next ConfigMap, Secret and PVC: other volumes.
        this.createPod(victim.plan, victim.j + 1, write);
        return 2;
      }
      case "create-configmap": {
        const name = this.nextName();
        const j = rand(plan.configmaps);
        void write(
          `configmap|${plan.name}|${name}`,
          "apply",
          "POST",
          nsPath(plan.name, "configmaps"),
          configMapManifest(this.tier, name, `app-churn-${j % 10}`, { [LABEL_CHURN]: "true" }),
        ).then((okay) => {
          if (okay) this.configMaps.push({ ns: plan.name, name, plan, j });
        });
        return 1;
      }
      case "delete-configmap": {
        const victim = this.take(this.configMaps);
        if (!victim) return this.issue("create-configmap", write);
        void write(`configmap|${victim.ns}|${victim.name}`, "delete", "DELETE", `${nsPath(victim.ns, "configmaps")}/${victim.name}`);
        return 1;
      }
      case "update-labels": {
        const kind = ORIGINAL_KINDS[rand(ORIGINAL_KINDS.length)]!;
        const name = kind.name(rand(kind.count(plan)));
        const stamp = `${this.runId}-${++this.counter}`;
        void write(
          `${kind.resource}|${plan.name}|${name}`,
          "apply",
          "PATCH",
          `${nsPath(plan.name, kind.plural)}/${name}`,
          { metadata: { labels: { [LABEL_STAMP]: stamp } } },
          "application/merge-patch+json",
        );
        return 1;
      }
      case "update-image": {
        const name = podName(rand(plan.pods));
        // A new tag every time: a patch that changes nothing has no event to wait for.
        const image = `${BENCH_REGISTRY}/app-${rand(10)}:1.${this.runId}.${++this.counter}`;
        void write(
          `pod|${plan.name}|${name}`,
          "apply",
          "PATCH",
          `${nsPath(plan.name, "pods")}/${name}`,
          { spec: { containers: [{ name: "app", image }] } },
          "application/strategic-merge-patch+json",
        );
        return 1;
      }
    }
  }

  private createPod(
    plan: NamespacePlan,
    j: number,
    write: (key: string, kind: Change["kind"], method: string, path: string, body?: unknown) => Promise<boolean>,
  ): void {
    const name = this.nextName();
    const body = podManifest(this.tier, name, podRefs(plan, j, this.replicaSetUids), { [LABEL_CHURN]: "true" });
    void write(`pod|${plan.name}|${name}`, "apply", "POST", nsPath(plan.name, "pods"), body).then((okay) => {
      if (okay) this.pods.push({ ns: plan.name, name, plan, j });
    });
  }

  private nextName(): string {
    return `churn-${this.runId}-${++this.counter}`;
  }

  private take(pool: Created[]): Created | undefined {
    if (pool.length === 0) return undefined;
    const i = Math.floor(Math.random() * pool.length);
    const [item] = pool.splice(i, 1);
    return item;
  }
}
