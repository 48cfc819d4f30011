// Where the local environment keeps its state, logs and cached builds.
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

/** The repository root: the nearest ancestor of this file holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("kube-observer: cannot find the repository root (no package.json above scripts/devenv)");
    dir = parent;
  }
  return dir;
}

export interface DevEnvPaths {
  root: string;
  /** .dev-env/: state, certificates, data directories and logs of the running environment. */
  dir: string;
  stateFile: string;
  kubeconfig: string;
  pki: string;
  logs: string;
  data: string;
  /** Build cache shared by every checkout on the machine. */
  cache: string;
}

export function devEnvPaths(root = repoRoot()): DevEnvPaths {
  const dir = resolve(process.env.KUBE_OBSERVER_DEV_ENV ?? join(root, ".dev-env"));
  return {
    root,
    dir,
    stateFile: join(dir, "env.json"),
    kubeconfig: join(dir, "kubeconfig"),
    pki: join(dir, "pki"),
    logs: join(dir, "logs"),
    data: join(dir, "data"),
    cache: resolve(process.env.KUBE_OBSERVER_CACHE ?? join(homedir(), ".cache", "kube-observer")),
  };
}

/** Where an additional cluster (index 2, ...) keeps its state, certificates, data and logs:
 *  all under .dev-env/cluster-N/, except its kubeconfig, which sits beside the first one. */
export interface ClusterPaths {
  index: number;
  dir: string;
  stateFile: string;
  kubeconfig: string;
  pki: string;
  logs: string;
  data: string;
}

export function clusterPaths(paths: DevEnvPaths, index: number): ClusterPaths {
  if (!Number.isInteger(index) || index < 2) throw new Error(`cluster index ${index}: additional clusters are numbered from 2`);
  const dir = join(paths.dir, `cluster-${index}`);
  return {
    index,
    dir,
    stateFile: join(dir, "env.json"),
    kubeconfig: join(paths.dir, `kubeconfig-${index}`),
    pki: join(dir, "pki"),
    logs: join(dir, "logs"),
    data: join(dir, "data"),
  };
}
