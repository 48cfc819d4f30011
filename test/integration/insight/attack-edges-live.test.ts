// Attack edges kept in the graph as the cluster changes (config attackEdges = True), in
// both sinks: each change adds or removes exactly the edges it should, including ones that
// wait for a missing end (a binding made before its account), and `verify`, which derives
// the expected attack edges from its own LIST, finds the graph equal after each phase.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { ExportLine } from "../../../core/graph/model.js";
import { AgentProcess } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const id = randomBytes(4).toString("hex");
const NODE = `ko-${id}-edges-node`;
const namespaces: string[] = [];
const clusterBindings: string[] = [];

beforeAll(async () => {
  await core.createNode({ body: { metadata: { name: NODE } } });
}, 30_000);

afterAll(async () => {
  await deleteNamespaces(core, namespaces);
  await Promise.all(clusterBindings.map((name) => rbac.deleteClusterRoleBinding({ name }).catch(() => undefined)));
  await core.deleteNode({ name: NODE }).catch(() => undefined);
});

const rb = (name: string, role: string, account: string): k8s.V1RoleBinding => ({
  metadata: { name },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
  subjects: [{ kind: "ServiceAccount", name: account }],
});

describe.each(["sqlite", "neo4j"] as const)("attack edges in the %s graph", (sink: SinkKind) => {
  it("follow every change, and verify finds the graph equal to what the cluster implies", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    const Y = `edges-${sink}-${id}`;
    namespaces.push(Y);
    await createNamespace(core, Y);
    await core.createNamespacedServiceAccount({ namespace: Y, body: { metadata: { name: "reader" } } });
    await core.createNamespacedSecret({ namespace: Y, body: { metadata: { name: "s1" }, stringData: { k: "v" } } });
    await rbac.createNamespacedRole({
      namespace: Y,
      body: { metadata: { name: "get-secrets" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] },
    });
    await rbac.createNamespacedRoleBinding({ namespace: Y, body: rb("reader", "get-secrets", "reader") });

    const ws = workspace(
      sink,
      [
        ...["pod", "secret", "serviceaccount", "role", "rolebinding"].map((resource) => ({ resource, namespace: Y })),
        ...["namespace", "node", "clusterrole", "clusterrolebinding"].map((resource) => ({ resource })),
      ],
      { attackEdges: true },
    );
    const agent = ws.run();
    const key = (label: string, name: string, ns: string | null = Y): string => (ns ? `local/${ns}/${label}/${name}` : `local/${label}/${name}`);
    const derived = async (): Promise<string[]> =>
      (await ws.exportLines())
        .filter(
          (l): l is Extract<ExportLine, { type: "edge" }> => l.type === "edge" && l.properties.derived === true && (l.from.includes(Y) || l.to.includes(Y)),
        )
        .map((l) => `${l.rel} ${l.from} -> ${l.to}`)
        .sort();
    const until = async (what: string, check: (edges: string[]) => boolean): Promise<string[]> => {
      let last: string[] = [];
      return eventually(
        what,
        async () => {
          last = await derived();
          return check(last) ? last : undefined;
        },
        30_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; derived edges: ${JSON.stringify(last, null, 1)}`);
      });
    };
    const verify = async (): Promise<void> => {
      const run = new AgentProcess(["verify", "--config", ws.config, "--settle-seconds", "30", "--interval-seconds", "0.5", "--json"], ws.env);
      const exit = await run.exited;
      expect(exit.code, run.stdout.slice(0, 3000)).toBe(0);
    };
    const readS1 = `CAN_READ_SECRET ${key("ServiceAccount", "reader")} -> ${key("Secret", "s1")}`;
    const readS2 = `CAN_READ_SECRET ${key("ServiceAccount", "reader")} -> ${key("Secret", "s2")}`;
    try {
      await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 90_000);
      await until("the first derivation", (e) => e.includes(readS1));
      await verify();

      // A new Secret: the reader reaches it. The binding goes: every read edge goes.
      await core.createNamespacedSecret({ namespace: Y, body: { metadata: { name: "s2" }, stringData: { k: "v" } } });
      await until("the new Secret's edge", (e) => e.includes(readS2));
      await rbac.deleteNamespacedRoleBinding({ namespace: Y, name: "reader" });
      await until("the read edges to go", (e) => !e.some((x) => x.startsWith("CAN_READ_SECRET")));

      // A binding made before its account: the edge waits for the account.
      await rbac.createNamespacedRoleBinding({ namespace: Y, body: rb("late", "get-secrets", "late") });
      await new Promise((r) => setTimeout(r, 1000));
      expect((await derived()).some((x) => x.includes(key("ServiceAccount", "late")))).toBe(false);
      await core.createNamespacedServiceAccount({ namespace: Y, body: { metadata: { name: "late" } } });
      await until("the late account's edges", (e) => e.includes(`CAN_READ_SECRET ${key("ServiceAccount", "late")} -> ${key("Secret", "s2")}`));

      // cluster-admin by a ClusterRoleBinding, and a privileged pod on a node with its token.
      const admin = `ko-${id}-${sink}-admin`;
      clusterBindings.push(admin);
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: admin },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
          subjects: [{ kind: "ServiceAccount", name: "reader", namespace: Y }],
        },
      });
      await core.createNamespacedPod({
        namespace: Y,
        body: {
          metadata: { name: "priv" },
          spec: { serviceAccountName: "reader", nodeName: NODE, containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }] },
        },
      });
      const all = await until("cluster-admin and the pod's edges", (e) =>
        [
          `IS_CLUSTER_ADMIN ${key("ServiceAccount", "reader")} -> local/ClusterRole/cluster-admin`,
          `CAN_ESCAPE_TO ${key("Pod", "priv")} -> ${key("Node", NODE, null)}`,
          `USES_TOKEN_OF ${key("Pod", "priv")} -> ${key("ServiceAccount", "reader")}`,
          `HOLDS_TOKEN_OF ${key("Node", NODE, null)} -> ${key("ServiceAccount", "reader")}`,
          readS1,
          `CAN_EXEC_INTO ${key("ServiceAccount", "reader")} -> ${key("Pod", "priv")}`,
        ].every((x) => e.includes(x)),
      );
      expect(all).toContain(`CAN_CREATE_PODS_IN ${key("ServiceAccount", "reader")} -> local/Namespace/${Y}`);
      await verify();

      // Both go: so do their edges, and the pod leaves no placeholder behind.
      await rbac.deleteClusterRoleBinding({ name: admin });
      await core.deleteNamespacedPod({ namespace: Y, name: "priv", gracePeriodSeconds: 0 });
      await until(
        "the edges to go",
        (e) => !e.some((x) => x.startsWith("IS_CLUSTER_ADMIN") || x.includes(key("Pod", "priv")) || x.startsWith("HOLDS_TOKEN_OF")),
      );
      expect((await ws.exportLines()).some((l) => l.type === "node" && l.key === key("Pod", "priv"))).toBe(false);
      await verify();
    } finally {
      await agent.stop();
    }
  }, 300_000);
});
