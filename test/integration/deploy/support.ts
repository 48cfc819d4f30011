// Shared by the deploy tests: the locally built kubectl against the local apiserver, a
// kustomize overlay that installs deploy/ under unique names (the apiserver is shared),
// and an in-cluster ServiceAccount directory for KUBE_OBSERVER_IN_CLUSTER_ROOT.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
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
