// Bad input and secrets: a plugin that throws or returns something malformed has that
// message parked while everything else lands; hostile strings land verbatim and change
// nothing else; no secret canary reaches the WAL, the SQLite graph, Neo4j or the logs.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, repoRoot } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, neo4jDriver, uniqueName } from "../../support/cluster.js";
import { edgesOf, nodesOf, waitForGraph, wipeNeo4j, workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await deleteNamespaces(core, namespaces);
});

describe("a plugin whose graph function fails", () => {
  it("parks exactly the messages it cannot handle; everything else lands", async () => {
    const ns = uniqueName("parked");
    namespaces.push(ns);
    await createNamespace(core, ns);
    for (const name of ["fine", "poison", "malformed"]) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { a: "b" } } });
    const ws = workspace("sqlite", [{ resource: "configmap", namespace: ns }, { resource: "poison", namespace: ns }], {
      pluginDirs: [resolve(repoRoot, "test/fixtures/plugins/poison")],
    });
    const agent = await ws.runOnce();
    const lines = await ws.exportLines();
    const keys = nodesOf(lines).map((n) => n.key);
    for (const name of ["fine", "poison", "malformed", "kube-root-ca.crt"]) expect(keys).toContain(`local/${ns}/ConfigMap/${name}`);
    expect(keys).toContain(`local/${ns}/PoisonConfig/fine`);
    expect(keys).not.toContain(`local/${ns}/PoisonConfig/poison`);
    expect(keys).not.toContain(`local/${ns}/PoisonConfig/malformed`);

    const parkedLogs = agent.logs.filter((l) => l.msg === "message parked");
    expect(parkedLogs.map((l) => `${l.plugin} ${l.name}`).sort()).toEqual(["poison malformed", "poison poison"]);
    const status = new AgentProcess(["wal", "status", "--config", ws.config, "--json"]);
    await status.exited;
    const report = JSON.parse(status.stdout) as { depth: number; parked: number; parkedMessages: Array<{ plugin: string; name: string; error: string }> };
    expect(report.depth).toBe(0);
    expect(report.parked).toBe(2);
    const byName = Object.fromEntries(report.parkedMessages.map((p) => [p.name, p]));
    expect(byName.poison).toMatchObject({ plugin: "poison", error: expect.stringContaining("cannot handle this object") });
    expect(byName.malformed).toMatchObject({ plugin: "poison", error: expect.stringContaining("NOT_DECLARED") });
  });
});

const hostile: Record<string, string> = {
  "test.kube-observer.io/quotes": `it's "quoted" and \`back-ticked\``,
  "test.kube-observer.io/cypher": "'}) MATCH (n) DETACH DELETE n // \" }] RETURN 1; DROP TABLE nodes; --",
  "test.kube-observer.io/braces": "{{ .Values }} ${HOME} {a: 1} [x] \\ \\n",
  "test.kube-observer.io/unicode": "snow ☃, math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, rtl \u202Eevil\u202C, emoji 👩‍💻, zero\u200Bwidth",
  "test.kube-observer.io/big": "x".repeat(250 * 1024),
};

describe.each(["sqlite", "neo4j"] as const)("hostile strings into the %s sink", (sinkKind) => {
  it("land verbatim and change nothing else", async () => {
    if (sinkKind === "neo4j") await wipeNeo4j();
    const ns = uniqueName(`hostile-${sinkKind}`);
    namespaces.push(ns);
    await createNamespace(core, ns);
    const name = `x.${"a-b.".repeat(40)}end`; // long, dotted, dashed (DNS-subdomain limits)
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, annotations: hostile, labels: { "weird_label.x": "A-b_c.D" } }, data: { "key.with-dots_and_dashes": "v" } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "sentinel" }, data: { a: "b" } } });
    // The size cap would withhold the 250 KB value (the canary test covers that): raised
    // here, so that the value itself is what crosses to the sink.
    const ws = workspace(sinkKind, [{ resource: "configmap", namespace: ns }], { observer: { maxAnnotationBytes: 512 * 1024 } });
    await ws.runOnce();
    const lines = await ws.exportLines();
    const node = nodesOf(lines).find((n) => n.key === `local/${ns}/ConfigMap/${name}`);
    expect(node).toBeDefined();
    const expectedAnnotations = Object.keys(hostile).sort().map((k) => `${k}=${hostile[k]}`);
    expect(node!.properties.annotations).toEqual(expectedAnnotations);
    expect(node!.properties.labels).toEqual(["weird_label.x=A-b_c.D"]);
    expect(node!.properties.keys).toEqual(["key.with-dots_and_dashes"]);
    expect(nodesOf(lines).filter((n) => n.key.startsWith(`local/${ns}/`)).map((n) => n.key).sort()).toEqual(
      [`local/${ns}/ConfigMap/${name}`, `local/${ns}/ConfigMap/kube-root-ca.crt`, `local/${ns}/ConfigMap/sentinel`].sort(),
    );
    if (sinkKind === "neo4j") {
      // The Cypher-looking value deleted nothing and created nothing.
      const driver = neo4jDriver();
      try {
        const result = await driver.executeQuery("MATCH (n:ConfigMap) WHERE n.namespace = $ns RETURN count(n) AS c", { ns });
        expect(Number(result.records[0]!.get("c"))).toBe(3);
      } finally {
        await driver.close();
      }
    }
  });
});

describe("secret canaries", () => {
  it("appear nowhere: not in the WAL (free pages included), the SQLite graph, Neo4j, jsonl output or the logs", async () => {
    await wipeNeo4j();
    const ns = uniqueName("canary");
    namespaces.push(ns);
    await createNamespace(core, ns);
    const canary = (where: string): string => `CANARY${where}${Math.random().toString(36).slice(2, 10)}`;
    const values: Record<string, string> = {
      data: canary("data"),
      stringData: canary("stringdata"),
      lastApplied: canary("lastapplied"),
      env: canary("env"),
      // Annotations: any value on a Secret, a deploy tool's manifest copy, a value over the size cap.
      secretAnnotation: canary("secretannotation"),
      manifestCopy: canary("kapp"),
      bigAnnotation: canary("big"),
      csiAttribute: canary("csiattribute"),
      flexOption: canary("flexoption"),
      gitPassword: canary("gitpassword"),
      rbdKeyring: canary("rbdkeyring"),
    };
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: "creds",
          annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ stringData: { p: values.lastApplied } }), "example.com/note": values.secretAnnotation },
        },
        data: { token: Buffer.from(values.data).toString("base64") },
        stringData: { password: values.stringData },
      },
    });
    // env, command and args in regular, init and ephemeral containers.
    const withCanaries = (name: string, where: string): Record<string, unknown> => ({
      name,
      image: "app:1",
      command: ["/bin/app", `--token=${canary(`${where}command`)}`],
      args: [`--password=${canary(`${where}args`)}`],
      env: [{ name: "LITERAL", value: canary(`${where}env`) }],
    });
    const containers = { regular: withCanaries("c", "regular"), init: withCanaries("init", "init"), ephemeral: { ...withCanaries("debug", "ephemeral"), targetContainerName: "c" } };
    for (const c of Object.values(containers)) {
      for (const value of [...(c.command as string[]).slice(1), ...(c.args as string[]), (c.env as Array<{ value: string }>)[0]!.value]) values[`container ${value}`] = value;
    }
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "app" },
        spec: { automountServiceAccountToken: false, containers: [{ name: "plain", image: "app:1", env: [{ name: "LITERAL", value: values.env }] }, containers.regular], initContainers: [containers.init] },
      },
    });
    // Ephemeral containers are added through their own subresource (kubectl debug does this).
    const running = await core.readNamespacedPod({ name: "app", namespace: ns });
    await core.replaceNamespacedPodEphemeralcontainers({ name: "app", namespace: ns, body: { ...running, spec: { ...running.spec!, ephemeralContainers: [containers.ephemeral as k8s.V1EphemeralContainer] } } });
    const manifestCopy = JSON.stringify({ kind: "Secret", stringData: { password: values.manifestCopy } });
    const bigAnnotation = `${values.bigAnnotation}${"x".repeat(5000)}`;
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "deployed", annotations: { "kapp.k14s.io/original": manifestCopy, "example.com/big": bigAnnotation, "example.com/owner": "team-a" } } },
    });
    // Volume sources where drivers and users put credentials; the apiserver accepts all
    // of these (inline CSI, flexVolume, the deprecated gitRepo, rbd) in a Pod and in a
    // Deployment's template (no controller runs the Deployment: it is only observed).
    const volumes = [
      { name: "csi", csi: { driver: "secrets-store.csi.k8s.io", readOnly: true, volumeAttributes: { secretProviderClass: "vault", token: values.csiAttribute }, nodePublishSecretRef: { name: "csi-creds" } } },
      { name: "flex", flexVolume: { driver: "example.com/cifs", secretRef: { name: "cifs-creds" }, options: { password: values.flexOption } } },
      { name: "git", gitRepo: { repository: `https://deploy:${values.gitPassword}@git.example/org/repo.git`, revision: "main" } },
      { name: "rbd", rbd: { monitors: ["10.0.0.1:6789"], image: "vol1", keyring: `/etc/ceph/${values.rbdKeyring}`, secretRef: { name: "ceph-creds" } } },
    ];
    const volumeMounts = [{ name: "csi", mountPath: "/mnt/csi", readOnly: true }];
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "volumes" }, spec: { automountServiceAccountToken: false, containers: [{ name: "c", image: "app:1", volumeMounts }], volumes } },
    });
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "volumes" },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: "volumes" } },
          template: { metadata: { labels: { app: "volumes" } }, spec: { containers: [{ name: "c", image: "app:1", volumeMounts }], volumes } },
        },
      },
    });
    const actors = ["secret", "pod", "deployment", "configmap"].map((resource) => ({ resource, namespace: ns }));
    const lite = workspace("sqlite", actors, { logLevel: "trace" });
    const neo = workspace("neo4j", actors, { logLevel: "trace" });
    // The graph runs, and a run that prints every message (--output jsonl) instead.
    const jsonl = lite.run(["--once", "--output", "jsonl"]);
    expect((await jsonl.exited).code).toBe(0);
    expect(jsonl.stdout).toContain('"name":"creds"');
    const runs = [await lite.runOnce(), await neo.runOnce(), jsonl];

    await waitForGraph(lite, "the secret in the SQLite graph", (l) => (nodesOf(l).some((n) => n.key === `local/${ns}/Secret/creds`) ? true : undefined));
    const files = [lite.dir, neo.dir].flatMap((dir) => readdirSync(dir).map((f) => join(dir, f)));
    expect(files.some((f) => f.endsWith("wal.sqlite"))).toBe(true);
    expect(files.some((f) => f.endsWith("graph.sqlite"))).toBe(true);
    const driver = neo4jDriver();
    let neo4jText: string;
    try {
      const result = await driver.executeQuery("MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN properties(n) AS n, collect(properties(r)) AS r");
      neo4jText = JSON.stringify(result.records.map((r) => [r.get("n"), r.get("r")]));
    } finally {
      await driver.close();
    }
    expect(neo4jText).toContain("creds");
    // The three kinds of container were observed (the canaries had somewhere to hide).
    const imageEdges = edgesOf(await lite.exportLines()).filter((e) => e.rel === "RUNS_IMAGE" && e.from === `local/${ns}/Pod/app`);
    expect(imageEdges.map((e) => `${String(e.properties.containerType)}:${String(e.properties.container)}`).sort()).toStrictEqual(["container:c", "container:plain", "ephemeral:debug", "init:init"]);
    // The keys stay, with a marker (and its size, except on a Secret) in place of the value.
    const annotationsOf = (name: string): unknown => nodesOf(liteLines).find((n) => n.key.endsWith(`/${name}`))?.properties.annotations;
    const liteLines = await lite.exportLines();
    expect(annotationsOf("creds")).toEqual(["example.com/note=<withheld>"]);
    expect(annotationsOf("deployed")).toEqual([
      `example.com/big=<withheld: ${Buffer.byteLength(bigAnnotation)} bytes>`,
      "example.com/owner=team-a",
      `kapp.k14s.io/original=<withheld: ${Buffer.byteLength(manifestCopy)} bytes>`,
    ]);
    // The volumes were observed, with what backs them (the named fields) intact.
    const volumeNodes = await waitForGraph(lite, "the csi volumes of the pod and the deployment", (l) => {
      const found = nodesOf(l).filter((n) => n.key.includes(`/${ns}/`) && n.key.endsWith("/volume/csi"));
      return found.length === 2 ? found : undefined;
    });
    expect(volumeNodes.map((n) => n.key).sort()).toStrictEqual([`local/${ns}/Deployment/volumes/volume/csi`, `local/${ns}/Pod/volumes/volume/csi`]);
    for (const node of volumeNodes) expect(node.properties).toMatchObject({ type: "csi", driver: "secrets-store.csi.k8s.io" });
    expect(neo4jText).toContain("secrets-store.csi.k8s.io");
    for (const value of Object.values(values)) {
      for (const file of files) expect(readFileSync(file).includes(value), `${value} in ${file}`).toBe(false);
      expect(neo4jText).not.toContain(value);
      for (const run of runs) {
        expect(run.stderr).not.toContain(value);
        expect(run.stdout).not.toContain(value);
      }
    }
  });
});
