// `kube-observer doctor` as a ServiceAccount that was granted what `kube-observer rbac`
// generates minus one permission (list secrets): the table names exactly that permission
// as the problem and the command exits 1; once the full RBAC is applied, every check
// passes and it exits 0.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import * as k8s from "@kubernetes/client-node";
import type { DoctorRow } from "../../../core/ops/doctor.js";
import { AgentProcess, writeConfig } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, eventually, serviceAccountToken, tokenKubeConfig, uniqueName, writeTokenKubeconfig } from "../../support/cluster.js";
import { kubectlCleanup, kubectlOk } from "./support.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = uniqueName("doctor");
const sa = `${ns}-agent`; // also the name of its ClusterRole and binding: unique on a shared apiserver
const dir = mkdtempSync(join(tmpdir(), "kube-observer-doctor-"));
let rbacYaml = "";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

afterAll(async () => {
  // The ClusterRole and binding are cluster-wide; the namespace takes the rest with it.
  if (rbacYaml) await kubectlCleanup(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], { input: rbacYaml });
  await kubectlCleanup(["delete", "namespace", ns, "--ignore-not-found", "--wait=false"]);
});

/** Waits until the apiserver's RBAC authorizer answers `allowed` for the token (its
 *  informers see an applied role a moment later). */
async function waitForAccess(token: string, verb: string, resource: string, allowed: boolean): Promise<void> {
  const authz = tokenKubeConfig(token).makeApiClient(k8s.AuthorizationV1Api);
  await eventually(`${verb} ${resource} ${allowed ? "allowed" : "denied"}`, async () => {
    const review = await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb, resource } } } });
    return (review.status?.allowed ?? false) === allowed ? true : undefined;
  });
}

async function doctor(config: string, json = false): Promise<{ code: number | null; stdout: string; rows: DoctorRow[] }> {
  const run = new AgentProcess(["doctor", "--config", config, ...(json ? ["--json"] : [])]);
  const { code } = await run.exited;
  const rows = json
    ? run.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as DoctorRow)
    : [];
  return { code, stdout: run.stdout, rows };
}

describe("kube-observer doctor", () => {
  it("names exactly the one missing permission, and passes once it is granted", async () => {
    await createNamespace(core, ns);
    // Secrets and nodes cluster-wide, ConfigMaps in one namespace (a Role).
    const kubeconfigDir = mkdtempSync(join(tmpdir(), "kube-observer-doctor-kc-"));
    const spec = {
      actors: [{ resource: "secret" }, { resource: "node" }, { resource: "configmap", namespace: ns }],
      sink: { kind: "sqlite" as const, sqlitePath: join(dir, "graph.sqlite") },
      walPath: join(dir, "wal.sqlite"),
    };

    // The generated RBAC for this ServiceAccount...
    const generate = new AgentProcess(["rbac", "--config", writeConfig(spec, dir), "--namespace", ns, "--service-account", sa]);
    expect((await generate.exited).code).toBe(0);
    rbacYaml = generate.stdout;
    const docs = parseAllDocuments(rbacYaml).map((d) => d.toJS() as Doc);
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ""}/${d.metadata.name}`)).toStrictEqual([
      `ServiceAccount/${ns}/${sa}`,
      `ClusterRole//${sa}`,
      `ClusterRoleBinding//${sa}`,
      `Role/${ns}/${sa}`,
      `RoleBinding/${ns}/${sa}`,
    ]);
    const clusterRole = docs[1]!;
    // The "*" secret actor is one cluster-wide watch: no namespace discovery to grant.
    expect(clusterRole.rules).toStrictEqual([{ apiGroups: [""], resources: ["nodes", "secrets"], verbs: ["list", "watch"] }]);

    // ... applied without `list` on secrets.
    const lacking = docs.map((d) =>
      d.kind === "ClusterRole"
        ? {
            ...d,
            rules: [
              { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] },
              { apiGroups: [""], resources: ["secrets"], verbs: ["watch"] },
            ],
          }
        : d,
    );
    await kubectlOk(["apply", "-f", "-"], { input: lacking.map((d) => stringify(d)).join("---\n") });

    const token = await serviceAccountToken(core, ns, sa);
    await waitForAccess(token, "watch", "secrets", true);
    const config = writeConfig({ ...spec, kubeconfig: writeTokenKubeconfig(token, kubeconfigDir) }, dir);

    const table = await doctor(config);
    expect(table.code).toBe(1);
    const failing = table.stdout.split("\n").filter((l) => /\bFAIL\b/.test(l));
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatch(/^permission +local: list secrets \(cluster-wide\) +FAIL: denied/);
    expect(failing[0]).toContain("needed by actors[0] (secret); grant it: kube-observer rbac --config");
    expect(table.stdout).toMatch(/\n\n1 check failed\n$/);
    expect(table.stdout.split("\n")[0]).toMatch(/^CHECK +TARGET +RESULT +HINT$/);

    const json = await doctor(config, true);
    expect(json.code).toBe(1);
    expect(json.rows.filter((r) => r.result !== "ok")).toStrictEqual([
      expect.objectContaining({ check: "permission", target: "local: list secrets (cluster-wide)", result: "FAIL" }),
    ]);
    expect(json.rows.map((r) => `${r.check} ${r.target} ${r.result}`)).toStrictEqual([
      `config ${config} ok`,
      "cluster local ok",
      "permission local: list nodes (cluster-wide) ok",
      "permission local: watch nodes (cluster-wide) ok",
      "permission local: list secrets (cluster-wide) FAIL",
      "permission local: watch secrets (cluster-wide) ok",
      `permission local: list configmaps in ${ns} ok`,
      `permission local: watch configmaps in ${ns} ok`,
      `sink sqlite ${join(dir, "graph.sqlite")} ok`,
      `schema sqlite ${join(dir, "graph.sqlite")} ok`,
      `wal ${join(dir, "wal.sqlite")} ok`,
    ]);
    expect(json.rows[1]!.detail).toContain(`as system:serviceaccount:${ns}:${sa}`);

    // The full generated RBAC: everything passes.
    await kubectlOk(["apply", "-f", "-"], { input: rbacYaml });
    await waitForAccess(token, "list", "secrets", true);
    const passed = await doctor(config);
    expect(passed.stdout).not.toContain("FAIL");
    expect(passed.stdout).toMatch(/\n\nall checks passed\n$/);
    expect(passed.code).toBe(0);
  });

  it("fails on a cluster it cannot authenticate to and on an unwritable WAL and history, with hints", async () => {
    const kubeconfigDir = mkdtempSync(join(tmpdir(), "kube-observer-doctor-bad-"));
    const config = writeConfig(
      {
        actors: [{ resource: "configmap", namespace: ns }],
        kubeconfig: writeTokenKubeconfig("not-a-valid-token", kubeconfigDir),
        sink: { kind: "sqlite", sqlitePath: join(dir, "bad-graph.sqlite") },
        walPath: "/proc/kube-observer/wal.sqlite",
        history: { path: "/proc/kube-observer/history.sqlite" },
      },
      kubeconfigDir,
    );
    const { code, rows } = await doctor(config, true);
    expect(code).toBe(1);
    expect(rows.map((r) => `${r.check} ${r.result}`)).toStrictEqual([
      "config ok",
      "cluster FAIL",
      "permission FAIL",
      "sink ok",
      "schema ok",
      "wal FAIL",
      "history FAIL",
    ]);
    expect(rows[1]!.detail).toMatch(/\/version: Unauthorized$/);
    expect(rows[1]!.hint).toMatch(/credentials are not accepted/);
    expect(rows[2]!.detail).toBe("not checked: the cluster cannot be reached");
    expect(rows[4]!.detail).toBe("no graph yet; the agent creates version 2");
    expect(rows[5]!.hint).toMatch(/writable volume/);
    expect(rows[6]).toMatchObject({ target: "/proc/kube-observer/history.sqlite", hint: expect.stringMatching(/history.path/) });
  });

  it("reports a bad config with its problems and stops there", async () => {
    const bad = writeConfig({ actors: [{ resource: "nope" }] }, mkdtempSync(join(tmpdir(), "kube-observer-doctor-cfg-")));
    const { code, rows } = await doctor(bad, true);
    expect(code).toBe(1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ check: "config", result: "FAIL", hint: `fix the configuration (kube-observer config check ${bad})` });
    expect(rows[0]!.detail).toMatch(/unknown resource "nope"/);
  });
});
