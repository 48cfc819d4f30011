// Additional clusters (2, ...): each its own etcd, kube-apiserver and a trimmed
// kube-controller-manager on its own 127.0.0.1 ports, with its own CA, admin token,
// data directory and kubeconfig (.dev-env/kubeconfig-N), so that nothing of one cluster
// (not even a credential) works against another. They share the first cluster's
// builds and Neo4j, and keep their state in .dev-env/cluster-N/env.json, apart from
// env.json, so that restarting a server of one cluster never rewrites another's record.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clusterPaths, devEnvPaths, type ClusterPaths, type DevEnvPaths } from "./paths.js";
import { ensurePki } from "./pki.js";
import { freePorts } from "./ports.js";
import { isAlive, stopProcess } from "./proc.js";
import { CONTROL_PLANE_ORDER, defineControlPlaneServer, type ControlPlaneLayout, type ControlPlaneName } from "./servers.js";
import { kubeconfigYaml, probeServers, quiet, startServer, writeJsonAtomic, type ClusterConnection, type Say } from "./start.js";

/** The controllers an additional cluster runs: enough for namespaces to behave as in the
 *  first cluster (a `default` ServiceAccount and `kube-root-ca.crt` in each, deletion that
 *  finishes), without the workload, node and garbage-collection controllers, which on
 *  2 cores would cost CPU for nothing the tests of a second cluster need. */
export const EXTRA_CLUSTER_CONTROLLERS = ["namespace-controller", "serviceaccount-controller", "root-ca-certificate-publisher-controller"];

/** 512 MiB: a test cluster, not a benchmark one (the first cluster keeps 8 GiB). */
const EXTRA_CLUSTER_ETCD_QUOTA = 512 * 1024 * 1024;

export interface ClusterServerRecord {
  pid: number;
  log: string;
}

/** What .dev-env/cluster-N/env.json holds. */
export interface ClusterState extends ClusterConnection {
  version: 1;
  index: number;
  /** The cluster's (and context's) name in its kubeconfig. */
  name: string;
  pids: Record<ControlPlaneName, number>;
  servers: Record<ControlPlaneName, ClusterServerRecord>;
  layout: ControlPlaneLayout;
}

export interface ClusterUpResult {
  state: ClusterState;
  /** False when a healthy running cluster was reused. */
  started: boolean;
}

export function readClusterState(index: number, paths: DevEnvPaths = devEnvPaths()): ClusterState | undefined {
  const file = clusterPaths(paths, index).stateFile;
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as ClusterState;
}

/** Indexes of the additional clusters that have a state file, in order. */
export function recordedClusters(paths: DevEnvPaths = devEnvPaths()): number[] {
  if (!existsSync(paths.dir)) return [];
  return readdirSync(paths.dir)
    .map((entry) => /^cluster-(\d+)$/.exec(entry)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .filter((index) => index >= 2 && existsSync(clusterPaths(paths, index).stateFile))
    .sort((a, b) => a - b);
}

/** Which servers of a recorded cluster are alive and answering. */
export function probeCluster(state: ClusterState): Promise<Record<ControlPlaneName, boolean>> {
  return probeServers(CONTROL_PLANE_ORDER, state.pids, (name) => defineControlPlaneServer(name, state.layout));
}

const label = (index: number, name: ControlPlaneName): string => `${name} (cluster ${index})`;

/** Re-reads the state file and applies change to it, so that what another process wrote
 *  meanwhile (a server restarted by a test while this one started another) is kept. */
function updateClusterState(cp: ClusterPaths, change: (state: ClusterState) => void): ClusterState {
  if (!existsSync(cp.stateFile)) throw new Error(`cluster ${cp.index} is not recorded (${cp.stateFile} is missing)`);
  const state = JSON.parse(readFileSync(cp.stateFile, "utf8")) as ClusterState;
  change(state);
  writeJsonAtomic(cp.stateFile, state);
  return state;
}

/**
 * Starts additional cluster `index`, or reuses it when all its servers answer. An
 * incomplete one is stopped and started afresh (empty data). controlPlaneBin: the first
 * cluster's build (the same binaries); env.ts's upAdditionalCluster passes it.
 */
export async function upCluster(index: number, controlPlaneBin: string, say: Say = quiet, paths: DevEnvPaths = devEnvPaths()): Promise<ClusterUpResult> {
  const cp = clusterPaths(paths, index);
  const existing = readClusterState(index, paths);
  if (existing) {
    const health = await probeCluster(existing);
    if (CONTROL_PLANE_ORDER.every((name) => health[name])) {
      say(`cluster ${index} already running (started ${existing.startedAt}); nothing to do`);
      return { state: existing, started: false };
    }
    const broken = CONTROL_PLANE_ORDER.filter((name) => !health[name]).join(", ");
    say(`cluster ${index} is incomplete (${broken} not healthy): stopping it and starting it afresh`);
    await downCluster(index, say, paths);
  }

  const began = Date.now();
  rmSync(cp.data, { recursive: true, force: true });
  for (const dir of [cp.dir, cp.logs, cp.data]) mkdirSync(dir, { recursive: true });
  const pki = await ensurePki(cp.pki);
  const adminToken = randomBytes(24).toString("hex");
  const tokenFile = join(cp.pki, "tokens.csv");
  writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });

  const [etcdClient, etcdPeer, apiserver, controllerManager] = await freePorts(4);
  const layout: ControlPlaneLayout = {
    controlPlaneBin,
    pki,
    tokenFile,
    kubeconfig: cp.kubeconfig,
    adminToken,
    data: cp.data,
    logs: cp.logs,
    ports: { etcdClient: etcdClient!, etcdPeer: etcdPeer!, apiserver: apiserver!, controllerManager: controllerManager! },
    etcdQuotaBytes: EXTRA_CLUSTER_ETCD_QUOTA,
    controllers: EXTRA_CLUSTER_CONTROLLERS,
  };
  const name = `kube-observer-dev-${index}`;
  const apiserverUrl = `https://127.0.0.1:${layout.ports.apiserver}`;
  writeFileSync(cp.kubeconfig, kubeconfigYaml(apiserverUrl, pki.caCert, adminToken, name), { mode: 0o600 });

  const state: ClusterState = {
    version: 1,
    index,
    name,
    startedAt: new Date().toISOString(),
    kubeconfig: cp.kubeconfig,
    apiserverUrl,
    etcdUrl: `http://127.0.0.1:${layout.ports.etcdClient}`,
    adminToken,
    caFile: pki.caCert,
    pids: {} as Record<ControlPlaneName, number>,
    servers: {} as Record<ControlPlaneName, ClusterServerRecord>,
    layout,
  };
  try {
    for (const server of CONTROL_PLANE_ORDER) {
      const pid = await startServer(label(index, server), defineControlPlaneServer(server, layout), say);
      state.pids[server] = pid;
      state.servers[server] = { pid, log: join(cp.logs, `${server}.log`) };
      // Recorded after each server, so that a failure later still leaves it stoppable.
      writeJsonAtomic(cp.stateFile, state);
    }
  } catch (error) {
    say(`cluster ${index}: start-up failed; stopping what was started`);
    await downCluster(index, quiet, paths);
    throw error;
  }
  say(`cluster ${index} ready in ${((Date.now() - began) / 1000).toFixed(1)} s: KUBECONFIG=${cp.kubeconfig}`);
  return { state, started: true };
}

/** Stops every server of additional cluster `index` and forgets it (its data goes at the
 *  next start). */
export async function downCluster(index: number, say: Say = quiet, paths: DevEnvPaths = devEnvPaths()): Promise<void> {
  const cp = clusterPaths(paths, index);
  const state = readClusterState(index, paths);
  if (!state) {
    say(`cluster ${index} is not recorded: nothing to stop`);
    return;
  }
  for (const name of [...CONTROL_PLANE_ORDER].reverse()) {
    const pid = state.pids[name];
    if (pid !== undefined && isAlive(pid)) {
      say(`stopping ${label(index, name)} (pid ${pid})`);
      await stopProcess(pid);
    }
  }
  rmSync(cp.stateFile, { force: true });
  say(`cluster ${index} stopped`);
}

/** Stops one server of cluster `index` (SIGTERM, or SIGKILL with hard), keeping its record
 *  so that startClusterServerAgain can bring it back on the same port with the same data. */
export async function stopClusterServer(
  index: number,
  name: ControlPlaneName,
  options: { hard?: boolean } = {},
  paths: DevEnvPaths = devEnvPaths(),
): Promise<void> {
  const state = readClusterState(index, paths);
  if (!state) throw new Error(`cluster ${index} is not recorded in ${clusterPaths(paths, index).stateFile}`);
  const pid = state.pids[name];
  if (pid !== undefined) await stopProcess(pid, options.hard ? 0 : 15_000);
}

/** Starts one server of cluster `index` again with the same ports and data. */
export async function startClusterServerAgain(
  index: number,
  name: ControlPlaneName,
  say: Say = quiet,
  paths: DevEnvPaths = devEnvPaths(),
): Promise<ClusterState> {
  const cp = clusterPaths(paths, index);
  const before = readClusterState(index, paths);
  if (!before) throw new Error(`cluster ${index} is not recorded in ${cp.stateFile}`);
  if (isAlive(before.pids[name])) await stopProcess(before.pids[name]);
  const pid = await startServer(label(index, name), defineControlPlaneServer(name, before.layout), say);
  return updateClusterState(cp, (state) => {
    state.pids[name] = pid;
    state.servers[name] = { pid, log: join(cp.logs, `${name}.log`) };
  });
}
