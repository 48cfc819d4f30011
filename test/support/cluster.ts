// Helpers for tests that talk to the local kube-apiserver and Neo4j.
import { randomBytes } from "node:crypto";
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
