// deploy/ against the real apiserver: `kubectl apply -k` accepts it, the Deployment's pod
// passes "restricted" Pod Security admission, and the agent, run as the Deployment runs
// it (in-cluster: the ServiceAccount's token and CA at the usual path, the apiserver as
// KUBERNETES_SERVICE_HOST/PORT, the config read back from the applied ConfigMap), syncs
// fully with exactly the generated permissions, while anything beyond them is refused.
//
// The apiserver is shared, so deploy/ is applied through an overlay that only renames:
// its own namespace and a suffix on every name (tests: support.ts, deployOverlay). The
// graph goes to the embedded SQLite sink instead of Neo4j (a Dhall override of `sink`
// and `wal` only: the actors, hence the RBAC, stay as deployed).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import * as k8s from "@kubernetes/client-node";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import type { ExportLine } from "../../../core/graph/model.js";
import { AgentProcess, repoRoot } from "../../support/agent.js";
import { adminKubeConfig, devEnv, eventually, statusOf, tokenKubeConfig } from "../../support/cluster.js";
import { deployOverlay, inClusterEnv, inClusterRoot, kubectl, kubectlCleanup, kubectlOk } from "./support.js";

const suffix = Math.random().toString(16).slice(2, 10);
const ns = `ko-deploy-${suffix}`;
const sa = `kube-observer-${suffix}`;
const overlay = deployOverlay(ns, suffix);
const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const work = mkdtempSync(join(tmpdir(), "kube-observer-deploy-"));
let agent: AgentProcess | undefined;
let token = "";
let runConfig = "";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

afterAll(async () => {
  await agent?.stop();
  // Deletes the namespace (and with it everything namespaced), the ClusterRole and the binding.
  await kubectlCleanup(["delete", "-k", overlay, "--ignore-not-found", "--wait=false"]);
});

describe("deploy/ on the local apiserver", () => {
  it("kubectl apply -k accepts it, and the Deployment's pod passes restricted Pod Security admission", async () => {
    const applied = await kubectlOk(["apply", "-k", overlay]);
    for (const line of [
      `namespace/${ns} created`,
      `serviceaccount/${sa} created`,
      `clusterrole.rbac.authorization.k8s.io/${sa} created`,
      `clusterrolebinding.rbac.authorization.k8s.io/${sa} created`,
      `configmap/kube-observer-config-${suffix} created`,
      `deployment.apps/kube-observer-${suffix} created`,
    ]) {
      expect(applied).toContain(line);
    }

    const namespace = await core.readNamespace({ name: ns });
    expect(namespace.metadata?.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    // Admission is really enforcing here: a pod that is not restricted is refused.
    const refused = await core
      .createNamespacedPod({ namespace: ns, body: { metadata: { name: "not-restricted" }, spec: { containers: [{ name: "c", image: "busybox" }] } } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(statusOf(refused)).toBe(403);
    const body = (refused as k8s.ApiException<unknown>).body;
    expect((JSON.parse(String(body)) as { message: string }).message).toMatch(/is forbidden: violates PodSecurity "restricted:latest"/);

    // The ReplicaSet controller creates the pod (it stays Pending: no scheduler or kubelet).
    const pods = await eventually(
      "the Deployment's pod",
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: "app.kubernetes.io/name=kube-observer" });
        return list.items.length > 0 ? list.items : undefined;
      },
      60_000,
    );
    expect(pods).toHaveLength(1);
    expect(pods[0]!.spec?.serviceAccountName).toBe(sa);
    expect(pods[0]!.spec?.securityContext?.runAsNonRoot).toBe(true);
    const failed = await kubectlOk(["-n", ns, "get", "events", "--field-selector", "reason=FailedCreate", "-o", "json"]);
    expect((JSON.parse(failed) as { items: unknown[] }).items).toStrictEqual([]);
  });

  it("the agent, in-cluster with the ServiceAccount's token and the ConfigMap's config, syncs fully and becomes ready", async () => {
    token = (await kubectlOk(["-n", ns, "create", "token", sa, "--duration", "1h"])).trim();
    const root = inClusterRoot(token, ns);

    // The config as mounted in the pod, read back from the API: it imports the schema
    // the image ships at /app/config/types.dhall, or ../../config/types.dhall next to it.
    const deployed = await kubectlOk(["-n", ns, "get", "configmap", `kube-observer-config-${suffix}`, "-o", "jsonpath={.data.kube-observer\\.dhall}"]);
    expect(deployed).toBe(readFileSync(join(repoRoot, "deploy/config/kube-observer.dhall"), "utf8"));
    mkdirSync(join(work, "etc/kube-observer"), { recursive: true });
    mkdirSync(join(work, "config"));
    writeFileSync(join(work, "etc/kube-observer/kube-observer.dhall"), deployed);
    copyFileSync(join(repoRoot, "config/types.dhall"), join(work, "config/types.dhall"));
    // SQLite instead of Neo4j: only `sink` and `wal` change.
    runConfig = join(work, "run.dhall");
    writeFileSync(
      runConfig,
      `let deployed = ./etc/kube-observer/kube-observer.dhall
in  deployed // { sink = deployed.sink // { kind = "sqlite", sqlitePath = ${JSON.stringify(join(work, "data/graph.sqlite"))} }
               , wal = deployed.wal // { path = ${JSON.stringify(join(work, "data/wal.sqlite"))} } }
`,
    );
    // ... which leaves the RBAC as applied.
    const rbacOut = new AgentProcess(["rbac", "--config", runConfig]);
    expect((await rbacOut.exited).code).toBe(0);
    const applied = parseAllDocuments(readFileSync(join(repoRoot, "deploy/rbac.yaml"), "utf8")).map((d) => d.toJS() as Doc);
    const regenerated = parseAllDocuments(rbacOut.stdout).map((d) => d.toJS() as Doc);
    // deploy/rbac.yaml is the Helm chart's rendering: the same objects, with the chart's labels.
    const withoutLabels = (d: Doc) => ({ ...d, metadata: { ...d.metadata, labels: undefined } });
    expect(regenerated.map(withoutLabels)).toStrictEqual(applied.map(withoutLabels));

    // Something to find in the graph.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "probe" }, data: { k: "v" } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "probe-secret" }, stringData: { password: "not-for-the-agent" } } });

    // As the Deployment runs it: `run --config ... --listen ...`, graph output, JSON logs.
    agent = new AgentProcess(["run", "--config", runConfig, "--listen", "127.0.0.1:0"], inClusterEnv(root));
    const listening = await agent.waitForLog("the HTTP endpoint", (l) => l.msg === "HTTP endpoint listening", 60_000);
    const base = `http://${String(listening.listen)}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await agent.waitForLog("the initial sync", (l) => l.msg === "initial sync complete", 110_000);
    const ready = await eventually("/readyz 200", async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 20_000);
    expect(ready).toBe(true);

    // Every observer synced with exactly these permissions: none was ever refused.
    expect(agent.logs.filter((l) => l.phase === "forbidden" || /forbidden/i.test(String(l.reason ?? "")))).toStrictEqual([]);
    const graph = await eventually(
      "the probe ConfigMap and Secret in the graph",
      async () => {
        const sink = new SqliteGraphSink(join(work, "data/graph.sqlite"), { access: "read" });
        try {
          const lines: ExportLine[] = [];
          for await (const line of sink.export()) lines.push(line);
          const mine = lines.filter((l) => l.type === "node" && l.properties.namespace === ns && l.properties.observed !== false);
          const names = mine.map((l) => `${(l as { labels: string[] }).labels[0]}/${String((l as { properties: Record<string, unknown> }).properties.name)}`);
          return names.includes("ConfigMap/probe") && names.includes("Secret/probe-secret") ? { lines, names } : undefined;
        } finally {
          await sink.close();
        }
      },
      30_000,
    );
    expect(graph.names).toContain(`ServiceAccount/${sa}`);
    expect(graph.names).toContain(`Deployment/kube-observer-${suffix}`);
    expect(JSON.stringify(graph.lines)).not.toContain("not-for-the-agent");
  });

  it("its ServiceAccount has exactly the generated rules; the apiserver refuses anything beyond them", async () => {
    // What the token may do, as the apiserver sees it (SelfSubjectRulesReview), minus
    // what every authenticated user may (system:basic-user: the self reviews).
    const user = tokenKubeConfig(token);
    const authz = user.makeApiClient(k8s.AuthorizationV1Api);
    const review = await authz.createSelfSubjectRulesReview({ body: { spec: { namespace: ns } } });
    const granted = new Set<string>();
    for (const rule of review.status?.resourceRules ?? []) {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          if (group.endsWith("authorization.k8s.io") && resource.startsWith("self")) continue;
          if (group === "authentication.k8s.io" && resource === "selfsubjectreviews") continue;
          for (const verb of rule.verbs) granted.add(`${verb} ${group}/${resource}${rule.resourceNames?.length ? `/${rule.resourceNames.join(",")}` : ""}`);
        }
      }
    }
    const clusterRole = parseAllDocuments(readFileSync(join(repoRoot, "deploy/rbac.yaml"), "utf8"))
      .map((d) => d.toJS() as Doc)
      .find((d) => d.kind === "ClusterRole")!;
    const expected = new Set<string>();
    for (const rule of clusterRole.rules as Doc[]) {
      for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) expected.add(`${verb} ${group}/${resource}`);
    }
    expect([...granted].sort()).toStrictEqual([...expected].sort());
    expect([...expected].every((p) => p.startsWith("list ") || p.startsWith("watch "))).toBe(true);

    // Beyond them: a Secret's value (get), a resource the config does not name (leases),
    // and any write.
    const server = devEnv().apiserverUrl;
    const asAgent = ["--server", server, "--certificate-authority", devEnv().caFile, "--token", token];
    const getSecret = await kubectl([...asAgent, "-n", ns, "get", "secret", "probe-secret", "-o", "jsonpath={.data.password}"], { admin: false });
    expect(getSecret.code).toBe(1);
    expect(getSecret.stderr).toMatch(new RegExp(`secrets "probe-secret" is forbidden: User "system:serviceaccount:${ns}:${sa}" cannot get resource "secrets"`));
    expect(getSecret.stdout).toBe("");
    const listLeases = await kubectl([...asAgent, "-n", ns, "get", "leases"], { admin: false });
    expect(listLeases.code).toBe(1);
    expect(listLeases.stderr).toMatch(/leases\.coordination\.k8s\.io is forbidden: .* cannot list resource "leases"/);
    const userCore = user.makeApiClient(k8s.CoreV1Api);
    const read = await userCore.readNamespacedSecret({ name: "probe-secret", namespace: ns }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusOf(read)).toBe(403);
    const write = await userCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "nope" } } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusOf(write)).toBe(403);
  });

  it("doctor, run the same way, passes every check", async () => {
    const root = inClusterRoot(token, ns);
    const doctor = new AgentProcess(["doctor", "--config", runConfig], inClusterEnv(root));
    const exit = await doctor.exited;
    expect(doctor.stdout).toMatch(/\n\nall checks passed\n$/);
    expect(exit.code).toBe(0);
    expect(doctor.stdout).toContain(`as system:serviceaccount:${ns}:${sa}`);
    expect(doctor.stdout).not.toContain("FAIL");
    // Beside the live agent: its WAL and graph are named as held, which is fine.
    expect(doctor.stdout).toMatch(/\nwal +\S+wal\.sqlite +ok: held by a live agent \(pid \d+ on host /);
  });
});
