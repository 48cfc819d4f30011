// The example third-party plugin (examples/plugins/backuppolicy.mjs) against the real
// apiserver: its CRD installed through apiextensions.k8s.io/v1, BackupPolicies that name
// Secrets (one missing), the agent started with pluginDirs = examples/plugins. The graph
// gets exactly the expected BackupPolicy nodes and USES_SECRET edges, follows an update
// and a delete, answers who-uses, and never holds a secret value.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { ExportLine } from "../../../core/graph/model.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import {
  createBackupPolicy,
  deleteBackupCrd,
  deleteBackupPolicy,
  examplePluginDir,
  examplePluginFile,
  installBackupCrd,
  replaceBackupPolicySpec,
} from "../../support/crd.js";
import { edgesOf, nodesOf, waitForGraph, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("plugins-crd");
const canary = (where: string): string => `CANARY${where}${Math.random().toString(36).slice(2, 10)}`;
const secrets = { inlineKey: canary("inlinekey"), urlPassword: canary("urlpassword"), urlSignature: canary("urlsig"), secretData: canary("secretdata") };
const ws = workspace(
  "sqlite",
  [
    { resource: "backuppolicy", namespace: ns },
    { resource: "secret", namespace: ns },
  ],
  { pluginDirs: [examplePluginDir], logLevel: "debug" },
);
let agent: AgentProcess | undefined;

const k = (kind: string, name: string): string => `local/${ns}/${kind}/${name}`;
const same = (a: string[], b: string[]): boolean => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

/** This test's part of the graph, as "labels key observed|placeholder" and "from -REL-> to {props}" lines. */
function summary(lines: ExportLine[]): { nodes: string[]; edges: string[] } {
  const mine = (key: string): boolean => key.startsWith(`local/${ns}/`);
  return {
    nodes: nodesOf(lines)
      .filter((n) => mine(n.key))
      .map((n) => `${n.labels.join(",")} ${n.key} ${n.properties.observed ? "observed" : "placeholder"}`),
    edges: edgesOf(lines)
      .filter((e) => mine(e.from))
      .map((e) => {
        const { owner, ...properties } = e.properties;
        // Edges belong to the object that declares them.
        return `${e.from} -${e.rel}-> ${e.to} ${JSON.stringify(properties)}${owner === e.from ? "" : ` owner=${String(owner)}`}`;
      }),
  };
}

afterAll(async () => {
  await agent?.stop();
  await deleteNamespaces(core, [ns]);
  await deleteBackupCrd();
});

describe("the example BackupPolicy plugin", () => {
  beforeAll(async () => {
    await installBackupCrd();
    await createNamespace(core, ns);
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "s3-creds" }, stringData: { access: "AKIA-not-real", secret: secrets.secretData } },
    });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "backup-key" }, stringData: { key: secrets.secretData } } });
    await createBackupPolicy(
      ns,
      "nightly",
      {
        schedule: "0 2 * * *",
        target: `s3://backup-user:${secrets.urlPassword}@backups.example/nightly?signature=${secrets.urlSignature}`,
        retentionDays: 14,
        credentialsSecretRef: { name: "s3-creds", key: "access" },
        encryptionKeySecretRef: { name: "backup-key" },
      },
      { team: "payments" },
    );
    // Its credentials Secret does not exist; its encryption key is inline (a secret value).
    await createBackupPolicy(ns, "weekly", {
      schedule: "0 4 * * 0",
      target: "archive-bucket",
      suspend: true,
      credentialsSecretRef: { name: "gone-creds" },
      encryptionKey: secrets.inlineKey,
    });
    // One Secret for both: one Secret node, two edges.
    await createBackupPolicy(ns, "shared", {
      schedule: "@daily",
      target: "s3://backups.example/shared",
      credentialsSecretRef: { name: "s3-creds" },
      encryptionKeySecretRef: { name: "s3-creds", key: "secret" },
    });
    agent = ws.run();
  }, 180_000);

  it("gives exactly the expected nodes and edges", async () => {
    const expectedNodes = [
      `BackupPolicy ${k("BackupPolicy", "nightly")} observed`,
      `BackupPolicy ${k("BackupPolicy", "shared")} observed`,
      `BackupPolicy ${k("BackupPolicy", "weekly")} observed`,
      `Secret ${k("Secret", "backup-key")} observed`,
      `Secret ${k("Secret", "gone-creds")} placeholder`,
      `Secret ${k("Secret", "s3-creds")} observed`,
    ];
    const expectedEdges = [
      `${k("BackupPolicy", "nightly")} -USES_SECRET-> ${k("Secret", "backup-key")} {"via":"encryptionKey"}`,
      `${k("BackupPolicy", "nightly")} -USES_SECRET-> ${k("Secret", "s3-creds")} {"key":"access","via":"credentials"}`,
      `${k("BackupPolicy", "shared")} -USES_SECRET-> ${k("Secret", "s3-creds")} {"key":"secret","via":"encryptionKey"}`,
      `${k("BackupPolicy", "shared")} -USES_SECRET-> ${k("Secret", "s3-creds")} {"via":"credentials"}`,
      `${k("BackupPolicy", "weekly")} -USES_SECRET-> ${k("Secret", "gone-creds")} {"via":"credentials"}`,
    ];
    // Observers deliver independently: wait for the whole expected graph, then compare
    // in full (a difference shows completely).
    const lines = await waitForGraph(
      ws,
      "every BackupPolicy and Secret, and every edge",
      (l) => {
        const s = summary(l);
        return same(s.nodes, expectedNodes) && same(s.edges, expectedEdges) ? l : undefined;
      },
      60_000,
    ).catch(() => ws.exportLines());
    const s = summary(lines);
    expect([...s.nodes].sort()).toEqual([...expectedNodes].sort());
    expect([...s.edges].sort()).toEqual([...expectedEdges].sort());

    const byKey = new Map(nodesOf(lines).map((n) => [n.key, n.properties]));
    const volatile = ["uid", "resourceVersion", "observedAt", "creationTimestamp"];
    const stable = (key: string): Record<string, unknown> => Object.fromEntries(Object.entries(byKey.get(key) ?? {}).filter(([p]) => !volatile.includes(p)));
    expect(typeof byKey.get(k("BackupPolicy", "nightly"))?.creationTimestamp).toBe("string");
    expect(stable(k("BackupPolicy", "nightly"))).toEqual({
      cluster: "local",
      namespace: ns,
      name: "nightly",
      observed: true,
      owner: k("BackupPolicy", "nightly"),
      scope: `local/${ns}/BackupPolicy`,
      labels: ["team=payments"],
      annotations: [],
      schedule: "0 2 * * *",
      // The URL's user, password and query (a signature) are gone.
      target: "s3://backups.example/nightly",
      retentionDays: 14,
      suspended: false,
      inlineEncryptionKey: false,
    });
    expect(stable(k("BackupPolicy", "weekly"))).toMatchObject({ target: "archive-bucket", suspended: true, inlineEncryptionKey: true });
    expect(stable(k("BackupPolicy", "weekly"))).not.toHaveProperty("retentionDays");
    // A placeholder carries only what its reference knows.
    expect(stable(k("Secret", "gone-creds"))).toEqual({ cluster: "local", namespace: ns, name: "gone-creds", observed: false });
  });

  it("answers who-uses for a Secret the BackupPolicies use", async () => {
    const query = new AgentProcess(["who-uses", "secret", "s3-creds", "-n", ns, "--config", ws.config, "--json"]);
    expect((await query.exited).code).toBe(0);
    const answer = JSON.parse(query.stdout) as {
      target: string;
      usages: Array<{ user: { label: string; name: string }; how: Array<{ rel: string; via: string | null }> }>;
    };
    expect(answer.target).toBe(k("Secret", "s3-creds"));
    expect(answer.usages.map((u) => `${u.user.label} ${u.user.name} ${u.how.map((h) => `${h.rel}(${h.via})`).join(">")}`).sort()).toEqual([
      "BackupPolicy nightly USES_SECRET(credentials)",
      "BackupPolicy shared USES_SECRET(credentials)",
      "BackupPolicy shared USES_SECRET(encryptionKey)",
    ]);
  });

  it("follows an update and a delete", async () => {
    const a = agent!;
    // nightly: no encryption key any more, another schedule. weekly: deleted.
    await replaceBackupPolicySpec(ns, "nightly", {
      schedule: "30 3 * * *",
      target: "s3://backups.example/nightly",
      credentialsSecretRef: { name: "s3-creds", key: "access" },
    });
    await deleteBackupPolicy(ns, "weekly");
    const lines = await waitForGraph(
      ws,
      "the update and the delete",
      (l) => {
        const nodes = new Map(nodesOf(l).map((n) => [n.key, n.properties]));
        return nodes.get(k("BackupPolicy", "nightly"))?.schedule === "30 3 * * *" && !nodes.has(k("BackupPolicy", "weekly")) ? l : undefined;
      },
      60_000,
    );
    const s = summary(lines);
    // backup-key stays (an observed Secret); gone-creds, referenced by nothing now, goes.
    expect([...s.nodes].sort()).toEqual(
      [
        `BackupPolicy ${k("BackupPolicy", "nightly")} observed`,
        `BackupPolicy ${k("BackupPolicy", "shared")} observed`,
        `Secret ${k("Secret", "backup-key")} observed`,
        `Secret ${k("Secret", "s3-creds")} observed`,
      ].sort(),
    );
    expect([...s.edges].sort()).toEqual(
      [
        `${k("BackupPolicy", "nightly")} -USES_SECRET-> ${k("Secret", "s3-creds")} {"key":"access","via":"credentials"}`,
        `${k("BackupPolicy", "shared")} -USES_SECRET-> ${k("Secret", "s3-creds")} {"key":"secret","via":"encryptionKey"}`,
        `${k("BackupPolicy", "shared")} -USES_SECRET-> ${k("Secret", "s3-creds")} {"via":"credentials"}`,
      ].sort(),
    );

    // Nothing was parked, and it all happened in the one agent process.
    const status = new AgentProcess(["wal", "status", "--config", ws.config, "--json"]);
    await status.exited;
    expect(JSON.parse(status.stdout)).toMatchObject({ parked: 0 });
    expect(a.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    expect(a.logs.some((l) => l.msg === "message parked")).toBe(false);
  });

  it("never stores or logs a secret value", async () => {
    const a = agent!;
    await a.stop();
    expect(a.logs.some((l) => l.file === examplePluginFile)).toBe(false); // loaded without complaint
    const files = readdirSync(ws.dir).map((f) => join(ws.dir, f));
    expect(files.some((f) => f.endsWith("wal.sqlite"))).toBe(true);
    expect(files.some((f) => f.endsWith("graph.sqlite"))).toBe(true);
    const exported = JSON.stringify(await ws.exportLines());
    expect(exported).toContain("nightly");
    for (const value of Object.values(secrets)) {
      for (const file of files) expect(readFileSync(file).includes(value), `${value} in ${file}`).toBe(false);
      expect(exported).not.toContain(value);
      expect(a.stderr).not.toContain(value);
      expect(a.stdout).not.toContain(value);
    }
  });
});
