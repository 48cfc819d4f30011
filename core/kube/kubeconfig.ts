// A KubeConfig for one configured cluster, through @kubernetes/client-node (kubeconfig
// files with exec plugins and tokens, or the pod's in-cluster ServiceAccount).
import * as k8s from "@kubernetes/client-node";
import type { ClusterConfig } from "../config/model.js";

export function loadKubeConfig(cluster: ClusterConfig): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (cluster.inCluster) {
    // KUBE_OBSERVER_IN_CLUSTER_ROOT lets tests supply the token and CA files.
    kc.loadFromCluster(process.env.KUBE_OBSERVER_IN_CLUSTER_ROOT);
  } else if (cluster.kubeconfig) {
    kc.loadFromFile(cluster.kubeconfig);
  } else {
    kc.loadFromDefault();
  }
  if (cluster.context) kc.setCurrentContext(cluster.context);
  const server = kc.getCurrentCluster()?.server;
  if (!server) {
    throw new Error(
      `cluster "${cluster.name}": no API server found (kubeconfig ${cluster.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}${cluster.context ? `, context ${cluster.context}` : ""})`,
    );
  }
  return kc;
}
