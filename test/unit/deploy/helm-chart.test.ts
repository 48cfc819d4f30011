// deploy/helm/kube-observer without helm: the parts of the one-source rule that are plain
// files (scripts/deploy/generate-manifests.sh writes them; helm.test.ts renders the chart).
// The chart's default config is the deploy config, its default RBAC values are what
// `kube-observer rbac --format helm-values` prints for it, its version is the package's,
// and its values hold no credentials.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { rbacPlanFor } from "../../../core/cli/rbac-command.js";

const root = resolve(import.meta.dirname, "../../..");
const chart = "deploy/helm/kube-observer";
const read = (file: string): string => readFileSync(join(root, file), "utf8");
const stale = "run scripts/deploy/generate-manifests.sh (and commit the result)";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("the Helm chart's defaults come from the deploy config", () => {
  const values = parse(read(`${chart}/values.yaml`)) as Doc;

  it("files/kube-observer.dhall is deploy/config/kube-observer.dhall", () => {
    expect(read(`${chart}/files/kube-observer.dhall`), `the chart's default config differs from the deploy config: ${stale}`).toBe(
      read("deploy/config/kube-observer.dhall"),
    );
  });

  it("values.yaml's rbac rules are `kube-observer rbac --format helm-values` of the deploy config", async () => {
    const { plan } = await rbacPlanFor(join(root, "deploy/config/kube-observer.dhall"));
    expect(
      { clusterRules: values.rbac.clusterRules, namespaceRules: values.rbac.namespaceRules },
      `the chart's default RBAC differs from the deploy config's: ${stale}`,
    ).toStrictEqual({ clusterRules: plan.clusterRules, namespaceRules: plan.namespaceRules });
    expect(values.rbac.create).toBe(true);
  });

  it("Chart.yaml's version and appVersion (the default image tag) are package.json's version", () => {
    const meta = parse(read(`${chart}/Chart.yaml`)) as Doc;
    const { version } = JSON.parse(read("package.json")) as { version: string };
    expect([meta.version, meta.appVersion]).toStrictEqual([version, version]);
    expect(values.image.tag).toBe("");
  });

  it("holds no credentials: Neo4j's come from an existing Secret", () => {
    expect(values.sink).toStrictEqual({ type: "neo4j", neo4j: { existingSecret: "" } });
    expect(read(`${chart}/values.yaml`)).not.toMatch(/password:|NEO4J_PASSWORD:/i);
  });
});
