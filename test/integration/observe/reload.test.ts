// Editing the config of a running agent: a namespace added is observed without touching
// the others; a broken edit is reported with its location and changes nothing.
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, configText, scopeMessages, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const first = uniqueName("reload-a");
const second = uniqueName("reload-b");
let agent: AgentProcess | undefined;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [first, second]);
});

describe("live config changes", () => {
  it("starts only the added observers, and keeps the last good config on a broken edit", async () => {
    await createNamespace(core, first);
    await createNamespace(core, second);
    await core.createNamespacedConfigMap({ namespace: second, body: { metadata: { name: "in-second" }, data: { a: "b" } } });
    const file = writeConfig({ actors: [{ resource: "configmap", namespace: first }], logLevel: "debug" });
    agent = AgentProcess.run(file);
    const a = agent;
    await a.waitForMessage("the first namespace's boundary", (m) => m.namespace === first && m.action === "Restarted");

    // Edit: add the second namespace (the file is rewritten in place, as an editor would).
    writeFileSync(
      file,
      configText({
        actors: [
          { resource: "configmap", namespace: first },
          { resource: "configmap", namespace: second },
        ],
        logLevel: "debug",
      }),
    );
    await a.waitForMessage("the added namespace's ConfigMap", (m) => m.namespace === second && m.name === "in-second", 20_000);
    await a.waitForLog("the reconcile", (l) => l.msg === "observers reconciled" && l.started === 1 && l.stopped === 0);
    // The first namespace's observer was not restarted: still one boundary, never stopped.
    expect(scopeMessages(a.messages, "configmap", first).filter((m) => m.action === "Restarted")).toHaveLength(1);
    expect(a.logs.some((l) => l.namespace === first && l.phase === "stopped")).toBe(false);

    // A broken edit (a type error): reported with file and line, nothing changes.
    writeFileSync(file, configText({ actors: [{ resource: "configmap", namespace: first }], logLevel: "debug" }).replace("actors =", "actors = 42 #"));
    const rejected = await a.waitForLog("the rejected reload", (l) => String(l.msg).startsWith("config reload rejected"), 20_000);
    expect(rejected.file).toContain("config.dhall");
    expect(typeof rejected.line).toBe("number");
    await core.createNamespacedConfigMap({ namespace: second, body: { metadata: { name: "after-bad-edit" }, data: { a: "b" } } });
    await a.waitForMessage("a change in the second namespace after the bad edit", (m) => m.namespace === second && m.name === "after-bad-edit");
    expect(a.logs.some((l) => l.phase === "stopped")).toBe(false);

    // SIGHUP with a valid config that drops the second namespace: its observer stops.
    writeFileSync(file, configText({ actors: [{ resource: "configmap", namespace: first }], logLevel: "debug" }));
    a.signal("SIGHUP");
    await a.waitForLog("the second namespace's observer to stop", (l) => l.namespace === second && l.phase === "stopped", 20_000);
    expect(a.logs.some((l) => l.namespace === first && l.phase === "stopped")).toBe(false);
    // No longer observed: an empty boundary, so the graph's sweep removes its objects
    // rather than keeping them as if current.
    const gone = await a.waitForMessage(
      "the second namespace's empty boundary",
      (m) => m.namespace === second && m.action === "Restarted" && (m.present ?? []).length === 0,
      20_000,
    );
    expect(gone.resource).toBe("configmap");
    const seen = scopeMessages(a.messages, "configmap", second)
      .filter((m) => m.action === "Applied")
      .map((m) => m.name);
    expect(seen).toEqual(expect.arrayContaining(["after-bad-edit", "in-second"]));
  });

  it("survives a SIGHUP during start-up and applies it once the watcher is up", async () => {
    const ns = uniqueName("reload-early");
    await createNamespace(core, ns);
    try {
      const file = writeConfig({ actors: [{ resource: "configmap", namespace: ns }], logLevel: "debug" });
      const early = AgentProcess.run(file);
      try {
        // The first log line: the handler runs, the config watcher is not started yet.
        await early.waitForLog("the first log line", () => true, 30_000);
        early.signal("SIGHUP");
        await early.waitForMessage("the boundary", (m) => m.namespace === ns && m.action === "Restarted", 30_000);
        // Usually before the watcher is up (deferred), at worst just after (applied by it).
        const check = await early.waitForLog("the reload check", (l) => ["SIGHUP during start-up", "SIGHUP", "start-up"].includes(String(l.why)), 20_000);
        expect(["SIGHUP during start-up", "SIGHUP"]).toContain(check.why);
        expect(await Promise.race([early.exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("running"), 500))])).toBe("running");
      } finally {
        expect((await early.stop()).code).toBe(0);
      }
    } finally {
      await deleteNamespaces(core, [ns]);
    }
  });
});
