// `run --once --output jsonl` delivers exactly what a direct LIST returns (with paging),
// and no secret value reaches the output or the logs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { KubeMessage } from "../../../core/messages.js";
import { AgentProcess, scopeMessages, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, forEachLimited, podManifest, uniqueName } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const small = uniqueName("once-small");
const big = uniqueName("once-big");
const BIG_PODS = 520; // more than one 500-object page
const canary = (where: string): string => `CANARY-${where}-${Math.random().toString(36).slice(2, 10)}`;
const canaries = {
  data: canary("data"),
  stringData: canary("stringdata"),
  lastApplied: canary("lastapplied"),
  cmLastApplied: canary("cm-lastapplied"),
  env: canary("env"),
};

type Listed = { name: string; uid: string };
const resources: Array<{ resource: string; list: (ns: string) => Promise<{ items: Array<{ metadata?: k8s.V1ObjectMeta }> }> }> = [
  { resource: "pod", list: (namespace) => core.listNamespacedPod({ namespace }) },
  { resource: "configmap", list: (namespace) => core.listNamespacedConfigMap({ namespace }) },
  { resource: "secret", list: (namespace) => core.listNamespacedSecret({ namespace }) },
  { resource: "serviceaccount", list: (namespace) => core.listNamespacedServiceAccount({ namespace }) },
  { resource: "persistentvolumeclaim", list: (namespace) => core.listNamespacedPersistentVolumeClaim({ namespace }) },
];

let agent: AgentProcess;
let exit: { code: number | null };

beforeAll(async () => {
  await createNamespace(core, small);
  await createNamespace(core, big);
  await core.createNamespacedConfigMap({
    namespace: small,
    body: {
      metadata: {
        name: "app-settings",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ data: { token: canaries.cmLastApplied } }) },
      },
      data: { mode: "strict" },
    },
  });
  await core.createNamespacedSecret({
    namespace: small,
    body: {
      metadata: {
        name: "db-credentials",
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ kind: "Secret", stringData: { password: canaries.lastApplied } }),
          team: "payments",
        },
      },
      data: { password: Buffer.from(canaries.data).toString("base64") },
      stringData: { apiKey: canaries.stringData },
    },
  });
  await core.createNamespacedServiceAccount({ namespace: small, body: { metadata: { name: "app" } } });
  await core.createNamespacedPersistentVolumeClaim({
    namespace: small,
    body: { metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
  });
  await core.createNamespacedPod({
    namespace: small,
    body: podManifest("app", {
      serviceAccountName: "app",
      containers: [
        {
          name: "main",
          image: "registry.example/app:1.0",
          env: [
            { name: "LITERAL", value: canaries.env },
            { name: "FROM_SECRET", valueFrom: { secretKeyRef: { name: "db-credentials", key: "password" } } },
          ],
        },
      ],
    }),
  });
  await forEachLimited(
    Array.from({ length: BIG_PODS }, (_, i) => `p-${String(i).padStart(4, "0")}`),
    25,
    (name) => core.createNamespacedPod({ namespace: big, body: podManifest(name) }),
  );

  const config = writeConfig({
    actors: resources.flatMap(({ resource }) => [
      { resource, namespace: small },
      { resource, namespace: big },
    ]),
    logLevel: "trace",
  });
  agent = AgentProcess.run(config, ["--once"]);
  exit = await agent.exited;
}, 240_000);

afterAll(async () => {
  await deleteNamespaces(core, [small, big]);
});

function applied(messages: KubeMessage[]): Listed[] {
  return messages
    .filter((m) => m.action === "Applied")
    .map((m) => ({ name: m.name!, uid: m.uid! }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

describe("run --once --output jsonl", () => {
  it("exits 0 after delivering every scope", () => {
    expect(exit.code, agent.logTail()).toBe(0);
    expect(agent.logs.some((l) => l.msg === "once: done" && l.failed === 0 && l.scopes === 10)).toBe(true);
  });

  it.each(resources.flatMap((r) => [[r.resource, "small"] as const, [r.resource, "big"] as const]))(
    "emits exactly the objects a direct LIST returns: %s in the %s namespace",
    async (resource, which) => {
      const namespace = which === "small" ? small : big;
      const direct = await resources.find((r) => r.resource === resource)!.list(namespace);
      const expected = direct.items.map((o) => ({ name: o.metadata!.name!, uid: o.metadata!.uid! })).sort((a, b) => a.name.localeCompare(b.name));
      const scope = scopeMessages(agent.messages, resource, namespace);
      expect(applied(scope)).toEqual(expected);
      // One relist boundary, naming the same objects, after all of them.
      const boundaries = scope.filter((m) => m.action === "Restarted");
      expect(boundaries).toHaveLength(1);
      expect(boundaries[0]!.present!.map((p) => ({ name: p.name, uid: p.uid })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(expected);
      expect(scope[scope.length - 1]!.action).toBe("Restarted");
      expect(scope.every((m) => m.cluster === "local" && m.action !== "Deleted")).toBe(true);
    },
  );

  it("pages through a namespace with more than 500 pods", () => {
    const pods = applied(scopeMessages(agent.messages, "pod", big));
    expect(pods).toHaveLength(BIG_PODS);
    expect(new Set(pods.map((p) => p.uid)).size).toBe(BIG_PODS);
  });

  it("keeps references and metadata but no secret value", () => {
    const secret = agent.messages.find((m) => m.resource === "secret" && m.name === "db-credentials")!;
    const reduced = secret.object as { keys: string[]; metadata: { annotations: Record<string, string> } };
    // The apiserver folds stringData into data on write: both keys, no values.
    expect(reduced.keys).toEqual(["apiKey", "password"]);
    // On a Secret, annotations keep their keys only (docs/graph-schema.md).
    expect(reduced.metadata.annotations).toEqual({ team: "<withheld>" });
    const pod = agent.messages.find((m) => m.resource === "pod" && m.name === "app")!;
    const env = (pod.object as { spec: { containers: Array<{ env: unknown[] }> } }).spec.containers[0]!.env;
    expect(env).toEqual([
      { name: "LITERAL", valueFrom: null },
      { name: "FROM_SECRET", valueFrom: { secretKeyRef: { name: "db-credentials", key: "password", optional: false } } },
    ]);
  });

  it("lets no canary value reach stdout or the logs (at trace level)", () => {
    expect(agent.logs.length).toBeGreaterThan(3);
    for (const value of Object.values(canaries)) {
      expect(agent.stdout).not.toContain(value);
      expect(agent.stderr).not.toContain(value);
    }
  });
});
