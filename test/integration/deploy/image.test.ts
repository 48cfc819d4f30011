// The container image (scripts/image/build.sh: from scratch, no registry), built and run
// for real with podman, the way the kubelet would run deploy/'s pod: in-cluster (the
// ServiceAccount's token, CA and namespace mounted at the in-cluster path, the apiserver
// as KUBERNETES_SERVICE_HOST/PORT), the config from a directory laid out like a mounted
// ConfigMap, a read-only root filesystem, UID 10001, no capabilities. The graph goes to
// the SQLite sink on a mounted data volume, where this test reads it.
//
// podman runs the container with runc: Debian 12's crun refuses this machine's hybrid
// cgroups (scripts/image/tools.sh says why), and --ulimit lowers the limits podman would
// otherwise raise (raising needs CAP_SYS_RESOURCE, which this VM's root lacks).
import { execFile } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import type { ExportLine } from "../../../core/graph/model.js";
import { repoRoot } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, devEnv, eventually } from "../../support/cluster.js";
import { openTestSink } from "../../support/graph.js";
import { ConfigMapVolume, deployOverlay, kubectlCleanup, kubectlOk } from "./support.js";

const suffix = Math.random().toString(16).slice(2, 10);
const nsA = `ko-image-${suffix}`; // deploy/ is applied here (overlay)
const nsB = `ko-image-b-${suffix}`; // added to the config while the container runs
const sa = `kube-observer-${suffix}`;
const overlay = deployOverlay(nsA, suffix);
const core = adminKubeConfig().makeApiClient(k8s.CoreV1Api);
const work = mkdtempSync(join(tmpdir(), "kube-observer-image-"));
const container = `kube-observer-test-${suffix}`;
const AGENT_UID = 10001;
const SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";
const CONFIG = "/etc/kube-observer/kube-observer.dhall";
const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const volume = new ConfigMapVolume();
const dataDir = join(work, "data");
const graphPath = join(dataDir, "graph/graph.sqlite");
// Namespaced resources the deployed objects give the graph (the overlay's ServiceAccount,
// ConfigMap, Deployment, its ReplicaSet and Pending Pod, the probe objects).
const RESOURCES = ["pod", "configmap", "secret", "serviceaccount", "deployment", "replicaset"];

let image = "";
let digest = "";
let port = 0;

interface DeploymentDoc {
  spec: { template: { spec: { securityContext: { runAsUser: number; runAsGroup: number }; containers: { args: string[] }[] } } };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, stdout, stderr: error && code === null ? `${stderr}${error.message}` : stderr });
    });
  });
}

async function ok(command: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await run(command, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.code}:\n${r.stderr.trim()}`);
  return r.stdout;
}

/** podman with the runtime and limits this machine needs (see the header). */
const PODMAN_RUN = ["--runtime", "runc", "run", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];
const podman = (args: string[], timeoutMs?: number) => ok("podman", args, timeoutMs);

/** The container's log lines (JSON, KUBE_OBSERVER_LOG_FORMAT=json). */
async function logs(): Promise<Record<string, unknown>[]> {
  const r = await run("podman", ["logs", container]);
  return `${r.stdout}\n${r.stderr}`
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function logTail(): Promise<string> {
  const r = await run("podman", ["logs", "--tail", "40", container]);
  return `${r.stdout}${r.stderr}`;
}

/** The first log line from index `since` on that matches. */
function waitForLog(what: string, predicate: (l: Record<string, unknown>) => boolean, since = 0, timeoutMs = 90_000): Promise<Record<string, unknown>> {
  return eventually(
    what,
    async () => {
      const state = await run("podman", ["inspect", "--format", "{{.State.Running}}", container]);
      if (state.stdout.trim() !== "true") throw new Error(`the container stopped while waiting for ${what}:\n${await logTail()}`);
      return (await logs()).slice(since).find(predicate);
    },
    timeoutMs,
    500,
  );
}

async function graphKeys(): Promise<Set<string>> {
  const sink = await openTestSink("sqlite", graphPath);
  try {
    const keys = new Set<string>();
    for await (const line of sink.export() as AsyncIterable<ExportLine>) if (line.type === "node" && line.properties.observed !== false) keys.add(line.key);
    return keys;
  } finally {
    await sink.close();
  }
}

/** `verify` run inside the container: the image's CLI, credentials and graph. */
async function verifyInContainer(): Promise<{ code: number | null; report: { equal: boolean } & Record<string, unknown> }> {
  const r = await run("podman", ["exec", container, "kube-observer", "verify", "--config", CONFIG, "--settle-seconds", "30", "--json"], 90_000);
  return { code: r.code, report: JSON.parse(r.stdout) as { equal: boolean } };
}

/** The mounted config: the deployed one (its schema import falls back to the image's
 *  /app/config/types.dhall), with the SQLite sink and actors in the given namespaces. */
function configFiles(deployed: string, namespaces: string[]): Record<string, string> {
  const actors = namespaces.flatMap((ns) => RESOURCES.map((r) => `T.inNamespace cluster ${JSON.stringify(ns)} ${JSON.stringify(r)}`));
  const wrapper = [
    "let T = /app/config/types.dhall",
    "let deployed = ./deployed.dhall",
    `let cluster = "in-cluster"`,
    `in  deployed // { actors = [ ${actors.join(", ")} ], sink = deployed.sink // { kind = "sqlite" } }`,
    "",
  ].join("\n");
  return { "kube-observer.dhall": wrapper, "deployed.dhall": deployed };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

beforeAll(async () => {
  // The script installs buildah, podman and runc when missing, and skips the build when
  // an image of the same inputs exists; either failing fails this file.
  const out = await ok("bash", ["scripts/image/build.sh"], 600_000);
  image = /^image: (\S+)$/m.exec(out)?.[1] ?? "";
  digest = /^digest: (\S+)$/m.exec(out)?.[1] ?? "";
  if (!image || !digest) throw new Error(`scripts/image/build.sh printed no image and digest:\n${out}`);
}, 600_000);

afterAll(async () => {
  const stopped = await run("podman", ["rm", "-f", "-t", "30", container]);
  if (stopped.code !== 0 && !/no such container/i.test(stopped.stderr)) console.error(`podman rm: ${stopped.stderr}`);
  await kubectlCleanup(["delete", "-k", overlay, "--ignore-not-found", "--wait=false"]);
  await kubectlCleanup(["delete", "namespace", nsB, "--ignore-not-found", "--wait=false"]);
  rmSync(work, { recursive: true, force: true });
  rmSync(volume.dir, { recursive: true, force: true });
  rmSync(overlay, { recursive: true, force: true });
});

describe("the container image", () => {
  it("is built from scratch: one layer, UID 10001, no shell, tagged with the package version, its digest printed", async () => {
    expect(image).toBe(`kube-observer:${version}`);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const [inspected] = JSON.parse(await podman(["image", "inspect", image])) as {
      Digest: string;
      Parent: string;
      RootFS: { Layers: string[] };
      Config: { User: string; Entrypoint: string[]; Cmd: string[]; Labels: Record<string, string> };
    }[];
    expect(inspected!.Digest).toBe(digest);
    expect(inspected!.Parent).toBe("");
    expect(inspected!.RootFS.Layers).toHaveLength(1);
    expect(inspected!.Config.User).toBe(`${AGENT_UID}:${AGENT_UID}`);
    expect(inspected!.Config.Entrypoint).toEqual(["/usr/local/bin/node", "--max-semi-space-size=2", "/app/dist/core/cli/main.js"]);
    expect(inspected!.Config.Cmd).toEqual(["run", "--config", CONFIG, "--listen", "0.0.0.0:8080"]);
    expect(inspected!.Config.Labels["org.opencontainers.image.version"]).toBe(version);
    // What deploy/deployment.yaml runs: the same user (runAsNonRoot needs it numeric) and
    // arguments, but for the sink, which the chart names (a value) and the image leaves to the config.
    const pod = (parse(readFileSync(join(repoRoot, "deploy/deployment.yaml"), "utf8")) as DeploymentDoc).spec.template.spec;
    expect(inspected!.Config.User).toBe(`${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`);
    const args = pod.containers[0]!.args;
    const sink = args.indexOf("--sink");
    expect(sink).toBeGreaterThan(0);
    expect(inspected!.Config.Cmd).toEqual([...args.slice(0, sink), ...args.slice(sink + 2)]);

    // Inside a container of it: who runs, what is (not) there.
    const probe = `
      const fs = require("node:fs");
      const has = (p) => fs.existsSync(p);
      console.log(JSON.stringify({
        uid: process.getuid(), gid: process.getgid(), node: process.version,
        shells: ["/bin/sh", "/bin/bash", "/usr/bin/sh", "/bin/busybox"].filter(has),
        top: fs.readdirSync("/").sort(),
        cli: fs.readlinkSync("/usr/local/bin/kube-observer"),
        devDeps: has("/app/node_modules/vitest") || has("/app/node_modules/typescript"),
      }));`;
    const out = await podman([...PODMAN_RUN, "--rm", "--read-only", "--network=none", "--entrypoint", "/usr/local/bin/node", image, "-e", probe]);
    const seen = JSON.parse(out) as Record<string, unknown>;
    expect(seen).toMatchObject({ uid: AGENT_UID, gid: AGENT_UID, shells: [], cli: "/app/dist/core/cli/main.js", devDeps: false });
    expect(seen.node).toBe(`v${readFileSync(join(repoRoot, "scripts/node/version.env"), "utf8").match(/^NODE_VERSION=(\S+)$/m)![1]}`);
    expect(seen.top).toEqual(expect.arrayContaining(["app", "etc", "lib", "tmp", "usr", "var"]));
    expect(seen.top).not.toContain("bin");
    // A shell cannot be started: there is none.
    const sh = await run("podman", [...PODMAN_RUN, "--rm", "--network=none", "--entrypoint", "/bin/sh", image, "-c", "true"]);
    expect(sh.code).not.toBe(0);
    expect(sh.stderr).toMatch(/\/bin\/sh.*(no such file|not found)/i);
    // The CLI on PATH (no /usr/bin/env: its first line names the node binary).
    expect((await podman([...PODMAN_RUN, "--rm", "--network=none", "--entrypoint", "kube-observer", image, "--version"])).trim()).toContain(version);
  });

  it("runs in-cluster against the local apiserver: /readyz answers 200 and the graph equals the cluster", async () => {
    await kubectlOk(["apply", "-k", overlay]);
    await createNamespace(core, nsB);
    await core.createNamespacedConfigMap({ namespace: nsA, body: { metadata: { name: "probe-a" }, data: { k: "v" } } });
    await core.createNamespacedConfigMap({ namespace: nsB, body: { metadata: { name: "probe-b" }, data: { k: "v" } } });

    // The ServiceAccount's token, CA and namespace, as the kubelet projects them (readable
    // by the pod's user only).
    const token = (await kubectlOk(["-n", nsA, "create", "token", sa, "--duration", "1h"])).trim();
    const saDir = join(work, "serviceaccount");
    mkdirSync(saDir, { mode: 0o755 });
    writeFileSync(join(saDir, "token"), token, { mode: 0o600 });
    writeFileSync(join(saDir, "ca.crt"), readFileSync(devEnv().caFile), { mode: 0o644 });
    writeFileSync(join(saDir, "namespace"), nsA, { mode: 0o644 });
    chownSync(join(saDir, "token"), AGENT_UID, AGENT_UID);
    // The data volume (an emptyDir in the pod, writable by the pod's user).
    mkdirSync(dataDir, { mode: 0o750 });
    chownSync(dataDir, AGENT_UID, AGENT_UID);

    // The config as the applied ConfigMap holds it, mounted the kubelet's way.
    const deployed = await kubectlOk(["-n", nsA, "get", "configmap", `kube-observer-config-${suffix}`, "-o", "jsonpath={.data.kube-observer\\.dhall}"]);
    expect(deployed).toBe(readFileSync(join(repoRoot, "deploy/config/kube-observer.dhall"), "utf8"));
    chmodSync(volume.dir, 0o755);
    volume.update(configFiles(deployed, [nsA]));

    port = await freePort();
    const api = new URL(devEnv().apiserverUrl);
    await podman([
      ...PODMAN_RUN,
      "-d",
      "--name",
      container,
      // The apiserver and the ops port are on this machine's loopback.
      "--network=host",
      "--read-only",
      "--user",
      `${AGENT_UID}:${AGENT_UID}`,
      "--cap-drop=all",
      "--security-opt=no-new-privileges",
      "-v",
      `${saDir}:${SA_PATH}:ro`,
      "-v",
      `${volume.dir}:/etc/kube-observer:ro`,
      "-v",
      `${dataDir}:/var/lib/kube-observer`,
      "-e",
      `KUBERNETES_SERVICE_HOST=${api.hostname}`,
      "-e",
      `KUBERNETES_SERVICE_PORT=${api.port}`,
      "-e",
      "KUBE_OBSERVER_LOG_FORMAT=json",
      image,
      "run",
      "--config",
      CONFIG,
      "--listen",
      `127.0.0.1:${port}`,
    ]);

    await waitForLog("the initial sync", (l) => l.msg === "initial sync complete");
    const ready = await eventually("/readyz 200", async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 30_000);
    expect(ready).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await logs()).filter((l) => l.phase === "forbidden" || /forbidden/i.test(String(l.reason ?? "")))).toEqual([]);

    // The graph the container wrote, read from the volume: the deployed objects are there...
    const keys = await eventually(
      "the deployed objects in the graph",
      async () => {
        const k = await graphKeys();
        return k.has(`in-cluster/${nsA}/ConfigMap/probe-a`) && k.has(`in-cluster/${nsA}/ServiceAccount/${sa}`) ? k : undefined;
      },
      30_000,
    );
    expect(keys.has(`in-cluster/${nsA}/Deployment/kube-observer-${suffix}`)).toBe(true);
    expect(keys.has(`in-cluster/${nsB}/ConfigMap/probe-b`)).toBe(false);
    // ...and it equals a fresh LIST of every configured scope.
    const verified = await verifyInContainer();
    expect(verified.report.equal, JSON.stringify(verified.report).slice(0, 2000)).toBe(true);
    expect(verified.code).toBe(0);
  });

  it("applies a config edit live: a namespace added by a `..data` swap is observed without a restart", async () => {
    const mark = (await logs()).length;
    const startedAt = (await podman(["inspect", "--format", "{{.State.StartedAt}}", container])).trim();
    volume.update(configFiles(readFileSync(join(volume.dir, "deployed.dhall"), "utf8"), [nsA, nsB]));
    const applied = await waitForLog("the reload", (l) => l.msg === "config changed: applying", mark);
    expect(String(applied.why)).toMatch(/^\.\.(data|data_tmp|\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+) changed$/);
    await eventually("B's ConfigMap in the graph", async () => ((await graphKeys()).has(`in-cluster/${nsB}/ConfigMap/probe-b`) ? true : undefined), 60_000);
    await core.createNamespacedConfigMap({ namespace: nsB, body: { metadata: { name: "probe-b-after" }, data: { k: "v" } } });
    await eventually(
      "a ConfigMap created in B afterwards",
      async () => ((await graphKeys()).has(`in-cluster/${nsB}/ConfigMap/probe-b-after`) ? true : undefined),
      30_000,
    );
    const verified = await verifyInContainer();
    expect(verified.report.equal, JSON.stringify(verified.report).slice(0, 2000)).toBe(true);

    // The same container process throughout.
    expect((await podman(["inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}", container])).trim()).toBe(`${startedAt} 0`);
    expect((await logs()).filter((l) => l.msg === "initial sync complete")).toHaveLength(1);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });

  it("stops cleanly on SIGTERM (what the kubelet sends), exit code 0", async () => {
    await podman(["stop", "-t", "40", container], 60_000);
    expect((await podman(["inspect", "--format", "{{.State.ExitCode}}", container])).trim()).toBe("0");
  });
});
