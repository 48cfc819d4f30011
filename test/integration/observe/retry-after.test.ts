// A Retry-After the agent cannot honour: a gateway in front of the real apiserver answers
// every LIST of one scope with 429 and `Retry-After: 99999999999` (3,170 years). Node's
// timers overflow past 2^31-1 ms and fire after 1 ms, so an uncapped delay is a hot loop
// against the apiserver. The observer must wait observer.backoff.maxRetryAfterMs between
// attempts (counted at the proxy over a few seconds), report that delay, keep the other
// observers running, and list as soon as the gateway lets it through.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { startCorruptingProxy, type CorruptingProxy } from "../../support/corrupting-proxy.js";
import { workspace } from "../../support/graph.js";

const core = adminKubeConfig().makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];
const proxies: CorruptingProxy[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  await deleteNamespaces(core, namespaces);
});

const CAP_MS = 2_000;

describe("a 429 with a Retry-After of 10^11 seconds", () => {
  it("is honoured up to observer.backoff.maxRetryAfterMs: retried every cap, never in a hot loop", async () => {
    const ns = uniqueName("retry-after");
    namespaces.push(ns);
    await createNamespace(core, ns);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "held-back" }, data: { a: "b" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "flowing" }, stringData: { k: "v" } } });

    let throttling = true;
    const configmapLists = `/api/v1/namespaces/${ns}/configmaps?`;
    const isConfigmapList = (path: string): boolean => path.startsWith(configmapLists) && !/[?&]watch=/.test(path);
    const proxy = await startCorruptingProxy({
      answer(method, path) {
        if (!throttling || method !== "GET" || !isConfigmapList(path)) return undefined;
        return {
          status: 429,
          headers: { "retry-after": "99999999999" },
          body: JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "TooManyRequests", code: 429, message: "slow down" }),
        };
      },
    });
    proxies.push(proxy);
    const ws = workspace(
      "sqlite",
      ["configmap", "secret"].map((resource) => ({ resource, namespace: ns })),
      {
        kubeconfig: proxy.kubeconfig(mkdtempSync(join(tmpdir(), "kube-observer-proxy-"))),
        backoff: { initialMs: 100, maxMs: 400, jitter: 0, maxRetryAfterMs: CAP_MS },
        logLevel: "debug",
      },
    );
    const agent = ws.run(["--output", "jsonl"]);
    agents.push(agent);

    // The other observer is not held back.
    await agent.waitForMessage("the Secret boundary", (m) => m.resource === "secret" && m.action === "Restarted");
    const throttled = await agent.waitForLog("the throttled report", (l) => l.resource === "configmap" && l.phase === "backing-off");
    expect(throttled.level).toBe(40);
    // The delay reported is the cap, not 10^14 ms and not the 100..400 ms backoff.
    expect(throttled.retryInMs).toBe(CAP_MS);

    // Attempts over a window of three caps: one per cap (3, give or take one at either
    // end), where an overflowed timer would make hundreds.
    const lists = (): number => proxy.requests.filter((r) => isConfigmapList(r.slice(4))).length;
    const before = lists();
    await new Promise((r) => setTimeout(r, 3 * CAP_MS));
    const during = lists() - before;
    expect(during).toBeGreaterThanOrEqual(2);
    expect(during).toBeLessThanOrEqual(4);
    // Every retry reported the capped delay.
    const retries = agent.logs.filter((l) => l.resource === "configmap" && (l.phase === "backing-off" || l.msg === "observer still backing-off"));
    expect(retries.length).toBeGreaterThanOrEqual(3);
    for (const retry of retries) expect(retry.retryInMs).toBe(CAP_MS);
    expect(agent.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(agent.messages.filter((m) => m.resource === "configmap")).toEqual([]);

    // The gateway lets it through: listed at the next attempt, within one cap.
    throttling = false;
    const boundary = await agent.waitForMessage("the ConfigMap boundary", (m) => m.resource === "configmap" && m.action === "Restarted", 3 * CAP_MS + 10_000);
    expect(boundary.present!.map((p) => p.name)).toContain("held-back");
    expect((await agent.stop()).code).toBe(0);
  });
});
