// deploy/: the committed RBAC is what `kube-observer rbac` generates from the shipped
// config, that config observes what config/example.dhall observes, and the manifests and
// image keep the properties the deployment relies on (restricted Pod Security, read-only
// root filesystem with volumes where the agent writes, probes, no secret values).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { rbacPlanFor } from "../../../core/cli/rbac-command.js";
import { loadConfigJson } from "../../../core/config/load.js";
import { rbacManifests } from "../../../core/rbac/manifests.js";

const root = resolve(import.meta.dirname, "../../..");
const deployConfig = "deploy/config/kube-observer.dhall";
const read = (file: string): string => readFileSync(join(root, file), "utf8");

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = (file: string): Doc[] => parseAllDocuments(read(file)).map((d) => d.toJS() as Doc);

describe("deploy/rbac.yaml", () => {
  // It is the Helm chart rendered with its defaults (scripts/deploy/generate-manifests.sh;
  // helm.test.ts checks that rendering); here: its objects are what `kube-observer rbac`
  // generates from the deploy config, names, rules and all, apart from the chart's labels.
  it("holds what `kube-observer rbac` generates from deploy/config/kube-observer.dhall", async () => {
    const { plan } = await rbacPlanFor(join(root, deployConfig));
    const withoutLabels = (d: Doc) => ({ ...d, metadata: { ...d.metadata, labels: undefined } });
    expect(
      docs("deploy/rbac.yaml").map(withoutLabels),
      `deploy/rbac.yaml is out of date with ${deployConfig} and the resource plugins: run scripts/deploy/generate-manifests.sh (and commit the result)`,
    ).toStrictEqual(rbacManifests(plan).map(withoutLabels));
  });
});

describe("deploy/config/kube-observer.dhall", () => {
  it("observes what config/example.dhall observes, in every namespace, inside the cluster", async () => {
    const deployed = await loadConfigJson(join(root, deployConfig));
    const example = await loadConfigJson(join(root, "config/example.dhall"));
    const resources = (c: typeof deployed) => c.actors.map((a) => `${a.resource} ${a.namespace} ${a.exclude.join(",")}`).sort();
    expect(
      resources(deployed),
      `${deployConfig} must observe what config/example.dhall observes: change its actors, then run scripts/deploy/generate-manifests.sh`,
    ).toStrictEqual(resources(example));
    expect(deployed.clusters).toStrictEqual([{ name: "in-cluster", kubeconfig: null, context: null, inCluster: true }]);
    expect(deployed.sink.kind).toBe("neo4j");
    expect(deployed.sink.neo4j?.passwordEnv).toBe("NEO4J_PASSWORD");
  });
});

describe("deploy/ manifests", () => {
  const kustomization = parse(read("deploy/kustomization.yaml")) as Doc;
  const deployment = docs("deploy/deployment.yaml")[0]!;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it("kustomization: namespace, generated RBAC, Deployment, and the config as a ConfigMap with a stable name", () => {
    expect(kustomization.resources).toStrictEqual(["namespace.yaml", "rbac.yaml", "deployment.yaml", "networkpolicy.yaml"]);
    expect(kustomization.namespace).toBeUndefined(); // it would move the Roles of named namespaces
    expect(kustomization.configMapGenerator).toStrictEqual([
      { name: "kube-observer-config", namespace: "kube-observer", files: ["config/kube-observer.dhall"] },
    ]);
    expect(kustomization.generatorOptions.disableNameSuffixHash).toBe(true);
  });

  it("ships no secret values: the Deployment only refers to the operator's Secret", () => {
    for (const file of ["deploy/namespace.yaml", "deploy/rbac.yaml", "deploy/deployment.yaml", "deploy/networkpolicy.yaml", "deploy/kustomization.yaml"]) {
      expect(docs(file).map((d) => d.kind)).not.toContain("Secret");
    }
    expect(kustomization.secretGenerator).toBeUndefined();
    const fromSecret = container.env.filter((e: Doc) => e.valueFrom?.secretKeyRef);
    expect(fromSecret.map((e: Doc) => [e.name, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.optional ?? false])).toStrictEqual([
      ["NEO4J_PASSWORD", "kube-observer-neo4j", false],
      ["NEO4J_USERNAME", "kube-observer-neo4j", true],
      ["NEO4J_URI", "kube-observer-neo4j", true],
    ]);
    expect(container.env.filter((e: Doc) => /PASSWORD/.test(e.name) && e.value !== undefined)).toStrictEqual([]);
  });

  it("a NetworkPolicy admits only labelled scrapers, on the ops port, to the agent's pod", () => {
    const [policy, ...rest] = docs("deploy/networkpolicy.yaml");
    expect(rest).toStrictEqual([]);
    expect(policy!.kind).toBe("NetworkPolicy");
    expect(policy!.metadata.namespace).toBe("kube-observer");
    expect(policy!.spec.podSelector.matchLabels).toStrictEqual(deployment.spec.template.metadata.labels);
    expect(policy!.spec.policyTypes).toStrictEqual(["Ingress"]);
    expect(policy!.spec.ingress).toStrictEqual([
      { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { "kube-observer.io/scraper": "true" } } }], ports: [{ protocol: "TCP", port: 8080 }] },
    ]);
    // The port the agent listens on.
    expect(container.args.at(-1)).toBe("0.0.0.0:8080");
  });

  it("the namespace enforces the restricted Pod Security Standard, which the pod meets", () => {
    const ns = docs("deploy/namespace.yaml")[0]!;
    expect(ns.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      runAsNonRoot: true,
    });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.volumes.every((v: Doc) => v.configMap || v.emptyDir)).toBe(true);
  });

  it("runs as the generated ServiceAccount, with the config mounted as a directory and probes on --listen", () => {
    const sa = docs("deploy/rbac.yaml").find((d) => d.kind === "ServiceAccount")!;
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(deployment.metadata.namespace).toBe(sa.metadata.namespace);
    const configMount = container.volumeMounts.find((m: Doc) => m.name === "config");
    expect(configMount.subPath).toBeUndefined();
    expect(pod.volumes.find((v: Doc) => v.name === "config").configMap.name).toBe("kube-observer-config");
    expect(container.args).toStrictEqual(["run", "--config", `${configMount.mountPath}/kube-observer.dhall`, "--sink", "neo4j", "--listen", "0.0.0.0:8080"]);
    expect(container.ports).toStrictEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toStrictEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toStrictEqual({ path: "/readyz", port: "http" });
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
  });

  it("the agent writes only on volumes: WAL and SQLite paths are under writable emptyDirs", async () => {
    const config = await loadConfigJson(join(root, deployConfig));
    const writable = container.volumeMounts
      .filter((m: Doc) => !m.readOnly && pod.volumes.find((v: Doc) => v.name === m.name)?.emptyDir)
      .map((m: Doc) => `${m.mountPath}/`);
    for (const path of [config.wal.path, config.sink.sqlitePath]) {
      expect(
        writable.some((prefix: string) => path.startsWith(prefix)),
        `${path} is not on a writable volume`,
      ).toBe(true);
    }
    expect(writable).toContain("/tmp/");
  });
});

describe("deploy/: never two agents on one WAL", () => {
  const kustomization = parse(read("deploy/kustomization.yaml")) as Doc;
  const deployment = docs("deploy/deployment.yaml")[0]!;
  const volumes = deployment.spec.template.spec.volumes as Doc[];

  it("one replica, replaced with Recreate (the old pod is gone before the new one starts), the WAL on a per-pod emptyDir", () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toStrictEqual({ type: "Recreate" });
    expect(volumes.find((v) => v.name === "data")).toMatchObject({ emptyDir: expect.any(Object) });
  });

  it("deploy/persistent-wal puts it on a ReadWriteOncePod claim, which only one pod can mount, and changes nothing else", () => {
    const overlay = parse(read("deploy/persistent-wal/kustomization.yaml")) as Doc;
    expect(overlay.resources).toStrictEqual(["kube-observer.yaml"]);
    expect(overlay.images).toStrictEqual(kustomization.images);
    const all = docs("deploy/persistent-wal/kube-observer.yaml");
    const pvc = all.find((d) => d.kind === "PersistentVolumeClaim")!;
    expect(pvc.spec.accessModes).toStrictEqual(["ReadWriteOncePod"]);
    // The same Deployment but for the data volume (index 1), which is that claim.
    const persistent = all.find((d) => d.kind === "Deployment")!;
    expect(volumes[1]!.name).toBe("data");
    expect(persistent.spec.template.spec.volumes[1]).toStrictEqual({ name: "data", persistentVolumeClaim: { claimName: pvc.metadata.name } });
    const withoutData = (d: Doc) => ({ ...d.spec.template.spec, volumes: d.spec.template.spec.volumes.filter((v: Doc) => v.name !== "data") });
    expect(withoutData(persistent)).toStrictEqual(withoutData(deployment));
    expect(all.map((d) => d.kind).sort()).toStrictEqual(
      ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Namespace", "NetworkPolicy", "PersistentVolumeClaim", "ServiceAccount"].sort(),
    );
  });
});
