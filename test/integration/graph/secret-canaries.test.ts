// Secret canaries: a unique value in every place a secret can hide in a real object,
// written through the real apiserver, and then looked for in every place it could land —
// the WAL file (free pages included), both graphs, the logs, `--output jsonl`, /metrics,
// /healthz, /readyz, `wal status` and `verify`. Classes: Secret data and annotations, a
// deploy tool's manifest copy and over-size annotations, container env/command/args in
// every kind of container, volume sources with credential-bearing fields, a CRD plugin's
// own fields, a careless plugin's error text, and LIST and watch bodies damaged on the way.
// (Annotations on every built-in kind: all-plugins.test.ts.)
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { AgentProcess, repoRoot } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, neo4jDriver, uniqueName } from "../../support/cluster.js";
import { BACKUP, customObjects, deleteBackupCrd, examplePluginDir, installBackupCrd } from "../../support/crd.js";
import { startCorruptingProxy, type CorruptingProxy } from "../../support/corrupting-proxy.js";
import { edgesOf, nodesOf, waitForGraph, wipeNeo4j, workspace, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const namespaces: string[] = [];
const agents: AgentProcess[] = [];
const proxies: CorruptingProxy[] = [];
let crdInstalled = false;

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  await deleteNamespaces(core, namespaces);
  if (crdInstalled) await deleteBackupCrd();
});

const canary = (where: string): string => `CANARY${where}${Math.random().toString(36).slice(2, 10)}`;

/** Every file of the workspaces: the WAL and the SQLite graph, as bytes (free pages too). */
function workspaceFiles(...spaces: Workspace[]): Array<[string, Buffer]> {
  const files = spaces.flatMap((ws) => readdirSync(ws.dir).map((f) => join(ws.dir, f)));
  expect(files.some((f) => f.endsWith("wal.sqlite"))).toBe(true);
  return files.map((f) => [f, readFileSync(f)]);
}

async function neo4jText(): Promise<string> {
  const driver = neo4jDriver();
  try {
    const result = await driver.executeQuery("MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN properties(n) AS n, collect(properties(r)) AS r");
    return JSON.stringify(result.records.map((r) => [r.get("n"), r.get("r")]));
  } finally {
    await driver.close();
  }
}

/** The agent's HTTP endpoints, as text. */
async function endpoints(agent: AgentProcess): Promise<Array<[string, string]>> {
  const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
  const base = `http://${String(listening.listen)}`;
  const out: Array<[string, string]> = [];
  for (const path of ["/metrics", "/healthz", "/readyz"]) out.push([path, await (await fetch(`${base}${path}`)).text()]);
  return out;
}

function expectNowhere(values: Iterable<string>, places: Array<[string, string | Buffer]>): void {
  for (const value of values) for (const [where, text] of places) expect(text.includes(value), `${value} in ${where}`).toBe(false);
}

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
      rbdUser: canary("rbduser"),
      cephUser: canary("cephuser"),
      cephSecretFile: canary("cephsecretfile"),
      quobyteUser: canary("quobyteuser"),
      quobyteTenant: canary("quobytetenant"),
      azureSignature: canary("azuresig"),
      scaleioGateway: canary("scaleiogateway"),
    };
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: "creds",
          annotations: {
            "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ stringData: { p: values.lastApplied } }),
            "example.com/note": values.secretAnnotation,
          },
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
    const containers = {
      regular: withCanaries("c", "regular"),
      init: withCanaries("init", "init"),
      ephemeral: { ...withCanaries("debug", "ephemeral"), targetContainerName: "c" },
    };
    for (const c of Object.values(containers)) {
      for (const value of [...(c.command as string[]).slice(1), ...(c.args as string[]), (c.env as Array<{ value: string }>)[0]!.value])
        values[`container ${value}`] = value;
    }
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "app" },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: "plain", image: "app:1", env: [{ name: "LITERAL", value: values.env }] }, containers.regular],
          initContainers: [containers.init],
        },
      },
    });
    // Ephemeral containers are added through their own subresource (kubectl debug does this).
    const running = await core.readNamespacedPod({ name: "app", namespace: ns });
    await core.replaceNamespacedPodEphemeralcontainers({
      name: "app",
      namespace: ns,
      body: { ...running, spec: { ...running.spec!, ephemeralContainers: [containers.ephemeral as k8s.V1EphemeralContainer] } },
    });
    const manifestCopy = JSON.stringify({ kind: "Secret", stringData: { password: values.manifestCopy } });
    const bigAnnotation = `${values.bigAnnotation}${"x".repeat(5000)}`;
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: { name: "deployed", annotations: { "kapp.k14s.io/original": manifestCopy, "example.com/big": bigAnnotation, "example.com/owner": "team-a" } },
      },
    });
    // Volume sources where drivers and users put credentials; the apiserver accepts all
    // of these (inline CSI, flexVolume, the deprecated gitRepo, rbd) in a Pod and in a
    // Deployment's template (no controller runs the Deployment: it is only observed).
    const volumes = [
      {
        name: "csi",
        csi: {
          driver: "secrets-store.csi.k8s.io",
          readOnly: true,
          volumeAttributes: { secretProviderClass: "vault", token: values.csiAttribute },
          nodePublishSecretRef: { name: "csi-creds" },
        },
      },
      { name: "flex", flexVolume: { driver: "example.com/cifs", secretRef: { name: "cifs-creds" }, options: { password: values.flexOption } } },
      { name: "git", gitRepo: { repository: `https://deploy:${values.gitPassword}@git.example/org/repo.git`, revision: "main" } },
      {
        name: "rbd",
        rbd: { monitors: ["10.0.0.1:6789"], image: "vol1", user: values.rbdUser, keyring: `/etc/ceph/${values.rbdKeyring}`, secretRef: { name: "ceph-creds" } },
      },
      { name: "cephfs", cephfs: { monitors: ["10.0.0.1:6789"], user: values.cephUser, secretFile: `/etc/ceph/${values.cephSecretFile}` } },
      { name: "quobyte", quobyte: { registry: "registry.example:7861", volume: "vol1", user: values.quobyteUser, group: "ops", tenant: values.quobyteTenant } },
      { name: "azure", azureDisk: { diskName: "d1", diskURI: `https://acct.blob.core.windows.net/vhds/d1.vhd?sv=2020-08-04&sig=${values.azureSignature}` } },
      {
        name: "scaleio",
        scaleIO: {
          gateway: `https://admin:${values.scaleioGateway}@gateway.example:443/api`,
          system: "sys1",
          volumeName: "vol1",
          secretRef: { name: "scaleio-creds" },
        },
      },
    ];
    const volumeMounts = [{ name: "csi", mountPath: "/mnt/csi", readOnly: true }];
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "volumes" },
        spec: { automountServiceAccountToken: false, containers: [{ name: "c", image: "app:1", volumeMounts }], volumes },
      },
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
    const neo4jGraph = await neo4jText();
    expect(neo4jGraph).toContain("creds");
    // The three kinds of container were observed (the canaries had somewhere to hide).
    const imageEdges = edgesOf(await lite.exportLines()).filter((e) => e.rel === "RUNS_IMAGE" && e.from === `local/${ns}/Pod/app`);
    expect(imageEdges.map((e) => `${String(e.properties.containerType)}:${String(e.properties.container)}`).sort()).toStrictEqual([
      "container:c",
      "container:plain",
      "ephemeral:debug",
      "init:init",
    ]);
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
    // Every source type made it, each with what names its backing kept.
    const podVolumes = Object.fromEntries(
      nodesOf(liteLines)
        .filter((n) => n.key.startsWith(`local/${ns}/Pod/volumes/volume/`))
        .map((n) => [n.key.split("/").pop()!, n.properties]),
    );
    expect(Object.keys(podVolumes).sort()).toStrictEqual(volumes.map((v) => v.name).sort());
    expect(Object.fromEntries(Object.entries(podVolumes).map(([name, p]) => [name, p.type]))).toStrictEqual(
      Object.fromEntries(volumes.map((v) => [v.name, Object.keys(v).find((k) => k !== "name")])),
    );
    expect(neo4jGraph).toContain("secrets-store.csi.k8s.io");
    for (const value of Object.values(values)) {
      for (const file of files) expect(readFileSync(file).includes(value), `${value} in ${file}`).toBe(false);
      expect(neo4jGraph).not.toContain(value);
      for (const run of runs) {
        expect(run.stderr).not.toContain(value);
        expect(run.stdout).not.toContain(value);
      }
    }
  });
});

describe("a CRD plugin's own fields and a careless plugin's error text", () => {
  beforeAll(async () => {
    await installBackupCrd();
    crdInstalled = true;
  }, 180_000);

  it("appear nowhere: not in the WAL, both graphs, the logs, the endpoints, wal status or verify", async () => {
    await wipeNeo4j();
    const ns = uniqueName("canary-crd");
    namespaces.push(ns);
    await createNamespace(core, ns);
    const values = {
      inlineKey: canary("inlinekey"),
      targetPassword: canary("targetpassword"),
      targetSignature: canary("targetsignature"),
      manifestCopy: canary("crdmanifestcopy"),
      thrownTarget: canary("throwntarget"),
    };
    const policy = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): Promise<unknown> =>
      customObjects.createNamespacedCustomObject({
        group: BACKUP.group,
        version: BACKUP.version,
        namespace: ns,
        plural: BACKUP.plural,
        body: { apiVersion: `${BACKUP.group}/${BACKUP.version}`, kind: BACKUP.kind, metadata: { name, annotations }, spec },
      });
    // The example plugin keeps named fields: the inline key becomes a flag, the target
    // loses its user info and query. The careless plugin throws, quoting both.
    await policy(
      "leaky",
      {
        schedule: "0 1 * * *",
        target: `s3://backup:${values.targetPassword}@bucket.example/nightly?X-Amz-Signature=${values.targetSignature}`,
        credentialsSecretRef: { name: "creds" },
        encryptionKey: values.inlineKey,
      },
      { "kapp.k14s.io/original": JSON.stringify({ spec: { encryptionKey: values.manifestCopy } }) },
    );
    await policy("string-thrower", {
      schedule: "0 2 * * *",
      target: `https://ops:${values.thrownTarget}@backup.example/`,
      credentialsSecretRef: { name: "creds" },
    });

    const actors = ["backuppolicy", "careless-backup"].map((resource) => ({ resource, namespace: ns }));
    const pluginDirs = [examplePluginDir, resolve(repoRoot, "test/fixtures/plugins/careless")];
    const lite = workspace("sqlite", actors, { pluginDirs, logLevel: "trace" });
    const neo = workspace("neo4j", actors, { pluginDirs, logLevel: "trace" });
    const agent = lite.run(["--listen", "127.0.0.1:0"]);
    agents.push(agent);
    const lines = await waitForGraph(
      lite,
      "both BackupPolicies",
      (l) => (nodesOf(l).filter((n) => n.key.startsWith(`local/${ns}/BackupPolicy/`)).length === 2 ? l : undefined),
      60_000,
    );
    const leaky = nodesOf(lines).find((n) => n.key === `local/${ns}/BackupPolicy/leaky`)!;
    expect(leaky.properties).toMatchObject({
      target: "s3://bucket.example/nightly",
      inlineEncryptionKey: true,
      annotations: [expect.stringMatching(/^kapp\.k14s\.io\/original=<withheld: \d+ bytes>$/)],
    });
    // Both careless reductions parked, each with where it threw and nothing it said.
    const parked = await agent.waitFor("two parked messages", () => {
      const p = agent.logs.filter((l) => l.msg === "message parked");
      return p.length >= 2 ? p : undefined;
    });
    expect(parked.map((l) => `${String(l.plugin)} ${String(l.name)}`).sort()).toStrictEqual(["careless-backup leaky", "careless-backup string-thrower"]);
    const errors = Object.fromEntries(parked.map((l) => [String(l.name), String(l.err)]));
    expect(errors.leaky).toMatch(/^plugin "careless-backup" reduce threw an Error at careless\.mjs:\d+:\d+; its message \(\d+ characters\) is not shown/);
    expect(errors["string-thrower"]).toMatch(/^plugin "careless-backup" reduce threw a string value; its message \(\d+ characters\) is not shown/);
    const served = await endpoints(agent);
    expect(served[0]![1]).toContain(`resource="careless-backup"`);

    const status = new AgentProcess(["wal", "status", "--config", lite.config, "--json"]);
    await status.exited;
    expect(JSON.parse(status.stdout)).toMatchObject({ parked: 2 });
    const verify = new AgentProcess(["verify", "--config", lite.config, "--settle-seconds", "0"]);
    await verify.exited;
    expect(verify.stdout + verify.stderr).toContain("careless-backup");
    await agent.stop();
    // The Neo4j graph, from a run of its own (parked messages are counted in the summary).
    const neoRun = neo.run(["--once"]);
    await neoRun.exited;
    expect(neoRun.logs.some((l) => l.msg === "message parked")).toBe(true);
    const neo4jGraph = await neo4jText();
    expect(neo4jGraph).toContain("s3://bucket.example/nightly");

    expectNowhere(Object.values(values), [
      ...workspaceFiles(lite, neo),
      ["the Neo4j graph", neo4jGraph],
      ...[agent, status, verify, neoRun].flatMap(
        (p, i): Array<[string, string]> => [
          [`process ${i} stdout`, p.stdout],
          [`process ${i} stderr`, p.stderr],
        ],
      ),
      ...served,
    ]);
  });
});

describe("malformed bodies", () => {
  it("a LIST or watch body damaged on the way: the error says where and how big, the canary goes nowhere, and the objects land once whole", async () => {
    const ns = uniqueName("canary-body");
    namespaces.push(ns);
    await createNamespace(core, ns);
    const values = { listed: canary("listedbody"), cut: canary("cutbody"), watched: canary("watchedbody"), secret: canary("secretbody") };
    const secretBase64 = Buffer.from(values.secret).toString("base64");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "listed" }, data: { token: values.listed } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "cut" }, data: { token: values.cut } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "creds" }, data: { password: secretBase64 } } });

    // Damage: the first configmap LIST has a value unquoted (JSON.parse fails, and V8's
    // message would quote the text around it); the second is cut in the middle of a value;
    // the first secret LIST has its data unquoted; the first watch event carrying the
    // third canary is unquoted too.
    const damaged = { configmapLists: 0, secretLists: 0, watchLines: 0 };
    const unquote = (text: string, value: string): string => text.replace(`"${value}"`, value);
    const proxy = await startCorruptingProxy({
      list(path, body) {
        if (!path.includes(`/namespaces/${ns}/`)) return undefined;
        if (path.includes("/configmaps") && damaged.configmapLists < 2 && body.includes(values.cut)) {
          damaged.configmapLists += 1;
          return damaged.configmapLists === 1 ? unquote(body, values.listed) : body.slice(0, body.indexOf(values.cut) + values.cut.length - 4);
        }
        if (path.includes("/secrets") && damaged.secretLists < 1 && body.includes(secretBase64)) {
          damaged.secretLists += 1;
          return unquote(body, secretBase64);
        }
        return undefined;
      },
      watchLine(_path, line) {
        if (damaged.watchLines >= 1 || !line.includes(values.watched)) return undefined;
        damaged.watchLines += 1;
        return unquote(line, values.watched);
      },
    });
    proxies.push(proxy);
    const ws = workspace(
      "sqlite",
      ["configmap", "secret"].map((resource) => ({ resource, namespace: ns })),
      { kubeconfig: proxy.kubeconfig(mkdtempSync(join(tmpdir(), "kube-observer-proxy-"))), logLevel: "trace" },
    );
    const agent = ws.run(["--listen", "127.0.0.1:0"]);
    agents.push(agent);
    const has = (names: string[]) => (l: Parameters<Parameters<typeof waitForGraph>[2]>[0]) => {
      const keys = new Set(nodesOf(l).map((n) => n.key));
      return names.every((n) => keys.has(`local/${ns}/${n}`)) ? true : undefined;
    };
    const withLogs = (error: Error): never => {
      throw new Error(`${error.message}; damaged ${JSON.stringify(damaged)}; proxy errors ${JSON.stringify(proxy.errors.slice(0, 3))}\n${agent.logTail()}`);
    };
    await waitForGraph(ws, "the objects behind the damaged LISTs", has(["ConfigMap/listed", "ConfigMap/cut", "Secret/creds"]), 90_000).catch(withLogs);
    expect(damaged).toMatchObject({ configmapLists: 2, secretLists: 1 });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "watched" }, data: { token: values.watched } } });
    await waitForGraph(ws, "the object behind the damaged watch event", has(["ConfigMap/watched"]), 90_000).catch(withLogs);
    expect(damaged.watchLines).toBe(1);
    expect(proxy.corrupted).toHaveLength(4);
    // Each damage was noticed and said so, by position and size.
    const said = agent.stderr;
    expect(said).toMatch(/response items are not valid JSON at position \d+ of \d+ bytes/);
    expect(said).toMatch(/watch sent a line that is not valid JSON at position \d+ of \d+ bytes/);
    expect(said).toMatch(/secrets: response items are not valid JSON at position \d+ of \d+ bytes/);
    expect(said).toMatch(/configmaps: response is not a JSON List \(LIST response ended in the middle of a JSON value\)/);
    const served = await endpoints(agent);
    await agent.stop();
    // Not even a slice: V8's parse errors quote ten characters either side of the fault.
    expectNowhere(["CANARY", secretBase64.slice(0, 8)], [...workspaceFiles(ws), ["stdout", agent.stdout], ["stderr", agent.stderr], ...served]);
  });
});
