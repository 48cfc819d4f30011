// A WAL that cannot take writes, for real: the running agent's file size limit
// (RLIMIT_FSIZE, set from outside with prlimit) is lowered below its WAL's size, so every
// SQLite write past it fails (EFBIG, and a SIGXFSZ the agent must survive). The failure is
// logged, counted and on /readyz; the observers pause instead of relisting; once the limit
// is raised again they resume by themselves, and the graph equals the cluster.
import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";
import { workspace } from "../../support/graph.js";
import { sampleSum } from "../../support/metrics.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("wal-fsize");
let agent: AgentProcess | undefined;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [ns]);
});

/** Sets the soft RLIMIT_FSIZE of a running process (the hard limit stays unlimited). */
function fileSizeLimit(pid: number, soft: number | "unlimited"): void {
  execFileSync("prlimit", ["--pid", String(pid), `--fsize=${soft}:unlimited`]);
}

describe("a WAL that cannot take writes (the agent's file size limit lowered with prlimit)", () => {
  it("is logged, counted and on /readyz; observers pause and resume by themselves; nothing is lost", async () => {
    await createNamespace(core, ns);
    for (const name of ["keep", "change", "gone"]) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: "1" } } });
    const ws = workspace(
      "sqlite",
      ["configmap", "secret"].map((resource) => ({ resource, namespace: ns })),
      { backoff: { initialMs: 200, maxMs: 2000 } },
    );
    agent = ws.run(["--listen", "127.0.0.1:0"]);
    const a = agent;
    const base = `http://${String((await a.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000)).listen)}`;
    const readyz = async (): Promise<{ status: number; body: string }> => {
      const response = await fetch(`${base}/readyz`);
      return { status: response.status, body: await response.text() };
    };
    const metrics = async (): Promise<string> => (await fetch(`${base}/metrics`)).text();
    await eventually("ready", async () => ((await readyz()).status === 200 ? true : undefined), 60_000);

    // Every write past 4 KiB fails: the WAL's files are already larger.
    fileSizeLimit(a.pid!, 4096);
    let raised = false;
    try {
      for (let i = 0; i < 10; i += 1)
        await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `during-${i}` }, data: { i: String(i) } } });
      for (let i = 0; i < 3; i += 1) await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `s-${i}` }, stringData: { k: "v" } } });
      await core.patchNamespacedConfigMap({ namespace: ns, name: "change", body: [{ op: "replace", path: "/data/v", value: "2" }] });
      await core.deleteNamespacedConfigMap({ namespace: ns, name: "gone" });

      const failed = await a.waitForLog("the append failure", (l) => l.msg.startsWith("WAL append failed: the batch is held"), 30_000);
      expect(String(failed.code)).toMatch(/^SQLITE_(IOERR|FULL)/);
      expect(failed.wal).toBe(ws.walPath);
      // The signal was handled (the process is alive) and named.
      await a.waitForLog("the SIGXFSZ report", (l) => l.signal === "SIGXFSZ", 30_000);

      const notReady = await eventually("/readyz to report the failing WAL", async () => {
        const r = await readyz();
        return r.status === 503 && r.body.includes("WAL appends fail since") ? r : undefined;
      });
      // Paused, not relisting: a few batches held (at most two in flight per observer).
      const held = Number(/(\d+) batch\(es\) held, observers paused/.exec(notReady.body)?.[1]);
      expect(held).toBeGreaterThanOrEqual(1);
      expect(held).toBeLessThanOrEqual(4);
      // Retries happen (counted each time) while the limit stays.
      const text = await eventually("several counted append failures", async () => {
        const t = await metrics();
        return sampleSum(t, "kube_observer_errors_total", { where: "wal", kind: "append" }) >= 3 ? t : undefined;
      });
      expect(sampleSum(text, "kube_observer_wal_append_failing")).toBe(1);
      expect(sampleSum(text, "kube_observer_relists_total")).toBe(0);
      expect(a.logs.filter((l) => l.msg === "WAL append failed: the batch is not acknowledged and its observer relists")).toEqual([]);

      fileSizeLimit(a.pid!, "unlimited");
      raised = true;
    } finally {
      if (!raised) fileSizeLimit(a.pid!, "unlimited");
    }

    const resumed = await a.waitForLog("appends to succeed again", (l) => l.msg === "WAL appends succeed again: observers resume", 30_000);
    expect(Number(resumed.failedForMs)).toBeGreaterThan(0);
    await eventually("ready again", async () => ((await readyz()).status === 200 ? true : undefined), 60_000);
    expect(sampleSum(await metrics(), "kube_observer_wal_append_failing")).toBe(0);

    // Nothing lost: every change made while the WAL refused writes is in the graph.
    const verify = new AgentProcess(["verify", "--config", ws.config, "--settle-seconds", "30"], ws.env);
    const code = (await verify.exited).code;
    expect(code, `${verify.stdout}\n${verify.stderr}`).toBe(0);
    expect(verify.stdout).toContain("graph equals the cluster");
    // Still no relist: the held batches themselves were appended.
    expect(sampleSum(await metrics(), "kube_observer_relists_total")).toBe(0);

    // Stopped while appends fail: the held batches are refused (logged, exit 1), the
    // process still ends within the grace period, and the next start lists them again.
    fileSizeLimit(a.pid!, 4096);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "at-shutdown" }, data: { v: "1" } } });
    await a.waitForLog("the append failure", (l) => l.msg.startsWith("WAL append failed: the batch is held") && Number(l.time) > Number(resumed.time), 30_000);
    const exit = await a.stop();
    expect(exit.code, a.logTail()).toBe(1);
    expect(a.logs.find((l) => l.msg.startsWith("stopping while the WAL does not take writes"))).toMatchObject({ batches: expect.any(Number) });
    agent = ws.run();
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    const again = new AgentProcess(["verify", "--config", ws.config, "--settle-seconds", "30"], ws.env);
    expect((await again.exited).code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect((await agent.stop()).code).toBe(0);
  }, 180_000);
});
