// Additional clusters of the local environment (`npm run env:up -- --clusters 2`), without
// real servers: where cluster 2 keeps its files, how its servers differ from the first
// cluster's (and that the first cluster's are unchanged), that `down` stops every cluster,
// and that a server failing to start is named with its log.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { downCluster, EXTRA_CLUSTER_CONTROLLERS, recordedClusters, upCluster } from "../../../scripts/devenv/clusters.js";
import { down, up } from "../../../scripts/devenv/env.js";
import { clusterPaths, devEnvPaths, type DevEnvPaths } from "../../../scripts/devenv/paths.js";
import { isAlive, startDetached } from "../../../scripts/devenv/proc.js";
import { defineControlPlaneServer, type ControlPlaneLayout } from "../../../scripts/devenv/servers.js";
import { pkiFiles } from "../../../scripts/devenv/pki.js";
import { ServerFailedError } from "../../../scripts/devenv/start.js";

function tempPaths(): DevEnvPaths {
  const dir = mkdtempSync(join(tmpdir(), "kube-observer-devenv-"));
  const real = devEnvPaths();
  return {
    ...real,
    dir,
    stateFile: join(dir, "env.json"),
    kubeconfig: join(dir, "kubeconfig"),
    pki: join(dir, "pki"),
    logs: join(dir, "logs"),
    data: join(dir, "data"),
  };
}

function sleeper(dir: string, name: string): number {
  mkdirSync(dir, { recursive: true });
  return startDetached({ name, command: "sleep", args: ["300"], log: join(dir, `${name}.log`) });
}

const layout = (extra: Partial<ControlPlaneLayout> = {}): ControlPlaneLayout => ({
  controlPlaneBin: "/bin",
  pki: pkiFiles("/pki"),
  tokenFile: "/pki/tokens.csv",
  kubeconfig: "/kubeconfig",
  adminToken: "t",
  data: "/data",
  logs: "/logs",
  ports: { etcdClient: 1001, etcdPeer: 1002, apiserver: 1003, controllerManager: 1004 },
  ...extra,
});

describe("clusterPaths / recordedClusters", () => {
  it("keeps cluster 2 under .dev-env/cluster-2 with its kubeconfig beside the first one", () => {
    const paths = tempPaths();
    expect(clusterPaths(paths, 2)).toEqual({
      index: 2,
      dir: join(paths.dir, "cluster-2"),
      stateFile: join(paths.dir, "cluster-2", "env.json"),
      kubeconfig: join(paths.dir, "kubeconfig-2"),
      pki: join(paths.dir, "cluster-2", "pki"),
      logs: join(paths.dir, "cluster-2", "logs"),
      data: join(paths.dir, "cluster-2", "data"),
    });
    expect(() => clusterPaths(paths, 1)).toThrow("additional clusters are numbered from 2");
  });

  it("lists only clusters with a state file", () => {
    const paths = tempPaths();
    for (const entry of ["cluster-3", "cluster-2", "cluster-4", "cluster-x", "logs"]) mkdirSync(join(paths.dir, entry), { recursive: true });
    writeFileSync(join(paths.dir, "cluster-2", "env.json"), "{}");
    writeFileSync(join(paths.dir, "cluster-3", "env.json"), "{}");
    expect(recordedClusters(paths)).toEqual([2, 3]);
  });
});

describe("control-plane servers", () => {
  it("starts the first cluster's etcd and kube-controller-manager as before", () => {
    const etcd = defineControlPlaneServer("etcd", layout()).spec.args;
    expect(etcd).toContain("--quota-backend-bytes=8589934592");
    expect(defineControlPlaneServer("kube-controller-manager", layout()).spec.args.some((a) => a.startsWith("--controllers"))).toBe(false);
  });

  it("gives an additional cluster a small etcd quota and the trimmed controller set, on its own ports", () => {
    const l = layout({ etcdQuotaBytes: 536870912, controllers: EXTRA_CLUSTER_CONTROLLERS });
    expect(defineControlPlaneServer("etcd", l).spec.args).toContain("--quota-backend-bytes=536870912");
    expect(defineControlPlaneServer("kube-controller-manager", l).spec.args).toContain(
      "--controllers=namespace-controller,serviceaccount-controller,root-ca-certificate-publisher-controller",
    );
    expect(defineControlPlaneServer("kube-apiserver", l).spec.args).toEqual(
      expect.arrayContaining(["--secure-port=1003", "--etcd-servers=http://127.0.0.1:1001", "--bind-address=127.0.0.1"]),
    );
  });
});

describe("up / down with several clusters", () => {
  it("rejects a cluster count it does not support before starting anything", async () => {
    const paths = tempPaths();
    await expect(up(undefined, paths, { clusters: 3 })).rejects.toThrow("--clusters must be a whole number from 1 to 2 (got 3)");
    await expect(up(undefined, paths, { clusters: 0 })).rejects.toThrow("--clusters must be a whole number from 1 to 2");
    expect(existsSync(paths.stateFile)).toBe(false);
  });

  it("down stops every server of every recorded cluster and forgets them", async () => {
    const paths = tempPaths();
    const first = {
      etcd: sleeper(paths.logs, "etcd"),
      "kube-apiserver": sleeper(paths.logs, "kube-apiserver"),
      "kube-controller-manager": sleeper(paths.logs, "kcm"),
      neo4j: sleeper(paths.logs, "neo4j"),
    };
    const cp = clusterPaths(paths, 2);
    const second = { etcd: sleeper(cp.logs, "etcd"), "kube-apiserver": sleeper(cp.logs, "kube-apiserver"), "kube-controller-manager": sleeper(cp.logs, "kcm") };
    writeFileSync(paths.stateFile, JSON.stringify({ pids: first }));
    writeFileSync(cp.stateFile, JSON.stringify({ index: 2, pids: second }));
    const said: string[] = [];
    await down((line) => said.push(line), paths);
    for (const pid of [...Object.values(first), ...Object.values(second)]) expect(isAlive(pid)).toBe(false);
    expect(existsSync(paths.stateFile)).toBe(false);
    expect(existsSync(cp.stateFile)).toBe(false);
    expect(said).toContain(`stopping kube-apiserver (cluster 2) (pid ${second["kube-apiserver"]})`);
    expect(said.indexOf("cluster 2 stopped")).toBeLessThan(said.indexOf("stopped"));
  });

  it("down --cluster 2 stops only cluster 2", async () => {
    const paths = tempPaths();
    const keep = sleeper(paths.logs, "etcd");
    const cp = clusterPaths(paths, 2);
    const gone = sleeper(cp.logs, "etcd");
    writeFileSync(paths.stateFile, JSON.stringify({ pids: { etcd: keep } }));
    writeFileSync(cp.stateFile, JSON.stringify({ index: 2, pids: { etcd: gone } }));
    try {
      await downCluster(2, undefined, paths);
      expect(isAlive(gone)).toBe(false);
      expect(isAlive(keep)).toBe(true);
      expect(existsSync(paths.stateFile)).toBe(true);
    } finally {
      await down(undefined, paths);
    }
    expect(isAlive(keep)).toBe(false);
  });

  it("names the server of cluster 2 that failed to start, with its log, and leaves nothing recorded", async () => {
    const paths = tempPaths();
    const bin = join(paths.dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "etcd"), "#!/bin/sh\necho 'etcd: cannot bind 127.0.0.1: address in use'\nexit 1\n");
    chmodSync(join(bin, "etcd"), 0o755);
    const error = await upCluster(2, bin, undefined, paths).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServerFailedError);
    expect((error as ServerFailedError).server).toBe("etcd (cluster 2)");
    expect((error as Error).message).toContain("etcd (cluster 2) exited before it became ready");
    expect((error as ServerFailedError).logTail).toContain("cannot bind 127.0.0.1: address in use");
    expect(recordedClusters(paths)).toEqual([]);
  }, 30_000);
});
