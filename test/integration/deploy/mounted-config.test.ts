// The config as a ConfigMap volume delivers it: the kubelet's atomic writer keeps the
// files in a timestamped directory, points `..data` at it and links each key to
// `..data/<key>`; an update writes a new timestamped directory, renames a `..data_tmp`
// link over `..data` and removes the old directory. One agent process lives through
// every update: namespaces are added and removed by file watching alone and by SIGHUP
// alone, bad configs are reported with their location while the last good one keeps
// running, and later swaps still apply.
import { existsSync, mkdtempSync, readlinkSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, configText, repoRoot, type LogLine } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually, uniqueName } from "../../support/cluster.js";
import { openTestSink } from "../../support/graph.js";
import { ConfigMapVolume } from "./support.js";

const core = adminKubeConfig().makeApiClient(k8s.CoreV1Api);
const nsA = uniqueName("mounted-a");
const nsB = uniqueName("mounted-b");
const nsC = uniqueName("mounted-c");
const CONFIG_KEY = "kube-observer.dhall";
const TYPES_KEY = "types.dhall";

const volume = new ConfigMapVolume();
const state = mkdtempSync(join(tmpdir(), "kube-observer-mounted-state-"));
const graphPath = join(state, "graph.sqlite");
const configFile = join(volume.dir, CONFIG_KEY);
const typesText = readFileSync(join(repoRoot, "config/types.dhall"), "utf8");

/** The config file: actors for `configmap` in each namespace, the schema imported from
 *  the volume itself (`./types.dhall`, another key of the same ConfigMap). */
function configFor(namespaces: string[]): string {
  const text = configText({
    actors: namespaces.map((namespace) => ({ resource: "configmap", namespace })),
    sink: { kind: "sqlite", sqlitePath: graphPath },
    walPath: join(state, "wal.sqlite"),
  });
  const relative = text.replace(/^let T = .*$/m, "let T = ./types.dhall");
  if (relative === text) throw new Error("configText no longer starts with `let T = …`");
  return relative;
}

function swap(namespaces: string[] | string): void {
  volume.update({ [CONFIG_KEY]: typeof namespaces === "string" ? namespaces : configFor(namespaces), [TYPES_KEY]: typesText });
}

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function locate(text: string, needle: string): { line: number; column: number } {
  const offset = text.indexOf(needle);
  if (offset < 0) throw new Error(`"${needle}" is not in the config`);
  const before = text.slice(0, offset);
  return { line: before.split("\n").length, column: offset - (before.lastIndexOf("\n") + 1) + 1 };
}

const cmKey = (namespace: string, name: string): string => `local/${namespace}/ConfigMap/${name}`;

async function createConfigMap(namespace: string, name: string): Promise<void> {
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { k: "v" } } });
}

async function graphNodes(): Promise<Map<string, Record<string, unknown>>> {
  const sink = await openTestSink("sqlite", graphPath);
  try {
    const nodes = new Map<string, Record<string, unknown>>();
    for await (const line of sink.export()) if (line.type === "node") nodes.set(line.key, line.properties);
    return nodes;
  } finally {
    await sink.close();
  }
}

/** Polls the SQLite graph until check returns a value. */
function waitForGraph<T>(what: string, check: (nodes: Map<string, Record<string, unknown>>) => T | undefined, timeoutMs = 45_000): Promise<T> {
  return eventually(what, async () => check(await graphNodes()), timeoutMs, 300);
}

let agent: AgentProcess | undefined;
let pid: number | undefined;
let exited = false;

/** The one agent process, still running. */
function live(): AgentProcess {
  const a = agent!;
  expect(exited, `the agent exited\n${a.logTail()}`).toBe(false);
  expect(a.pid).toBe(pid);
  process.kill(pid!, 0); // throws if the process is gone
  return a;
}

/** The first log line from index `mark` on that matches. */
function logSince(a: AgentProcess, mark: number, what: string, predicate: (l: LogLine) => boolean, timeoutMs = 45_000): Promise<LogLine> {
  return a.waitFor(what, () => a.logs.slice(mark).find(predicate), timeoutMs);
}

const applying = (l: LogLine) => l.msg === "config changed: applying";
const rejected = (l: LogLine) => String(l.msg).startsWith("config reload rejected; keeping the last good config");
const reconciled = (l: LogLine) => l.msg === "observers reconciled";
const phase = (namespace: string, p: string) => (l: LogLine) => l.namespace === namespace && l.resource === "configmap" && l.phase === p;
/** `why` when the directory watcher (not SIGHUP) noticed the swap: one of the kubelet's names. */
const WATCHED = /^\.\.(data|data_tmp|\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+) changed$/;

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [nsA, nsB, nsC]);
  rmSync(volume.dir, { recursive: true, force: true });
  rmSync(state, { recursive: true, force: true });
});

describe("a config mounted from a ConfigMap volume, updated the kubelet's way", () => {
  let aBefore: Record<string, unknown> | undefined;

  it("starts from the mounted file, its schema imported from the same volume", async () => {
    for (const ns of [nsA, nsB, nsC]) await createNamespace(core, ns);
    await createConfigMap(nsA, "a-before");
    await createConfigMap(nsB, "b-before");
    await createConfigMap(nsC, "c-before");
    swap([nsA]);
    expect(readlinkSync(join(volume.dir, "..data"))).toBe(volume.current);
    expect(readlinkSync(configFile)).toBe(join("..data", CONFIG_KEY));
    expect(readFileSync(configFile, "utf8")).toContain("let T = ./types.dhall");

    agent = new AgentProcess(["run", "--config", configFile, "--log-level", "debug"]);
    pid = agent.pid;
    expect(pid).toBeTypeOf("number");
    void agent.exited.then(() => (exited = true));
    const a = live();
    await a.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 60_000);
    aBefore = await waitForGraph("A's ConfigMap in the graph", (n) => n.get(cmKey(nsA, "a-before")));
    expect(aBefore.observed).toBe(true);
    expect((await graphNodes()).has(cmKey(nsB, "b-before"))).toBe(false);
  });

  it("adds a namespace on a `..data` swap, by file watching alone", async () => {
    const a = live();
    const mark = a.logs.length;
    const old = volume.current!;
    swap([nsA, nsB]);
    // The kubelet's layout after an update: one timestamped directory, the old one gone.
    expect(volume.timestampedDirs()).toEqual([volume.current]);
    expect(existsSync(join(volume.dir, old))).toBe(false);

    const applied = await logSince(a, mark, "the reload", applying);
    expect(applied.why).toMatch(WATCHED);
    const r = await logSince(a, mark, "the reconcile", reconciled);
    expect([r.started, r.stopped]).toEqual([1, 0]);
    await logSince(a, mark, "B's observer watching", phase(nsB, "watching"));
    await waitForGraph("B's existing ConfigMap", (n) => n.get(cmKey(nsB, "b-before")));
    await createConfigMap(nsB, "b-after");
    await waitForGraph("a ConfigMap created in B afterwards", (n) => n.get(cmKey(nsB, "b-after")));
    // A's observer was left alone.
    expect(a.logs.slice(mark).some(phase(nsA, "stopped"))).toBe(false);
    expect(a.logs.slice(mark).some(phase(nsA, "listing"))).toBe(false);
  });

  it("stops a removed namespace's observer on the next swap; its objects leave the graph", async () => {
    const a = live();
    const mark = a.logs.length;
    swap([nsB]);
    const applied = await logSince(a, mark, "the reload", applying);
    expect(applied.why).toMatch(WATCHED);
    await logSince(a, mark, "A's observer to stop", phase(nsA, "stopped"));
    const r = await logSince(a, mark, "the reconcile", reconciled);
    expect([r.started, r.stopped]).toEqual([0, 1]);

    // Changes in A are no longer observed: a ConfigMap created and one deleted there,
    // then one created in B; once B's is in the graph, A's changes would have been too.
    await createConfigMap(nsA, "a-after");
    await core.deleteNamespacedConfigMap({ namespace: nsA, name: "a-before" });
    await createConfigMap(nsB, "b-sentinel-1");
    const nodes = await waitForGraph("B's sentinel", (n) => (n.has(cmKey(nsB, "b-sentinel-1")) ? n : undefined));
    expect(nodes.has(cmKey(nsA, "a-after"))).toBe(false);
    // A namespace no longer observed leaves the graph (its observer reports its objects
    // deleted), rather than staying there as last seen and looking current.
    expect(aBefore.observed).toBe(true);
    expect([...nodes.keys()].filter((k) => k.startsWith(`local/${nsA}/`))).toEqual([]);
    expect(a.logs.slice(mark).some(phase(nsB, "stopped"))).toBe(false);
  });

  it("applies an in-place change the directory watcher does not see, on SIGHUP alone", async () => {
    const a = live();
    const mark = a.logs.length;
    // Written inside the timestamped directory: no entry of the watched volume directory
    // changes, so nothing but SIGHUP applies it.
    volume.editInPlace(CONFIG_KEY, configFor([nsB, nsC]));
    a.signal("SIGHUP");
    const applied = await logSince(a, mark, "the reload", applying);
    expect(applied.why).toBe("SIGHUP");
    const r = await logSince(a, mark, "the reconcile", reconciled);
    expect([r.started, r.stopped]).toEqual([1, 0]);
    await logSince(a, mark, "C's observer watching", phase(nsC, "watching"));
    await waitForGraph("C's existing ConfigMap", (n) => n.get(cmKey(nsC, "c-before")));
    await createConfigMap(nsC, "c-after");
    await waitForGraph("a ConfigMap created in C afterwards", (n) => n.get(cmKey(nsC, "c-after")));
    expect(a.logs.slice(mark).filter(applying)).toHaveLength(1);
  });

  it("reports a Dhall type error swapped in with its file, line and column, and keeps the last good config", async () => {
    const a = live();
    const mark = a.logs.length;
    // An operator re-adds A with a typo in a field name.
    const bad = configFor([nsB, nsC, nsA]).replace(`namespace = "${nsA}"`, `namespaces = "${nsA}"`);
    const actorLine = bad.split("\n").find((l) => l.includes(`namespaces = "${nsA}"`))!;
    swap(bad);
    const error = await logSince(a, mark, "the rejected reload", rejected);
    // Dhall points at the record completion that fails to type-check.
    const at = locate(bad, actorLine.slice(actorLine.indexOf("T.Actor::{")));
    expect({ file: error.file, line: error.line, column: error.column }).toEqual({ file: configFile, ...at });
    expect(error.level).toBe(50);
    expect(String(error.reason)).toContain("doesn't match annotation");
    expect(String(error.reason)).toContain("namespaces");
    expect(String(error.msg)).toContain(`${configFile}:${at.line}:${at.column}:`);

    // The last good config ({B, C}) keeps running: changes in B and C still arrive.
    await createConfigMap(nsB, "b-after-type-error");
    await createConfigMap(nsC, "c-after-type-error");
    await waitForGraph("changes in B and C after the bad swap", (n) =>
      n.has(cmKey(nsB, "b-after-type-error")) && n.has(cmKey(nsC, "c-after-type-error")) ? true : undefined,
    );
    const since = a.logs.slice(mark);
    expect(since.some(applying)).toBe(false);
    expect(since.some(reconciled)).toBe(false);
    expect(since.some((l) => l.phase === "stopped")).toBe(false);
  });

  it("reports an actor with a namespace pattern with its location, and keeps the last good config", async () => {
    const a = live();
    const mark = a.logs.length;
    // Namespaces are a name or "*"; a glob is not a pattern the config knows.
    const bad = configFor([nsB, nsC, "mounted-*"]);
    swap(bad);
    const error = await logSince(a, mark, "the rejected reload", rejected);
    const at = locate(bad, 'namespace = "mounted-*"');
    expect({ file: error.file, line: error.line, column: error.column }).toEqual({ file: configFile, ...at });
    expect(error.reason).toBe('actors[2].namespace: "mounted-*" is neither "*" nor a valid namespace name (lowercase letters, digits and "-", at most 63)');

    await createConfigMap(nsB, "b-after-pattern");
    await createConfigMap(nsC, "c-after-pattern");
    await waitForGraph("changes in B and C after the second bad swap", (n) =>
      n.has(cmKey(nsB, "b-after-pattern")) && n.has(cmKey(nsC, "c-after-pattern")) ? true : undefined,
    );
    const since = a.logs.slice(mark);
    expect(since.some(applying)).toBe(false);
    expect(since.some(reconciled)).toBe(false);
    expect(since.some((l) => l.phase === "stopped")).toBe(false);
  });

  it("applies the next good swap: A observed again (relisted to the truth), C stopped", async () => {
    const a = live();
    const mark = a.logs.length;
    swap([nsA, nsB]);
    expect(volume.timestampedDirs()).toEqual([volume.current]);
    const applied = await logSince(a, mark, "the reload", applying);
    expect(applied.why).toMatch(WATCHED);
    const r = await logSince(a, mark, "the reconcile", reconciled);
    expect([r.started, r.stopped]).toEqual([1, 1]);
    await logSince(a, mark, "C's observer to stop", phase(nsC, "stopped"));
    await logSince(a, mark, "A's observer watching again", phase(nsA, "watching"));
    // A's relist brings what changed while it was not observed: a-after in, a-before
    // (deleted meanwhile) swept out.
    await waitForGraph("A relisted", (n) => (n.has(cmKey(nsA, "a-after")) && !n.has(cmKey(nsA, "a-before")) ? true : undefined));
    await createConfigMap(nsA, "a-final");
    await createConfigMap(nsB, "b-final");
    await waitForGraph("new ConfigMaps in A and B", (n) => (n.has(cmKey(nsA, "a-final")) && n.has(cmKey(nsB, "b-final")) ? true : undefined));
  });

  it("was one process throughout: never restarted, the watcher never failed, B never stopped", async () => {
    const a = live();
    expect(a.logs.filter((l) => l.msg === "observer pool started")).toHaveLength(1);
    expect(a.logs.filter((l) => l.msg === "initial sync complete")).toHaveLength(1);
    expect(a.logs.filter(applying).map((l) => (l.why === "SIGHUP" ? "SIGHUP" : "watch"))).toEqual(["watch", "watch", "SIGHUP", "watch"]);
    expect(a.logs.filter(rejected)).toHaveLength(2);
    expect(a.logs.some((l) => String(l.msg).includes("config file watching stopped") || String(l.msg).includes("cannot watch the config directory"))).toBe(
      false,
    );
    expect(a.logs.some(phase(nsB, "stopped"))).toBe(false);
    const exit = await a.stop();
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
