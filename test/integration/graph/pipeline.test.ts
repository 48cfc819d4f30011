// The whole pipeline, observer → WAL → dispatcher → sink, against the real apiserver and
// both sinks: a known set of objects gives exactly the expected nodes and edges; updates
// replace edges, deletes remove them; a pod created before its ConfigMap gets a
// placeholder that becomes observed; a dangling reference stays visible.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import type { ExportLine } from "../../../core/graph/model.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, uniqueName } from "../../support/cluster.js";
import { edgesOf, nodesOf, normalise, waitForGraph, wipeNeo4j, workspace, type SinkKind } from "../../support/graph.js";
import type { AgentProcess } from "../../support/agent.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespaces: string[] = [];
const nodes: string[] = [];

afterAll(async () => {
  await deleteNamespaces(core, namespaces);
  for (const name of nodes) await core.deleteNode({ name }).catch(() => undefined);
});

const RESOURCES = ["pod", "configmap", "secret", "serviceaccount", "persistentvolumeclaim"];
const exportsBySink: Partial<Record<SinkKind, ExportLine[]>> = {};

describe.each(["sqlite", "neo4j"] as const)("pipeline into the %s sink", (sinkKind) => {
  const ns = uniqueName(`graph-${sinkKind}`);
  const nodeName = uniqueName("node");
  const k = (kind: string, name: string): string => `local/${ns}/${kind}/${name}`;
  const nodeKey = `local/Node/${nodeName}`;
  let agent: AgentProcess;
  const ws = workspace(sinkKind, [...RESOURCES.map((resource) => ({ resource, namespace: ns })), { resource: "node" }]);

  beforeAll(async () => {
    if (sinkKind === "neo4j") await wipeNeo4j();
    namespaces.push(ns);
    nodes.push(nodeName);
    await createNamespace(core, ns);
    await core.createNode({ body: { metadata: { name: nodeName, labels: { zone: "a" } } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "app-config" }, data: { mode: "strict" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "app-secret" }, stringData: { password: "hunter2-value" } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "app" } } });
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          serviceAccountName: "app",
          nodeName,
          imagePullSecrets: [{ name: "pull-secret" }],
          initContainers: [{ name: "init", image: "busybox:1.36" }],
          containers: [
            {
              name: "app",
              image: "registry.example/shop/web:2.1",
              env: [
                { name: "MODE", valueFrom: { configMapKeyRef: { name: "app-config", key: "mode" } } },
                { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "app-secret", key: "password" } } },
              ],
              envFrom: [{ secretRef: { name: "app-secret" } }],
              volumeMounts: [
                { name: "config", mountPath: "/etc/config" },
                { name: "data", mountPath: "/data" },
                { name: "docker", mountPath: "/var/run/docker.sock", readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: "config", configMap: { name: "app-config" } },
            { name: "creds", secret: { secretName: "app-secret" } },
            { name: "data", persistentVolumeClaim: { claimName: "data" } },
            { name: "docker", hostPath: { path: "/var/run/docker.sock", type: "Socket" } },
            {
              name: "token",
              projected: {
                sources: [{ serviceAccountToken: { path: "token", audience: "vault", expirationSeconds: 3600 } }, { configMap: { name: "app-config" } }],
              },
            },
          ],
        },
      },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "dangling" },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: "main", image: "nginx", env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "missing-secret", key: "token" } } }] }],
        },
      },
    });
    agent = ws.run([], {});
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
  });

  it("gives exactly the expected nodes and edges for a known set of objects", async () => {
    const scoped = (l: ExportLine[]): ExportLine[] =>
      l.filter((x) =>
        x.type === "node" ? x.key.startsWith(`local/${ns}/`) || x.key === nodeKey || !x.key.startsWith("local/") : x.from.startsWith(`local/${ns}/`),
      );
    // Observers deliver independently: wait until every expected node is there (the
    // assertions below then show any difference in full).
    // (Counting nodes is not enough: a pod's references exist as placeholders before the
    // ConfigMap, ServiceAccount and Node observers have delivered.)
    const expectedNodeCount = 22;
    const expectedObserved = 15;
    const lines = await waitForGraph(ws, "every expected node", (l) => {
      const nodes = nodesOf(scoped(l));
      const complete =
        nodes.length >= expectedNodeCount && nodes.filter((n) => n.properties.observed === true).length >= expectedObserved && edgesOf(scoped(l)).length >= 22;
      return complete ? l : undefined;
    }).catch(() => ws.exportLines());
    const mine = scoped(lines);
    exportsBySink[sinkKind] = normalise(mine);

    // The ServiceAccount admission plugin injects a projected token volume with a random suffix.
    const apiAccess = (text: string): string => text.replace(/kube-api-access-[a-z0-9]{5}/g, "kube-api-access-XXXXX");
    const nodeSummary = nodesOf(mine).map((n) => apiAccess(`${n.labels.join(",")} ${n.key} ${n.properties.observed ? "observed" : "placeholder"}`));
    expect(nodeSummary).toEqual(
      [
        `ContainerImage docker.io/library/busybox:1.36 placeholder`,
        `ContainerImage docker.io/library/nginx:latest placeholder`,
        `ConfigMap ${k("ConfigMap", "app-config")} observed`,
        `ConfigMap ${k("ConfigMap", "kube-root-ca.crt")} observed`,
        `PersistentVolumeClaim ${k("PersistentVolumeClaim", "data")} observed`,
        `Pod ${k("Pod", "dangling")} observed`,
        `Pod ${k("Pod", "web")} observed`,
        `Volume ${k("Pod", "web")}/volume/config observed`,
        `Volume ${k("Pod", "web")}/volume/creds observed`,
        `Volume ${k("Pod", "web")}/volume/data observed`,
        `Volume ${k("Pod", "web")}/volume/docker observed`,
        `Volume ${k("Pod", "web")}/volume/kube-api-access-XXXXX observed`,
        `Volume ${k("Pod", "web")}/volume/token observed`,
        `Secret ${k("Secret", "app-secret")} observed`,
        `Secret ${k("Secret", "missing-secret")} placeholder`,
        `Secret ${k("Secret", "pull-secret")} placeholder`,
        `ServiceAccount ${k("ServiceAccount", "app")} observed`,
        `ServiceAccount ${k("ServiceAccount", "default")} observed`,
        `Node ${nodeKey} observed`,
        `ContainerImage registry.example/shop/web:2.1 placeholder`,
        // Each image's registry (its FROM_REGISTRY edge starts at the image, so the
        // pod-scoped edge list below does not show it).
        `Registry docker.io placeholder`,
        `Registry registry.example placeholder`,
      ].sort((a, b) => (a.split(" ")[1]! < b.split(" ")[1]! ? -1 : 1)),
    );

    const web = k("Pod", "web");
    const edgeSummary = edgesOf(mine).map((e) => {
      const { owner, ...props } = e.properties;
      return apiAccess(
        `${e.from} -${e.rel}-> ${e.to} ${JSON.stringify(props)} owner=${owner === web ? "web" : owner === k("Pod", "dangling") ? "dangling" : String(owner)}`,
      );
    });
    expect(edgeSummary).toEqual([
      `${k("Pod", "dangling")} -RUNS_AS-> ${k("ServiceAccount", "default")} {} owner=dangling`,
      `${k("Pod", "dangling")} -RUNS_IMAGE-> docker.io/library/nginx:latest {"container":"main","containerType":"container"} owner=dangling`,
      `${k("Pod", "dangling")} -USES_SECRET-> ${k("Secret", "missing-secret")} {"container":"main","env":"TOKEN","key":"token","optional":false,"via":"env"} owner=dangling`,
      `${web} -RUNS_AS-> ${k("ServiceAccount", "app")} {} owner=web`,
      `${web} -RUNS_IMAGE-> docker.io/library/busybox:1.36 {"container":"init","containerType":"init"} owner=web`,
      `${web} -RUNS_IMAGE-> registry.example/shop/web:2.1 {"container":"app","containerType":"container"} owner=web`,
      `${web} -SCHEDULED_ON-> ${nodeKey} {} owner=web`,
      `${web} -USES_CONFIGMAP-> ${k("ConfigMap", "app-config")} {"container":"app","env":"MODE","key":"mode","optional":false,"via":"env"} owner=web`,
      `${web} -USES_SECRET-> ${k("Secret", "app-secret")} {"container":"app","env":"PASSWORD","key":"password","optional":false,"via":"env"} owner=web`,
      `${web} -USES_SECRET-> ${k("Secret", "app-secret")} {"container":"app","optional":false,"via":"envFrom"} owner=web`,
      `${web} -USES_SECRET-> ${k("Secret", "pull-secret")} {"via":"imagePullSecret"} owner=web`,
      `${web} -USES_VOLUME-> ${web}/volume/config {"mounts":["app:/etc/config"]} owner=web`,
      `${web} -USES_VOLUME-> ${web}/volume/creds {"mounts":[]} owner=web`,
      `${web} -USES_VOLUME-> ${web}/volume/data {"mounts":["app:/data"]} owner=web`,
      `${web} -USES_VOLUME-> ${web}/volume/docker {"mounts":["app:/var/run/docker.sock:ro"]} owner=web`,
      `${web} -USES_VOLUME-> ${web}/volume/kube-api-access-XXXXX {"mounts":["init:/var/run/secrets/kubernetes.io/serviceaccount:ro","app:/var/run/secrets/kubernetes.io/serviceaccount:ro"]} owner=web`,
      `${web} -USES_VOLUME-> ${web}/volume/token {"mounts":[]} owner=web`,
      `${web}/volume/config -BACKED_BY-> ${k("ConfigMap", "app-config")} {"optional":false,"source":"configMap"} owner=web`,
      `${web}/volume/creds -BACKED_BY-> ${k("Secret", "app-secret")} {"optional":false,"source":"secret"} owner=web`,
      `${web}/volume/data -BACKED_BY-> ${k("PersistentVolumeClaim", "data")} {"optional":false,"source":"persistentVolumeClaim"} owner=web`,
      `${web}/volume/kube-api-access-XXXXX -BACKED_BY-> ${k("ConfigMap", "kube-root-ca.crt")} {"optional":false,"source":"projected"} owner=web`,
      `${web}/volume/token -BACKED_BY-> ${k("ConfigMap", "app-config")} {"optional":false,"source":"projected"} owner=web`,
    ]);

    const byKey = new Map(nodesOf(mine).map((n) => [n.key, n.properties]));
    expect(byKey.get(`${web}/volume/docker`)).toMatchObject({ type: "hostPath", hostPath: "/var/run/docker.sock", hostPathType: "Socket" });
    expect(byKey.get(`${web}/volume/token`)).toMatchObject({
      type: "projected",
      serviceAccountToken: true,
      tokenAudience: "vault",
      tokenExpirationSeconds: 3600,
    });
    expect(byKey.get(web)).toMatchObject({
      cluster: "local",
      namespace: ns,
      name: "web",
      labels: ["app=web"],
      serviceAccountName: "app",
      nodeName,
      hostNetwork: false,
      privileged: false,
      phase: "Pending",
      scope: `local/${ns}/Pod`,
    });
    expect(byKey.get(k("Secret", "app-secret"))).toMatchObject({ keys: ["password"], type: "Opaque" });
    expect(JSON.stringify(mine)).not.toContain("hunter2-value");
    // A placeholder carries only what its reference knows.
    expect(byKey.get(k("Secret", "missing-secret"))).toEqual({ cluster: "local", namespace: ns, name: "missing-secret", observed: false });
    expect(byKey.get(nodeKey)).toMatchObject({ labels: ["zone=a"], observed: true, scope: `local//Node` });
  });

  it("replaces edges on update, removes them on delete, and fills in a placeholder when its object appears", async () => {
    const web = k("Pod", "web");
    // An image change replaces the RUNS_IMAGE edge; the old image, now unused, goes.
    await core.patchNamespacedPod({
      name: "web",
      namespace: ns,
      body: [{ op: "replace", path: "/spec/containers/0/image", value: "registry.example/shop/web:2.2" }],
    });
    // The dangling pod goes; its placeholder Secret has nothing pointing at it any more.
    await core.deleteNamespacedPod({ name: "dangling", namespace: ns, gracePeriodSeconds: 0 });
    // The referenced pull secret appears: the placeholder becomes observed.
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "pull-secret" }, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": Buffer.from("{}").toString("base64") } },
    });
    // A referenced ConfigMap is deleted: it stays, as a placeholder, because web uses it.
    await core.deleteNamespacedConfigMap({ name: "app-config", namespace: ns });

    const lines = await waitForGraph(ws, "the changes", (l) => {
      const keys = new Map(nodesOf(l).map((n) => [n.key, n]));
      const done =
        !keys.has(k("Pod", "dangling")) &&
        keys.get(k("Secret", "pull-secret"))?.properties.observed === true &&
        keys.get(k("ConfigMap", "app-config"))?.properties.observed === false &&
        keys.has("registry.example/shop/web:2.2");
      return done ? l : undefined;
    });
    const keys = nodesOf(lines).map((n) => n.key);
    expect(keys).not.toContain("registry.example/shop/web:2.1");
    expect(keys).not.toContain(k("Secret", "missing-secret"));
    expect(keys).not.toContain("docker.io/library/nginx:latest");
    expect(
      edgesOf(lines)
        .filter((e) => e.from === web && e.rel === "RUNS_IMAGE")
        .map((e) => e.to),
    ).toEqual(["docker.io/library/busybox:1.36", "registry.example/shop/web:2.2"]);
    expect(edgesOf(lines).some((e) => e.from === k("Pod", "dangling"))).toBe(false);
    const configMap = nodesOf(lines).find((n) => n.key === k("ConfigMap", "app-config"))!;
    expect(configMap.properties).toEqual({ cluster: "local", namespace: ns, name: "app-config", observed: false });
    expect(edgesOf(lines).filter((e) => e.to === k("ConfigMap", "app-config")).length).toBe(3);
    const pull = nodesOf(lines).find((n) => n.key === k("Secret", "pull-secret"))!;
    expect(pull.properties).toMatchObject({ observed: true, type: "kubernetes.io/dockerconfigjson", keys: [".dockerconfigjson"] });

    // A pod whose ConfigMap does not exist yet: placeholder first, observed once created.
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "early" }, spec: { containers: [{ name: "c", image: "busybox:1.36", envFrom: [{ configMapRef: { name: "late-config" } }] }] } },
    });
    await waitForGraph(ws, "the late-config placeholder", (l) =>
      nodesOf(l).find((n) => n.key === k("ConfigMap", "late-config"))?.properties.observed === false ? true : undefined,
    );
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "late-config" }, data: { a: "b" } } });
    const late = await waitForGraph(ws, "late-config observed", (l) => {
      const n = nodesOf(l).find((x) => x.key === k("ConfigMap", "late-config"));
      return n?.properties.observed === true ? n : undefined;
    });
    expect(late.properties).toMatchObject({ keys: ["a"], name: "late-config", namespace: ns });
  });
});

describe("both sinks", () => {
  it("hold the same graph for the same objects (full export, volatile properties aside)", () => {
    const rename = (lines: ExportLine[] | undefined): string =>
      JSON.stringify(lines ?? [])
        .replace(/graph-(sqlite|neo4j)-[0-9a-f]{8}/g, "NS")
        .replace(/node-[0-9a-f]{8}/g, "NODE")
        .replace(/kube-api-access-[a-z0-9]{5}/g, "kube-api-access-XXXXX");
    expect(exportsBySink.sqlite?.length).toBeGreaterThan(20);
    expect(rename(exportsBySink.neo4j)).toBe(rename(exportsBySink.sqlite));
  });
});
