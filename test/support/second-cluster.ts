// The second local cluster, for tests that need two: the global setup starts one cluster
// (CI time matters), and a test that wants another starts it here through the same
// devenv code (idempotent: a running one, e.g. from `npm run env:up -- --clusters 2`, is
// reused). If it cannot be started, ensureSecondCluster throws and the test fails.
import * as k8s from "@kubernetes/client-node";
import { downCluster, readClusterState, startClusterServerAgain, stopClusterServer, type ClusterState } from "../../scripts/devenv/clusters.js";
import { upAdditionalCluster } from "../../scripts/devenv/env.js";
import { isAlive } from "../../scripts/devenv/proc.js";

const INDEX = 2;
const say = (line: string): void => console.log(`[env] ${line}`);

export interface SecondCluster {
  /** The admin kubeconfig file (.dev-env/kubeconfig-2). */
  kubeconfig: string;
  etcdUrl: string;
  /** A KubeConfig for cluster 2's admin. */
  kubeConfig(): k8s.KubeConfig;
  /** The kube-apiserver's pid now (it changes when it is restarted). */
  apiserverPid(): number;
  /** Stops kube-apiserver (SIGKILL with hard, else SIGTERM); etcd and its data stay. */
  stopApiserver(options?: { hard?: boolean }): Promise<void>;
  /** Starts kube-apiserver again on the same port over the same etcd; resolves once ready. */
  startApiserver(): Promise<void>;
  /** Whether the recorded kube-apiserver process is alive. */
  apiserverAlive(): boolean;
  /** Whether this call started the cluster (false: a running one was reused). */
  startedHere: boolean;
  /** How long ensureSecondCluster took. */
  startMs: number;
}

/** Whether this test process started cluster 2, and so has to stop it. */
let startedByUs = false;

function current(): ClusterState {
  const state = readClusterState(INDEX);
  if (!state) throw new Error("cluster 2 is no longer recorded in .dev-env/cluster-2/env.json (was it stopped by `env:down`?)");
  return state;
}

/** Starts cluster 2 unless it is running; throws (failing the test) when it cannot. */
export async function ensureSecondCluster(): Promise<SecondCluster> {
  const began = Date.now();
  const { state, started } = await upAdditionalCluster(INDEX, say);
  startedByUs ||= started;
  return {
    kubeconfig: state.kubeconfig,
    etcdUrl: state.etcdUrl,
    kubeConfig: () => {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(state.kubeconfig);
      return kc;
    },
    apiserverPid: () => current().pids["kube-apiserver"],
    stopApiserver: (options = {}) => stopClusterServer(INDEX, "kube-apiserver", options),
    startApiserver: async () => void (await startClusterServerAgain(INDEX, "kube-apiserver", say)),
    apiserverAlive: () => isAlive(current().pids["kube-apiserver"]),
    startedHere: started,
    startMs: Date.now() - began,
  };
}

/** Deletes a key in cluster 2's etcd directly (its HTTP/JSON gateway), e.g. an object
 *  removed while its kube-apiserver is down; returns how many keys went. */
export async function etcdDeleteIn(cluster: SecondCluster, key: string): Promise<number> {
  const res = await fetch(`${cluster.etcdUrl}/v3/kv/deleterange`, { method: "POST", body: JSON.stringify({ key: Buffer.from(key).toString("base64") }) });
  if (!res.ok) throw new Error(`etcd of cluster 2: HTTP ${res.status} ${await res.text()}`);
  return Number(((await res.json()) as { deleted?: string }).deleted ?? 0);
}

/** Stops cluster 2 if, and only if, this test process started it. */
export async function releaseSecondCluster(): Promise<void> {
  if (!startedByUs) return;
  startedByUs = false;
  await downCluster(INDEX, say);
}
