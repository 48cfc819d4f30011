// Shared by the config tests: fixture paths as a user would type them (relative to the
// working directory, so messages show them unchanged) and the built-in resources.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { ConfigError, type KnownResources } from "../../../core/config/model.js";
import { configErrorList } from "../../../core/config/validate.js";

const fixtures = fileURLToPath(new URL("../../fixtures/config/", import.meta.url));

export function fixture(name: string): string {
  return path.relative(process.cwd(), path.join(fixtures, name));
}

export const repoFile = (name: string): string => path.relative(process.cwd(), fileURLToPath(new URL(`../../../${name}`, import.meta.url)));

export const knownResources: KnownResources = new Map([
  ["pod", { namespaced: true }],
  ["configmap", { namespaced: true }],
  ["secret", { namespaced: true }],
  ["serviceaccount", { namespaced: true }],
  ["persistentvolumeclaim", { namespaced: true }],
  ...["deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob"].map((r) => [r, { namespaced: true }] as const),
  ...["service", "ingress", "role", "rolebinding"].map((r): [string, { namespaced: boolean }] => [r, { namespaced: true }]),
  ["node", { namespaced: false }],
  ["namespace", { namespaced: false }],
  ...["persistentvolume", "storageclass", "clusterrole", "clusterrolebinding"].map((r): [string, { namespaced: boolean }] => [r, { namespaced: false }]),
]);

/** The messages (`file:line:col: reason`) of the ConfigError a promise rejects with. */
export async function configErrors(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return configErrorList(error as ConfigError).map((e) => e.message);
}
