// The example BackupPolicy CustomResourceDefinition (examples/plugins/backuppolicy.crd.yaml)
// in the local apiserver: installed through apiextensions.k8s.io/v1 and waited on until
// the apiserver serves it, or deleted and waited on until it no longer does.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { repoRoot } from "./agent.js";
import { adminKubeConfig, eventually, statusOf } from "./cluster.js";

export const examplePluginDir = join(repoRoot, "examples/plugins");
export const examplePluginFile = join(examplePluginDir, "backuppolicy.mjs");
export const BACKUP = { group: "examples.kube-observer.dev", version: "v1", plural: "backuppolicies", kind: "BackupPolicy" } as const;
export const BACKUP_CRD = `${BACKUP.plural}.${BACKUP.group}`;
export const BACKUP_API = `${BACKUP.group}/${BACKUP.version}/${BACKUP.plural}`;

const kc = adminKubeConfig();
const extensions = kc.makeApiClient(k8s.ApiextensionsV1Api);
export const customObjects = kc.makeApiClient(k8s.CustomObjectsApi);

export function backupCrdManifest(): k8s.V1CustomResourceDefinition {
  return parse(readFileSync(join(examplePluginDir, "backuppolicy.crd.yaml"), "utf8")) as k8s.V1CustomResourceDefinition;
}

/** Whether LIST of BackupPolicies answers (cluster-wide); false on 404. */
async function served(): Promise<boolean> {
  try {
    await customObjects.listClusterCustomObject({ group: BACKUP.group, version: BACKUP.version, plural: BACKUP.plural, limit: 1 });
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}

/** Installs the CRD (waiting out a previous one still being deleted) and waits until it
 *  is Established and its objects can be listed. */
export async function installBackupCrd(): Promise<void> {
  await eventually(
    "the BackupPolicy CRD to be created",
    async () => {
      try {
        await extensions.createCustomResourceDefinition({ body: backupCrdManifest() });
        return true;
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
        const existing = await extensions.readCustomResourceDefinition({ name: BACKUP_CRD });
        // Already there and not going away: fine. Being deleted: try again.
        return existing.metadata?.deletionTimestamp ? undefined : true;
      }
    },
    120_000,
    500,
  );
  await eventually("the BackupPolicy CRD to be Established", async () => {
    const crd = await extensions.readCustomResourceDefinition({ name: BACKUP_CRD });
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
  });
  await eventually("the apiserver to serve BackupPolicies", async () => ((await served()) ? true : undefined));
}

/** Deletes the CRD (and with it every BackupPolicy) and waits until it is gone and the
 *  apiserver answers 404 for its objects. */
export async function deleteBackupCrd(): Promise<void> {
  await extensions.deleteCustomResourceDefinition({ name: BACKUP_CRD }).catch((error: unknown) => {
    if (statusOf(error) !== 404) throw error;
  });
  await eventually(
    "the BackupPolicy CRD to be deleted",
    async () => {
      try {
        await extensions.readCustomResourceDefinition({ name: BACKUP_CRD });
        return undefined;
      } catch (error) {
        if (statusOf(error) === 404) return true;
        throw error;
      }
    },
    120_000,
    500,
  );
  await eventually("the apiserver to stop serving BackupPolicies", async () => ((await served()) ? undefined : true));
}

export interface BackupPolicySpec {
  schedule: string;
  target: string;
  retentionDays?: number;
  suspend?: boolean;
  credentialsSecretRef: { name: string; key?: string };
  encryptionKeySecretRef?: { name: string; key?: string };
  encryptionKey?: string;
}

export async function createBackupPolicy(namespace: string, name: string, spec: BackupPolicySpec, labels: Record<string, string> = {}): Promise<void> {
  await customObjects.createNamespacedCustomObject({
    group: BACKUP.group,
    version: BACKUP.version,
    namespace,
    plural: BACKUP.plural,
    body: { apiVersion: `${BACKUP.group}/${BACKUP.version}`, kind: BACKUP.kind, metadata: { name, labels }, spec },
  });
}

export async function replaceBackupPolicySpec(namespace: string, name: string, spec: BackupPolicySpec): Promise<void> {
  const current = (await customObjects.getNamespacedCustomObject({ group: BACKUP.group, version: BACKUP.version, namespace, plural: BACKUP.plural, name })) as {
    metadata: Record<string, unknown>;
  };
  await customObjects.replaceNamespacedCustomObject({
    group: BACKUP.group,
    version: BACKUP.version,
    namespace,
    plural: BACKUP.plural,
    name,
    body: { apiVersion: `${BACKUP.group}/${BACKUP.version}`, kind: BACKUP.kind, metadata: current.metadata, spec },
  });
}

export async function deleteBackupPolicy(namespace: string, name: string): Promise<void> {
  await customObjects.deleteNamespacedCustomObject({ group: BACKUP.group, version: BACKUP.version, namespace, plural: BACKUP.plural, name });
}
