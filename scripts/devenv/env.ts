// The local environment as a whole: up (idempotent), status, down, and restarting one
// server in place (tests use that to provoke apiserver restarts and Neo4j outages).
// The first cluster and Neo4j are recorded in .dev-env/env.json; additional clusters
// (`up --clusters 2`) are started by clusters.ts and recorded beside it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { clusterPaths, devEnvPaths, type DevEnvPaths } from "./paths.js";
import { ensurePki, pkiFiles } from "./pki.js";
import { freePorts } from "./ports.js";
import { isAlive, stopProcess } from "./proc.js";
import { defineServer, SERVER_ORDER, type Layout, type Ports, type ServerName } from "./servers.js";
import { downCluster, recordedClusters, upCluster, type ClusterState, type ClusterUpResult } from "./clusters.js";
import { kubeconfigYaml, probeServers, quiet, ServerFailedError, startServer, writeJsonAtomic, type ClusterConnection, type Say } from "./start.js";

export { ServerFailedError, type Say };

const run = promisify(execFile);

export interface ServerRecord {
  pid: number;
  log: string;
}

/** What .dev-env/env.json holds: everything a test or a developer needs to connect. */
export interface DevEnvState extends ClusterConnection {
  version: 1;
  neo4j: { boltUrl: string; user: string; password: string };
  versions: { kubernetes: string; etcd: string; neo4j: string };
  pids: Record<ServerName, number>;
  servers: Record<ServerName, ServerRecord>;
  layout: Layout;
}

export function readState(paths: DevEnvPaths = devEnvPaths()): DevEnvState | undefined {
  if (!existsSync(paths.stateFile)) return undefined;
  return JSON.parse(readFileSync(paths.stateFile, "utf8")) as DevEnvState;
}

function writeState(paths: DevEnvPaths, state: DevEnvState): void {
  writeJsonAtomic(paths.stateFile, state);
}

function readVersions(root: string): { kubernetes: string; etcd: string; neo4j: string } {
  const text = readFileSync(join(root, "scripts/controlplane/versions.env"), "utf8");
  const pick = (key: string): string => {
    const match = new RegExp(`^${key}=(\\S+)`, "m").exec(text);
    if (!match?.[1]) throw new Error(`scripts/controlplane/versions.env has no ${key}`);
    return match[1];
  };
  return { kubernetes: pick("K8S_VERSION"), etcd: pick("ETCD_VERSION"), neo4j: pick("NEO4J_VERSION") };
}

/** Runs a build script (a no-op when its output is cached) and returns the directory it prints. */
async function buildDir(paths: DevEnvPaths, script: string, say: Say): Promise<string> {
  say(`checking ${script} (builds once per machine into ${paths.cache})`);
  try {
    const { stdout } = await run("bash", [join(paths.root, script)], {
      env: { ...process.env, KUBE_OBSERVER_CACHE: paths.cache },
      maxBuffer: 64 * 1024 * 1024,
    });
    const dir = stdout.trim().split("\n").pop() ?? "";
    if (!existsSync(dir)) throw new Error(`it printed no directory`);
    return dir;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new ServerFailedError(script, e.message.split("\n")[0] ?? "build failed", (e.stderr ?? "").split("\n").slice(-30).join("\n"));
  }
}

/** Which servers of a recorded environment are alive and answering. */
export function probeAll(state: DevEnvState): Promise<Record<ServerName, boolean>> {
  return probeServers(SERVER_ORDER, state.pids, (name) => defineServer(name, state.layout));
}

function startNamed(name: ServerName, layout: Layout, say: Say): Promise<number> {
  return startServer(name, defineServer(name, layout), say);
}

export interface UpResult {
  state: DevEnvState;
  /** False when a healthy running environment was reused. */
  started: boolean;
  /** Clusters 2..N when more than one was asked for, in order. */
  clusters: ClusterUpResult[];
}

export interface UpOptions {
  /** How many clusters to have running (default 1). Running ones are reused and none is
   *  stopped: `--clusters 2` beside a running single cluster adds the second. */
  clusters?: number;
}

/** Two control planes and Neo4j are what a 2-core machine carries; the code is per index. */
export const MAX_CLUSTERS = 2;

/** Starts the environment, or reuses it when every server is already healthy. */
export async function up(say: Say = quiet, paths: DevEnvPaths = devEnvPaths(), options: UpOptions = {}): Promise<UpResult> {
  const count = options.clusters ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_CLUSTERS)
    throw new Error(`--clusters must be a whole number from 1 to ${MAX_CLUSTERS} (got ${count})`);
  const first = await upFirst(say, paths);
  const clusters: ClusterUpResult[] = [];
  for (let index = 2; index <= count; index++) clusters.push(await upCluster(index, first.state.layout.controlPlaneBin, say, paths));
  for (const index of recordedClusters(paths).filter((i) => i > count)) {
    say(`cluster ${index} is also recorded (${clusterPaths(paths, index).kubeconfig}); \`npm run env:down\` stops it with the rest`);
  }
  return { ...first, clusters };
}

/** Starts (or reuses) additional cluster `index` beside the running first one; tests that
 *  need a second cluster call this rather than the global setup, which starts one. */
export async function upAdditionalCluster(index: number, say: Say = quiet, paths: DevEnvPaths = devEnvPaths()): Promise<ClusterUpResult> {
  const state = readState(paths);
  if (!state) throw new Error(`the local environment is not running (no ${paths.stateFile}): start it with \`npm run env:up\` first`);
  return upCluster(index, state.layout.controlPlaneBin, say, paths);
}

async function upFirst(say: Say, paths: DevEnvPaths): Promise<Omit<UpResult, "clusters">> {
  const existing = readState(paths);
  if (existing) {
    const health = await probeAll(existing);
    if (SERVER_ORDER.every((name) => health[name])) {
      say(`already running (started ${existing.startedAt}); nothing to do`);
      return { state: existing, started: false };
    }
    const broken = SERVER_ORDER.filter((name) => !health[name]).join(", ");
    say(`a previous environment is incomplete (${broken} not healthy): stopping it and starting afresh`);
    await down(say, paths);
  }

  const versions = readVersions(paths.root);
  const controlPlaneBin = await buildDir(paths, "scripts/controlplane/build.sh", say);
  const neo4jLib = await buildDir(paths, "scripts/neo4j/build.sh", say);

  rmSync(paths.data, { recursive: true, force: true });
  for (const dir of [paths.dir, paths.logs, paths.data]) mkdirSync(dir, { recursive: true });
  const pki = await ensurePki(paths.pki);

  const adminToken = randomBytes(24).toString("hex");
  const tokenFile = join(paths.pki, "tokens.csv");
  writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });

  const [etcdClient, etcdPeer, apiserver, controllerManager, neo4jBolt] = await freePorts(5);
  const ports: Ports = {
    etcdClient: etcdClient!,
    etcdPeer: etcdPeer!,
    apiserver: apiserver!,
    controllerManager: controllerManager!,
    neo4jBolt: neo4jBolt!,
  };
  const layout: Layout = {
    controlPlaneBin,
    neo4jLib,
    neo4jLauncher: join(paths.root, "scripts/neo4j/Launcher.java"),
    pki,
    tokenFile,
    kubeconfig: paths.kubeconfig,
    adminToken,
    neo4jPassword: randomBytes(12).toString("hex"),
    data: paths.data,
    logs: paths.logs,
    ports,
  };
  const apiserverUrl = `https://127.0.0.1:${ports.apiserver}`;
  writeFileSync(paths.kubeconfig, kubeconfigYaml(apiserverUrl, pki.caCert, adminToken), { mode: 0o600 });

  const pids = {} as Record<ServerName, number>;
  const state: DevEnvState = {
    version: 1,
    startedAt: new Date().toISOString(),
    kubeconfig: paths.kubeconfig,
    apiserverUrl,
    etcdUrl: `http://127.0.0.1:${ports.etcdClient}`,
    adminToken,
    caFile: pki.caCert,
    neo4j: { boltUrl: `bolt://127.0.0.1:${ports.neo4jBolt}`, user: "neo4j", password: layout.neo4jPassword },
    versions,
    pids,
    servers: {} as Record<ServerName, ServerRecord>,
    layout,
  };

  // Neo4j (a JVM) starts alongside the control plane; everything else is in order.
  const neo4jStarting = startNamed("neo4j", layout, say).then((pid) => {
    pids.neo4j = pid;
    writeState(paths, state);
  });
  neo4jStarting.catch(() => undefined);
  try {
    for (const name of ["etcd", "kube-apiserver", "kube-controller-manager"] as const) {
      pids[name] = await startNamed(name, layout, say);
      writeState(paths, state);
    }
    await neo4jStarting;
  } catch (error) {
    await neo4jStarting.catch(() => undefined);
    say("start-up failed; stopping what was started");
    await down(quiet, paths);
    throw error;
  } finally {
    for (const name of SERVER_ORDER) {
      if (pids[name] !== undefined) state.servers[name] = { pid: pids[name], log: join(paths.logs, `${name}.log`) };
    }
  }
  writeState(paths, state);
  say(`environment ready: KUBECONFIG=${paths.kubeconfig}, Neo4j at ${state.neo4j.boltUrl}`);
  return { state, started: true };
}

/** Stops every server the state files record: additional clusters first, then the first
 *  cluster and Neo4j (reverse start order); no process is left. */
export async function down(say: Say = quiet, paths: DevEnvPaths = devEnvPaths()): Promise<void> {
  for (const index of recordedClusters(paths).reverse()) await downCluster(index, say, paths);
  const state = readState(paths);
  if (!state) {
    say("nothing recorded in .dev-env/env.json: nothing to stop");
    return;
  }
  for (const name of [...SERVER_ORDER].reverse()) {
    const pid = state.pids[name];
    if (pid !== undefined && isAlive(pid)) {
      say(`stopping ${name} (pid ${pid})`);
      await stopProcess(pid);
    }
  }
  rmSync(paths.stateFile, { force: true });
  say("stopped");
}

/** Stops one server (SIGTERM, or SIGKILL with hard) without restarting it. */
export async function stopServer(name: ServerName, options: { hard?: boolean } = {}, paths: DevEnvPaths = devEnvPaths()): Promise<void> {
  const state = readState(paths);
  if (!state) throw new Error("no local environment is recorded in .dev-env/env.json");
  const pid = state.pids[name];
  if (pid === undefined) return;
  await stopProcess(pid, options.hard ? 0 : 15_000);
}

/** Starts one server again with the same ports and data (after stopServer or a crash). */
export async function startServerAgain(name: ServerName, say: Say = quiet, paths: DevEnvPaths = devEnvPaths()): Promise<DevEnvState> {
  const before = readState(paths);
  if (!before) throw new Error("no local environment is recorded in .dev-env/env.json");
  if (isAlive(before.pids[name])) await stopProcess(before.pids[name]);
  const pid = await startNamed(name, before.layout, say);
  // Read again: the file may have changed while the server started.
  const state = readState(paths) ?? before;
  state.pids[name] = pid;
  state.servers[name] = { pid, log: join(paths.logs, `${name}.log`) };
  writeState(paths, state);
  return state;
}

export { pkiFiles, type ClusterState, type ClusterUpResult };
