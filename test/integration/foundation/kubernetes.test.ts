// The local control plane is real: objects round-trip through etcd, RBAC and
// TokenRequest are enforced, and kube-controller-manager runs its controllers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { adminKubeConfig, devEnv, eventually, statusOf, tokenKubeConfig, uniqueName } from "../../support/cluster.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const namespace = uniqueName("foundation");

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe("kube-apiserver backed by etcd", () => {
  it("creates a namespace and a ConfigMap through client-node and lists them back", async () => {
    const ns = await core.readNamespace({ name: namespace });
    expect(ns.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);

    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "settings", labels: { app: "foundation" } }, data: { mode: "strict" } },
    });
    const list = await core.listNamespacedConfigMap({ namespace, labelSelector: "app=foundation" });
    expect(list.items.map((cm) => cm.metadata?.name)).toEqual(["settings"]);
    expect(list.items[0]?.data).toEqual({ mode: "strict" });
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThan(0);
  });

  it("serves the version pinned in scripts/controlplane/versions.env", async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toBe(devEnv().versions.kubernetes);
  });
});

describe("RBAC and ServiceAccount tokens", () => {
  it("a TokenRequest token is refused Secrets until a RoleBinding grants them", async () => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "reader" } } });
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: "reader",
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    expect(token).toBeTruthy();

    const asReader = tokenKubeConfig(token!).makeApiClient(k8s.CoreV1Api);
    const denied = await asReader.listNamespacedSecret({ namespace }).then(
      () => 200,
      (error: unknown) => statusOf(error),
    );
    expect(denied).toBe(403);

    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "secret-reader" },
        rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "reader-reads-secrets" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace }],
      },
    });
    // The RBAC authorizer's informer sees the new binding within a moment.
    const allowed = await eventually("the RoleBinding to take effect", async () => {
      await asReader.listNamespacedSecret({ namespace });
      return 200;
    });
    expect(allowed).toBe(200);
  });
});

describe("kube-controller-manager", () => {
  it("gives a Deployment its ReplicaSet, owned by the Deployment", async () => {
    const deployment = await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "nginx:1.27" }] },
          },
        },
      },
    });
    const replicaSet = await eventually("a ReplicaSet for the Deployment", async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace });
      return list.items.find((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === deployment.metadata?.uid));
    });
    const owner = replicaSet.metadata?.ownerReferences?.[0];
    expect(owner).toMatchObject({ kind: "Deployment", name: "web", controller: true });

    // The ReplicaSet controller creates the pod (it stays Pending: no scheduler or kubelet).
    const pod = await eventually("a Pod owned by the ReplicaSet", async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: "app=web" });
      return pods.items.find((p) => p.metadata?.ownerReferences?.some((o) => o.uid === replicaSet.metadata?.uid));
    });
    expect(pod.spec?.containers[0]?.image).toBe("nginx:1.27");
  });

  it("completes the deletion of a namespace with objects in it", async () => {
    const doomed = uniqueName("doomed");
    await core.createNamespace({ body: { metadata: { name: doomed } } });
    await core.createNamespacedConfigMap({ namespace: doomed, body: { metadata: { name: "c" }, data: { a: "b" } } });
    await core.deleteNamespace({ name: doomed });
    const gone = await eventually(
      "the namespace to be deleted",
      async () => {
        const status = await core.readNamespace({ name: doomed }).then(
          () => 200,
          (error: unknown) => statusOf(error),
        );
        return status === 404 ? true : undefined;
      },
      90_000,
    );
    expect(gone).toBe(true);
  });

  it("creates the default ServiceAccount in a new namespace", async () => {
    const sa = await eventually("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace }).catch(() => undefined));
    expect(sa.metadata?.name).toBe("default");
  });
});
