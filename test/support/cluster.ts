// Helpers for tests that talk to the local kube-apiserver and Neo4j.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { inject } from "vitest";
import * as k8s from "@kubernetes/client-node";
import neo4j, { type Driver } from "neo4j-driver";
import type { DevEnvState } from "../../scripts/devenv/env.js";

export function devEnv(): DevEnvState {
  return inject("devEnv");
}

export function adminKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(devEnv().kubeconfig);
  return kc;
}

/** A KubeConfig for the same cluster that authenticates with a bearer token. */
export function tokenKubeConfig(token: string): k8s.KubeConfig {
  const admin = adminKubeConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the dev kubeconfig has no current cluster");
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "token-user", token }],
    contexts: [{ name: "token", cluster: cluster.name, user: "token-user" }],
    currentContext: "token",
  });
  return kc;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

export function neo4jDriver(): Driver {
  const { boltUrl, user, password } = devEnv().neo4j;
  return neo4j.driver(boltUrl, neo4j.auth.basic(user, password));
}

/** Polls until check returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof k8s.ApiException ? error.code : undefined;
}

/** Runs fn over items with at most `concurrency` in flight. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
}

/** Creates a namespace and waits for kube-controller-manager to give it its default ServiceAccount. */
export async function createNamespace(core: k8s.CoreV1Api, name: string, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
  await eventually(`the default ServiceAccount in ${name}`, () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }).catch(() => undefined),
  );
}

export async function deleteNamespaces(core: k8s.CoreV1Api, names: readonly string[]): Promise<void> {
  await forEachLimited(names, 20, (name) => core.deleteNamespace({ name }).catch(() => undefined));
}

/** A minimal Pod (it stays Pending: there is no scheduler). */
export function podManifest(name: string, extra: Partial<k8s.V1PodSpec> = {}, labels: Record<string, string> = {}): k8s.V1Pod {
  return {
    metadata: { name, labels },
    spec: { containers: [{ name: "main", image: "registry.example/app:1.0" }], ...extra },
  };
}

/** Sum of apiserver_request_total samples whose labels include all of `labels`. */
export async function apiserverRequestCount(labels: Record<string, string>): Promise<number> {
  const env = devEnv();
  const { request } = await import("node:https");
  const { readFileSync } = await import("node:fs");
  const text = await new Promise<string>((resolveText, reject) => {
    const req = request(`${env.apiserverUrl}/metrics`, { ca: readFileSync(env.caFile), headers: { authorization: `Bearer ${env.adminToken}` } }, (res) => {
      let body = "";
      res
        .setEncoding("utf8")
        .on("data", (c: string) => (body += c))
        .on("end", () => resolveText(body));
    });
    req.on("error", reject);
    req.end();
  });
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const labelText = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}"));
    const matches = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

/** Writes a kubeconfig for the local cluster that authenticates with `token`. */
export function writeTokenKubeconfig(token: string, dir: string): string {
  const file = `${dir}/kubeconfig-token`;
  writeFileSync(file, tokenKubeConfig(token).exportConfig(), { mode: 0o600 });
  return file;
}

/** A ServiceAccount token from the TokenRequest API. */
export async function serviceAccountToken(core: k8s.CoreV1Api, namespace: string, name: string): Promise<string> {
  const response = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  return response.status!.token;
}

/** Established TCP connections of process `pid` to 127.0.0.1:`port` (from /proc: no
 *  tool needed), e.g. the agent's sockets to the apiserver. */
export function socketsTo(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local, remote, state (01 = ESTABLISHED), …, inode (column 9)
      if (cols.length > 9 && cols[2]!.endsWith(`:${hexPort}`) && cols[3] === "01" && inodes.has(cols[9]!)) count += 1;
    }
  }
  return count;
}
