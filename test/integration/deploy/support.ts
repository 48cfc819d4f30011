// Shared by the deploy tests: the locally built kubectl against the local apiserver, a
// kustomize overlay that installs deploy/ under unique names (the apiserver is shared),
// an in-cluster ServiceAccount directory for KUBE_OBSERVER_IN_CLUSTER_ROOT, and a
// directory laid out the way the kubelet mounts a ConfigMap.
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { repoRoot } from "../../support/agent.js";
import { devEnv } from "../../support/cluster.js";

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The kubectl built with the local control plane (scripts/controlplane/build.sh). */
export function kubectlPath(): string {
  return join(devEnv().layout.controlPlaneBin, "kubectl");
}

/** Runs kubectl with the local admin kubeconfig (unless args bring their own credentials). */
export function kubectl(args: string[], options: { input?: string; admin?: boolean } = {}): Promise<KubectlResult> {
  const auth = options.admin === false ? [] : ["--kubeconfig", devEnv().kubeconfig];
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), [...auth, ...args], { cwd: repoRoot, env: { ...process.env, KUBECONFIG: "" }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** kubectl that must succeed; resolves with its stdout. */
export async function kubectlOk(args: string[], options: { input?: string; admin?: boolean } = {}): Promise<string> {
  const result = await kubectl(args, options);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** For clean-up: retries while the apiserver does not answer (other tests restart it). */
export async function kubectlCleanup(args: string[], options: { input?: string } = {}, attempts = 10): Promise<KubectlResult> {
  let result = await kubectl(args, options);
  for (let i = 1; i < attempts && result.code !== 0 && /connection refused|unable to connect|timeout|EOF/i.test(result.stderr); i++) {
    await new Promise((r) => setTimeout(r, 3_000));
    result = await kubectl(args, options);
  }
  return result;
}

/**
 * A kustomize overlay of deploy/ that only renames: its namespace becomes `namespace`
 * and every name gets `suffix` (the ClusterRole and ClusterRoleBinding are
 * cluster-wide, so two copies must not share names). Returns the overlay directory.
 */
export function deployOverlay(namespace: string, suffix: string): string {
  const dir = mkdtempSync(join(tmpdir(), "kube-observer-deploy-overlay-"));
  writeFileSync(
    join(dir, "kustomization.yaml"),
    [
      "apiVersion: kustomize.config.k8s.io/v1beta1",
      "kind: Kustomization",
      // Quoted: a suffix of digits alone ("-13630509") would be a YAML number.
      `namespace: ${JSON.stringify(namespace)}`,
      `nameSuffix: ${JSON.stringify(`-${suffix}`)}`,
      "resources:",
      `  - ${relative(dir, join(repoRoot, "deploy"))}`,
      "",
    ].join("\n"),
  );
  return dir;
}

/**
 * A directory laid out like a pod's filesystem for client-node's in-cluster loading:
 * <root>/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}.
 */
export function inClusterRoot(token: string, namespace: string): string {
  const root = mkdtempSync(join(tmpdir(), "kube-observer-in-cluster-"));
  const sa = join(root, "var/run/secrets/kubernetes.io/serviceaccount");
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, "token"), token, { mode: 0o600 });
  writeFileSync(join(sa, "namespace"), namespace);
  copyFileSync(devEnv().caFile, join(sa, "ca.crt"));
  return root;
}

/** What the kubelet gives a pod: the apiserver as KUBERNETES_SERVICE_HOST/PORT. */
export function inClusterEnv(root: string): Record<string, string> {
  const url = new URL(devEnv().apiserverUrl);
  return {
    KUBE_OBSERVER_IN_CLUSTER_ROOT: root,
    KUBERNETES_SERVICE_HOST: url.hostname,
    KUBERNETES_SERVICE_PORT: url.port,
    KUBECONFIG: "",
  };
}

/** A ConfigMap volume written the way the kubelet's atomic writer (pkg/volume/util/atomic_writer.go) writes it. */
export class ConfigMapVolume {
  readonly dir = mkdtempSync(join(tmpdir(), "kube-observer-mounted-"));
  /** The name of the timestamped directory `..data` points at. */
  current: string | undefined;

  /** A new timestamped directory with `files`, swapped in atomically; the old one removed. */
  update(files: Record<string, string>): void {
    // os.MkdirTemp(targetDir, time.Now().UTC().Format("..2006_01_02_15_04_05.")): the random suffix is digits.
    const stamp = new Date()
      .toISOString()
      .replace(/[-T:]/g, "_")
      .replace(/\.\d+Z$/, "");
    const tsDir = `..${stamp}.${String(randomInt(1e8, 1e9))}`;
    mkdirSync(join(this.dir, tsDir), { mode: 0o755 });
    for (const [key, text] of Object.entries(files)) writeFileSync(join(this.dir, tsDir, key), text, { mode: 0o644 });
    const old = this.current;
    // A relative link, renamed over `..data`: readers see the old files or the new ones, never a mix.
    symlinkSync(tsDir, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const key of Object.keys(files)) {
      if (!existsSync(join(this.dir, key))) symlinkSync(join("..data", key), join(this.dir, key));
    }
    if (old) rmSync(join(this.dir, old), { recursive: true });
    this.current = tsDir;
  }

  /** Overwrites a file inside the current timestamped directory (no `..data` swap). */
  editInPlace(key: string, text: string): void {
    writeFileSync(join(this.dir, this.current!, key), text);
  }

  /** The timestamped directories present. */
  timestampedDirs(): string[] {
    return readdirSync(this.dir).filter((n) => /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/.test(n));
  }
}
