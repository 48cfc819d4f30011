// How each server of the local environment is started and probed.
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import type { Pki } from "./pki.js";
import type { ProcessSpec } from "./proc.js";
import { apiserverReady, controllerManagerHealthy, etcdHealthy, neo4jReady } from "./probes.js";

export type ServerName = "etcd" | "kube-apiserver" | "kube-controller-manager" | "neo4j";
export const SERVER_ORDER: ServerName[] = ["etcd", "kube-apiserver", "kube-controller-manager", "neo4j"];

/** The servers every cluster has; Neo4j is shared by all clusters. */
export type ControlPlaneName = Exclude<ServerName, "neo4j">;
export const CONTROL_PLANE_ORDER: ControlPlaneName[] = ["etcd", "kube-apiserver", "kube-controller-manager"];

export interface ControlPlanePorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
}

export interface Ports extends ControlPlanePorts {
  neo4jBolt: number;
}

/** What one cluster's etcd, kube-apiserver and kube-controller-manager need. */
export interface ControlPlaneLayout {
  controlPlaneBin: string;
  pki: Pki;
  tokenFile: string;
  kubeconfig: string;
  adminToken: string;
  data: string;
  logs: string;
  ports: ControlPlanePorts;
  /** etcd's backend quota; the first cluster's default leaves room for the benchmarks. */
  etcdQuotaBytes?: number;
  /** kube-controller-manager's --controllers; every default controller when absent. */
  controllers?: string[];
}

/** The first cluster's layout, with the Neo4j server that all clusters share. */
export interface Layout extends ControlPlaneLayout {
  neo4jLib: string;
  neo4jLauncher: string;
  neo4jPassword: string;
  ports: Ports;
}

export interface ServerDefinition {
  spec: ProcessSpec;
  /** Seconds to wait for readiness; the JVM and a cold apiserver take a while. */
  readyTimeoutMs: number;
  ready: () => Promise<boolean>;
}

export function defineServer(name: ServerName, l: Layout): ServerDefinition {
  return name === "neo4j" ? defineNeo4j(l) : defineControlPlaneServer(name, l);
}

export function defineControlPlaneServer(name: ControlPlaneName, l: ControlPlaneLayout): ServerDefinition {
  const log = join(l.logs, `${name}.log`);
  switch (name) {
    case "etcd": {
      const dataDir = join(l.data, "etcd");
      const client = `http://127.0.0.1:${l.ports.etcdClient}`;
      const peer = `http://127.0.0.1:${l.ports.etcdPeer}`;
      return {
        spec: {
          name,
          log,
          command: join(l.controlPlaneBin, "etcd"),
          args: [
            "--name=dev",
            `--data-dir=${dataDir}`,
            `--listen-client-urls=${client}`,
            `--advertise-client-urls=${client}`,
            `--listen-peer-urls=${peer}`,
            `--initial-advertise-peer-urls=${peer}`,
            `--initial-cluster=dev=${peer}`,
            "--unsafe-no-fsync",
            // Benchmarks create tens of thousands of objects; the 2 GiB default is tight.
            `--quota-backend-bytes=${l.etcdQuotaBytes ?? 8589934592}`,
            "--log-level=warn",
          ],
        },
        readyTimeoutMs: 60_000,
        ready: () => etcdHealthy(client),
      };
    }
    case "kube-apiserver": {
      const url = `https://127.0.0.1:${l.ports.apiserver}`;
      return {
        spec: {
          name,
          log,
          command: join(l.controlPlaneBin, "kube-apiserver"),
          args: [
            `--etcd-servers=http://127.0.0.1:${l.ports.etcdClient}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${l.ports.apiserver}`,
            `--tls-cert-file=${l.pki.servingCert}`,
            `--tls-private-key-file=${l.pki.servingKey}`,
            `--client-ca-file=${l.pki.caCert}`,
            `--token-auth-file=${l.tokenFile}`,
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${l.pki.saPub}`,
            `--service-account-signing-key-file=${l.pki.saKey}`,
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
          ],
        },
        readyTimeoutMs: 120_000,
        ready: () => apiserverReady(url, l.pki.caCert, l.adminToken),
      };
    }
    case "kube-controller-manager":
      return {
        spec: {
          name,
          log,
          command: join(l.controlPlaneBin, "kube-controller-manager"),
          args: [
            `--kubeconfig=${l.kubeconfig}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${l.ports.controllerManager}`,
            `--cert-dir=${join(l.data, "kube-controller-manager")}`,
            "--leader-elect=false",
            `--service-account-private-key-file=${l.pki.saKey}`,
            `--root-ca-file=${l.pki.caCert}`,
            ...(l.controllers ? [`--controllers=${l.controllers.join(",")}`] : []),
            "--v=1",
          ],
        },
        readyTimeoutMs: 60_000,
        ready: () => controllerManagerHealthy(l.ports.controllerManager),
      };
  }
}

function defineNeo4j(l: Layout): ServerDefinition {
  const log = join(l.logs, "neo4j.log");
  const home = join(l.data, "neo4j");
  mkdirSync(home, { recursive: true });
  return {
    spec: {
      name: "neo4j",
      log,
      command: "java",
      args: [
        "-Xms512m",
        "-Xmx2g",
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-cp",
        join(l.neo4jLib, "*"),
        l.neo4jLauncher,
        home,
        String(l.ports.neo4jBolt),
      ],
      env: { NEO4J_PASSWORD: l.neo4jPassword },
    },
    readyTimeoutMs: 180_000,
    ready: () => neo4jReady(log, l.ports.neo4jBolt),
  };
}
