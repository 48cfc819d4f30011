// What starting any cluster of the local environment shares: starting one server and
// waiting for it, the error that names a server with its log, the admin kubeconfig,
// and state files written atomically.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { ServerDefinition } from "./servers.js";
import { isAlive, startDetached, stopProcess, tail, waitUntil } from "./proc.js";

export type Say = (line: string) => void;

/** How to reach one cluster's control plane: what every cluster's state file records. */
export interface ClusterConnection {
  startedAt: string;
  kubeconfig: string;
  apiserverUrl: string;
  etcdUrl: string;
  adminToken: string;
  caFile: string;
}

/** Which of the recorded servers are alive and answering (env:status, reuse checks). */
export async function probeServers<N extends string>(
  names: readonly N[],
  pids: Record<N, number>,
  define: (name: N) => ServerDefinition,
): Promise<Record<N, boolean>> {
  const result = {} as Record<N, boolean>;
  for (const name of names) {
    let ok = isAlive(pids[name]);
    if (ok) {
      try {
        ok = await define(name).ready();
      } catch {
        ok = false;
      }
    }
    result[name] = ok;
  }
  return result;
}
export const quiet: Say = () => undefined;

export class ServerFailedError extends Error {
  constructor(
    readonly server: string,
    reason: string,
    readonly logTail: string,
  ) {
    super(`${server} failed: ${reason}\n--- last lines of ${server}'s log ---\n${logTail}`);
    this.name = "ServerFailedError";
  }
}

/** Starts a server and resolves with its pid once it answers as ready; on failure it is
 *  stopped and the error carries its log's tail. `label` names it in messages. */
export async function startServer(label: string, server: ServerDefinition, say: Say): Promise<number> {
  say(`starting ${label}`);
  const started = Date.now();
  const pid = startDetached(server.spec);
  try {
    await waitUntil(label, pid, server.ready, server.readyTimeoutMs);
  } catch (error) {
    await stopProcess(pid, 5_000);
    throw new ServerFailedError(label, (error as Error).message, tail(server.spec.log));
  }
  say(`${label} is ready (pid ${pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return pid;
}

/** An admin kubeconfig that trusts the cluster's CA (no insecure-skip-tls-verify). */
export function kubeconfigYaml(url: string, caFile: string, token: string, name = "kube-observer-dev"): string {
  const ca = readFileSync(caFile).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${name}`,
    "  cluster:",
    `    server: ${url}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    "- name: admin",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    `- name: ${name}`,
    "  context:",
    `    cluster: ${name}`,
    "    user: admin",
    `current-context: ${name}`,
    "",
  ].join("\n");
}

/** Replaces file with value as JSON in one rename, so a reader never sees half of it. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
