// `npm run demo`: a small realistic application in the local cluster, observed once into
// the embedded graph, and what a platform-security engineer would ask of it.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { up } from "../devenv/env.js";
import { devEnvPaths } from "../devenv/paths.js";

const run = promisify(execFile);
const say = (line = ""): void => console.log(line);

async function ignoreExists<T>(create: () => Promise<T>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!(error instanceof k8s.ApiException && error.code === 409)) throw error;
  }
}

function deployment(name: string, namespace: string, spec: k8s.V1PodSpec, replicas = 2): k8s.V1Deployment {
  return {
    metadata: { name, namespace, labels: { app: name } },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
  };
}

async function createApplication(kc: k8s.KubeConfig): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  for (const name of ["demo-shop", "demo-payments"]) await ignoreExists(() => core.createNamespace({ body: { metadata: { name } } }));

  // The shop: a Deployment that mounts a ConfigMap, a Secret and a PVC, reads env from
  // both, pulls from a private registry, and runs as its own ServiceAccount.
  const shop = "demo-shop";
  await ignoreExists(() =>
    core.createNamespacedConfigMap({
      namespace: shop,
      body: { metadata: { name: "shop-config" }, data: { currency: "EUR", "features.yaml": "checkout: v2\n" } },
    }),
  );
  await ignoreExists(() =>
    core.createNamespacedSecret({ namespace: shop, body: { metadata: { name: "shop-db" }, stringData: { username: "shop", password: "demo-only-password" } } }),
  );
  await ignoreExists(() =>
    core.createNamespacedSecret({
      namespace: shop,
      body: {
        metadata: { name: "registry-creds" },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from('{"auths":{}}').toString("base64") },
      },
    }),
  );
  await ignoreExists(() => core.createNamespacedServiceAccount({ namespace: shop, body: { metadata: { name: "shop" } } }));
  await ignoreExists(() =>
    core.createNamespacedPersistentVolumeClaim({
      namespace: shop,
      body: { metadata: { name: "shop-uploads" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } } },
    }),
  );
  await ignoreExists(() =>
    apps.createNamespacedDeployment({
      namespace: shop,
      body: deployment("shop-web", shop, {
        serviceAccountName: "shop",
        imagePullSecrets: [{ name: "registry-creds" }],
        initContainers: [{ name: "migrate", image: "registry.example.com/shop/migrations:3.2", envFrom: [{ secretRef: { name: "shop-db" } }] }],
        containers: [
          {
            name: "web",
            image: "registry.example.com/shop/web:3.2",
            env: [
              { name: "CURRENCY", valueFrom: { configMapKeyRef: { name: "shop-config", key: "currency" } } },
              { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "shop-db", key: "password" } } },
            ],
            volumeMounts: [
              { name: "config", mountPath: "/etc/shop" },
              { name: "uploads", mountPath: "/var/uploads" },
            ],
          },
          { name: "proxy", image: "nginx:1.27", volumeMounts: [{ name: "db", mountPath: "/etc/db", readOnly: true }] },
        ],
        volumes: [
          { name: "config", configMap: { name: "shop-config" } },
          { name: "db", secret: { secretName: "shop-db" } },
          { name: "uploads", persistentVolumeClaim: { claimName: "shop-uploads" } },
        ],
      }),
    }),
  );

  // In front of the shop: a Service selecting its pods and an Ingress routing to it, with
  // a TLS Secret (placeholder text; the API server checks the keys exist, not the PEM).
  await ignoreExists(() =>
    core.createNamespacedService({
      namespace: shop,
      body: { metadata: { name: "shop-web" }, spec: { selector: { app: "shop-web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
    }),
  );
  await ignoreExists(() =>
    core.createNamespacedSecret({
      namespace: shop,
      body: {
        metadata: { name: "shop-tls" },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": "demo-only-certificate", "tls.key": "demo-only-private-key" },
      },
    }),
  );
  await ignoreExists(() =>
    networking.createNamespacedIngress({
      namespace: shop,
      body: {
        metadata: { name: "shop" },
        spec: {
          tls: [{ hosts: ["shop.demo.example"], secretName: "shop-tls" }],
          rules: [
            {
              host: "shop.demo.example",
              http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "shop-web", port: { name: "http" } } } }] },
            },
          ],
        },
      },
    }),
  );
  // The shop's ServiceAccount may read the namespace's Secrets: what an auditor wants to see.
  await ignoreExists(() =>
    rbac.createNamespacedRole({
      namespace: shop,
      body: { metadata: { name: "secret-reader" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] }] },
    }),
  );
  await ignoreExists(() =>
    rbac.createNamespacedRoleBinding({
      namespace: shop,
      body: {
        metadata: { name: "shop-reads-secrets" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
        subjects: [{ kind: "ServiceAccount", name: "shop", namespace: shop }],
      },
    }),
  );

  // Payments: a Deployment that takes its API key from a Secret, and a leftover pod that
  // still names a Secret nobody created — the dangling reference the graph should show.
  const payments = "demo-payments";
  await ignoreExists(() =>
    core.createNamespacedSecret({ namespace: payments, body: { metadata: { name: "stripe-key" }, stringData: { key: "sk_demo_not_a_real_key" } } }),
  );
  await ignoreExists(() => core.createNamespacedServiceAccount({ namespace: payments, body: { metadata: { name: "payments" } } }));
  await ignoreExists(() =>
    apps.createNamespacedDeployment({
      namespace: payments,
      body: deployment(
        "payments-api",
        payments,
        {
          serviceAccountName: "payments",
          containers: [{ name: "api", image: "ghcr.io/example/payments-api:1.4.0", envFrom: [{ secretRef: { name: "stripe-key" } }] }],
        },
        1,
      ),
    }),
  );
  await ignoreExists(() =>
    core.createNamespacedPod({
      namespace: payments,
      body: {
        metadata: { name: "legacy-report" },
        spec: {
          containers: [
            { name: "report", image: "python:3.12-slim", env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "old-reporting-token", key: "token" } } }] },
          ],
        },
      },
    }),
  );

  // kube-controller-manager turns the Deployments into ReplicaSets and Pods.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const shopPods = (await core.listNamespacedPod({ namespace: shop, labelSelector: "app=shop-web" })).items.length;
    const paymentPods = (await core.listNamespacedPod({ namespace: payments, labelSelector: "app=payments-api" })).items.length;
    if (shopPods >= 2 && paymentPods >= 1) break;
    if (Date.now() > deadline) throw new Error("the Deployments' pods did not appear within 60 s (is kube-controller-manager running? `npm run env:status`)");
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const root = devEnvPaths().root;
  const { stdout } = await run(process.execPath, [join(root, "dist/core/cli/main.js"), ...args], {
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trimEnd();
}

async function main(): Promise<void> {
  const paths = devEnvPaths();
  say("kube-observer demo");
  say("==================");
  say("1. the local cluster (etcd, kube-apiserver, kube-controller-manager, Neo4j; built once, then reused)");
  const { state } = await up((line) => say(`   ${line}`));
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);

  say("2. a small application: namespaces demo-shop and demo-payments, two Deployments, ConfigMaps, Secrets, a PVC, ServiceAccounts,");
  say("   the shop behind a Service and a TLS Ingress, and a Role letting the shop's ServiceAccount read Secrets");
  await createApplication(kc);

  const dir = join(paths.dir, "demo");
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "config.dhall");
  writeFileSync(
    config,
    `-- Written by npm run demo: config/example.dhall's actors, with the graph and WAL in .dev-env/demo/.
let T = ${join(paths.root, "config/types.dhall")}
let example = ${join(paths.root, "config/example.dhall")}
in  example // { sink = T.Sink::{ sqlitePath = "${join(dir, "graph.sqlite")}" }, wal = T.Wal::{ path = "${join(dir, "wal.sqlite")}" } }
`,
  );
  const env = { KUBECONFIG: state.kubeconfig, KUBE_OBSERVER_LOG_LEVEL: "warn" };
  say("3. the agent lists every namespace once into the embedded SQLite graph");
  say(`   $ KUBECONFIG=.dev-env/kubeconfig kube-observer run --config ${config} --once`);
  const started = Date.now();
  await cli(["run", "--config", config, "--once"], env);
  say(`   done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  say();
  say("4. what is in the graph");
  say(`   $ kube-observer graph stats --config ${config}`);
  say((await cli(["graph", "stats", "--config", config], env)).replace(/^/gm, "   "));
  say();
  say("5. who uses the shop's database Secret, and how?");
  say(`   $ kube-observer who-uses secret shop-db -n demo-shop --config ${config}`);
  say((await cli(["who-uses", "secret", "shop-db", "-n", "demo-shop", "--config", config], env)).replace(/^/gm, "   "));
  say();
  // One who-uses question: the command, then its answer, indented.
  const ask = async (question: string | null, args: string[]): Promise<void> => {
    if (question) say(question);
    say(`   $ kube-observer ${args.join(" ")} --config ${config}`);
    say((await cli([...args, "--config", config], env)).replace(/^/gm, "   "));
    say();
  };
  await ask("6. what routes to the shop's Service, and what uses its TLS Secret?", ["who-uses", "service", "shop-web", "-n", "demo-shop"]);
  await ask(null, ["who-uses", "secret", "shop-tls", "-n", "demo-shop"]);
  await ask("7. the shop's ServiceAccount: the pods running as it, the bindings naming it, and the Role they grant", [
    "who-uses",
    "serviceaccount",
    "shop",
    "-n",
    "demo-shop",
  ]);
  await ask(null, ["who-uses", "role", "secret-reader", "-n", "demo-shop"]);
  await ask("8. the images pulled from the private registry", ["who-uses", "registry", "registry.example.com"]);
  say("9. references to things that do not exist (in the demo's namespaces)");
  say(`   $ kube-observer graph dangling --config ${config}`);
  // One block per missing object: its line, then the indented lines of who refers to it.
  const blocks = (await cli(["graph", "dangling", "--config", config], env)).split(/\n(?=\S)/).filter((b) => b.trim() !== "");
  const mine = blocks.filter((b) => /^\S+ local\/demo-/.test(b));
  say(mine.join("\n").replace(/^/gm, "   "));
  if (blocks.length > mine.length) {
    say(`   … and ${blocks.length - mine.length} outside them: e.g. the ServiceAccounts the built-in system:controller bindings name,`);
    say("     which this local kube-controller-manager (admin kubeconfig, no --use-service-account-credentials) never creates");
  }
  say();
  say("Next:");
  say(`  keep it live:      KUBECONFIG=.dev-env/kubeconfig bash scripts/node/run.sh node dist/core/cli/main.js run --config ${config}`);
  say("                    (then change something in the cluster and watch graph stats / who-uses follow)");
  say(`  into Neo4j:        NEO4J_URI=${state.neo4j.boltUrl} NEO4J_USERNAME=neo4j NEO4J_PASSWORD=<"password" in .dev-env/env.json> \\`);
  say(`                      bash scripts/node/run.sh node dist/core/cli/main.js run --config ${config} --sink neo4j`);
  say("  your own cluster:  KUBECONFIG=~/.kube/config bash scripts/node/run.sh node dist/core/cli/main.js run --config config/example.dhall");
  say("  stop the servers:  npm run env:down");
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
