// Creates (or reuses) the tier's objects before anything is timed: namespaces, then
// ServiceAccounts, ConfigMaps, Secrets, PVCs and ReplicaSets, then Pods that use them all,
// then a stamp on each namespace saying it is complete. A rerun finds the stamps and
// reuses everything; --fresh deletes the tier's namespaces and starts over.
import {
  ANNOTATION_FILLED,
  BENCH_NODES,
  BENCH_REGISTRY,
  configMapName,
  fillerCount,
  fillerNamespaceName,
  fillStamp,
  LABEL_CHURN,
  LABEL_ROLE,
  LABEL_TIER,
  namespacePlans,
  nodeName,
  podName,
  pvcName,
  replicaSetName,
  secretName,
  serviceAccountName,
  type NamespacePlan,
  type Tier,
} from "./tiers.js";
import { forEachLimited, KubeApiError, nsPath, type KubeObjectBody, type KubeWriter } from "./kube.js";

export type Say = (line: string) => void;

const CREATE_CONCURRENCY = 48;

// ---- manifests ------------------------------------------------------------------------

function labels(tier: Tier, extra: Record<string, string> = {}): Record<string, string> {
  return { [LABEL_TIER]: tier.name, ...extra };
}

const b64 = (text: string): string => Buffer.from(text).toString("base64");

export function configMapManifest(tier: Tier, name: string, app: string, extraLabels: Record<string, string> = {}): KubeObjectBody {
  return {
    metadata: { name, labels: labels(tier, { app, ...extraLabels }) },
    data: {
      "application.properties": Array.from({ length: 12 }, (_, i) => `feature.flag.${i}=${i % 3 === 0}\nservice.timeout.${i}=${30 + i}s`).join("\n"),
      LOG_LEVEL: "info",
      ENDPOINT: `https://${app}.svc.cluster.local:8443`,
      REGION: "eu-west-1",
      POOL_SIZE: "16",
    },
  };
}

export function secretManifest(tier: Tier, name: string, app: string): KubeObjectBody {
  return {
    metadata: { name, labels: labels(tier, { app }) },
    type: "Opaque",
    data: { username: b64(`${app}-user`), password: b64(`${name}-${"x".repeat(24)}`), "api-token": b64("t".repeat(64)) },
  };
}

export function serviceAccountManifest(tier: Tier, name: string): KubeObjectBody {
  return { metadata: { name, labels: labels(tier, { app: `app-${name}` }) } };
}

export function pvcManifest(tier: Tier, name: string): KubeObjectBody {
  return {
    metadata: { name, labels: labels(tier) },
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } }, storageClassName: "bench-standard" },
  };
}

/** replicas 0, and a selector no pod of the bench matches: the ReplicaSet controller
 *  leaves the pods alone, while their (non-controller) owner references keep them from
 *  the garbage collector and give the graph its OWNED_BY edges. */
function replicaSetManifest(tier: Tier, name: string, sa: string): KubeObjectBody {
  const selector = { "bench.kube-observer/rs": name };
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name, labels: labels(tier) },
    spec: {
      replicas: 0,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: selector },
        spec: { serviceAccountName: sa, containers: [{ name: "app", image: `${BENCH_REGISTRY}/app-0:1.0` }] },
      },
    },
  };
}

export interface PodRefs {
  configMap: string;
  secret: string;
  pvc: string;
  serviceAccount: string;
  replicaSet: { name: string; uid: string };
  node: string;
  /** Picks the app image (app-<n>). */
  variant: number;
}

/** A realistic pod: init container and two containers, env from a ConfigMap and a
 *  Secret (envFrom and a secretKeyRef), ConfigMap, Secret and PVC volumes (plus the
 *  projected token volume the ServiceAccount admission adds), its own ServiceAccount, a
 *  ReplicaSet owner, bound to a node, tolerating every taint (the bench's nodes have no
 *  kubelet and become NotReady). */
export function podManifest(tier: Tier, name: string, refs: PodRefs, extraLabels: Record<string, string> = {}): KubeObjectBody {
  const app = `app-${refs.serviceAccount}`;
  return {
    metadata: {
      name,
      labels: labels(tier, { app, "pod-template-hash": "bench", ...extraLabels }),
      annotations: { "bench.kube-observer/owner-team": "platform", "prometheus.io/scrape": "true" },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: refs.replicaSet.name, uid: refs.replicaSet.uid, controller: false, blockOwnerDeletion: false },
      ],
    },
    spec: {
      serviceAccountName: refs.serviceAccount,
      nodeName: refs.node,
      tolerations: [{ operator: "Exists" }],
      initContainers: [
        {
          name: "migrate",
          image: `${BENCH_REGISTRY}/migrate:1.4`,
          command: ["/bin/migrate", "--config", "/etc/app/application.properties"],
          envFrom: [{ configMapRef: { name: refs.configMap } }],
          volumeMounts: [{ name: "config", mountPath: "/etc/app", readOnly: true }],
        },
      ],
      containers: [
        {
          name: "app",
          image: `${BENCH_REGISTRY}/app-${refs.variant % 10}:1.0`,
          ports: [{ name: "http", containerPort: 8080 }],
          envFrom: [{ configMapRef: { name: refs.configMap } }, { secretRef: { name: refs.secret } }],
          env: [
            { name: "MODE", value: "production" },
            { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: refs.secret, key: "password" } } },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          ],
          resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
          volumeMounts: [
            { name: "config", mountPath: "/etc/app", readOnly: true },
            { name: "credentials", mountPath: "/etc/credentials", readOnly: true },
            { name: "data", mountPath: "/var/lib/app" },
          ],
          securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
        },
        {
          name: "proxy",
          image: `${BENCH_REGISTRY}/proxy:2.1`,
          ports: [{ name: "https", containerPort: 8443 }],
          env: [{ name: "UPSTREAM", value: "127.0.0.1:8080" }],
          volumeMounts: [{ name: "credentials", mountPath: "/etc/proxy/credentials", readOnly: true }],
        },
      ],
      volumes: [
        { name: "config", configMap: { name: refs.configMap } },
        { name: "credentials", secret: { secretName: refs.secret } },
        { name: "data", persistentVolumeClaim: { claimName: refs.pvc } },
      ],
    },
  };
}

/** The references pod j of a namespace uses. */
export function podRefs(plan: NamespacePlan, j: number, replicaSetUids: ReadonlyMap<string, string>): PodRefs {
  const sa = j % plan.serviceaccounts;
  const rs = replicaSetName(sa);
  return {
    configMap: configMapName(j % plan.configmaps),
    secret: secretName(j % plan.secrets),
    pvc: pvcName(j % plan.pvcs),
    serviceAccount: serviceAccountName(sa),
    replicaSet: { name: rs, uid: replicaSetUids.get(`${plan.name}/${rs}`) ?? "" },
    node: nodeName((plan.index * 7 + j) % BENCH_NODES),
    variant: j,
  };
}

// ---- ensuring the tier exists ---------------------------------------------------------

export interface SetupResult {
  seconds: number;
  /** Tier namespaces found complete and reused / filled now. */
  reusedNamespaces: number;
  filledNamespaces: number;
  fillers: number;
  requests: number;
  /** ReplicaSet uids by "namespace/name" (the churn's pods need them). */
  replicaSetUids: Map<string, string>;
  plans: NamespacePlan[];
  fillerNames: string[];
  /** Objects of earlier churn runs removed. */
  leftoversRemoved: number;
}

interface NamespaceInfo {
  name: string;
  phase: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

async function listNamespaces(kube: KubeWriter): Promise<Map<string, NamespaceInfo>> {
  const items = await kube.listAll("/api/v1/namespaces");
  return new Map(
    items.map((n) => [
      n.metadata!.name!,
      { name: n.metadata!.name!, phase: n.status?.phase, labels: n.metadata?.labels ?? {}, annotations: n.metadata?.annotations ?? {} },
    ]),
  );
}

/** Force-deletes the pods (no kubelet will ever confirm a graceful delete), then the
 *  namespaces; with wait, returns once they are gone. */
export async function deleteNamespaces(kube: KubeWriter, names: readonly string[], say: Say, wait = true): Promise<void> {
  if (names.length === 0) return;
  say(`deleting ${names.length} namespace(s)${wait ? " and waiting until they are gone" : ""}`);
  await forEachLimited(names, 16, async (ns) => {
    await kube.must("DELETE", `${nsPath(ns, "pods")}?gracePeriodSeconds=0`, undefined, { ok: [404] });
    await kube.must("DELETE", `/api/v1/namespaces/${ns}`, undefined, { ok: [404, 409] });
  });
  if (wait) await waitUntilGone(kube, names, say);
}

async function waitUntilGone(kube: KubeWriter, names: readonly string[], say: Say, timeoutMs = 20 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let remaining = [...names];
  let lastSaid = 0;
  let round = 0;
  while (remaining.length > 0) {
    if (Date.now() > deadline) throw new Error(`${remaining.length} namespace(s) still terminating after ${timeoutMs / 1000} s (e.g. ${remaining[0]})`);
    const existing = await listNamespaces(kube);
    remaining = remaining.filter((n) => existing.has(n));
    if (remaining.length === 0) break;
    if (Date.now() - lastSaid > 10_000) {
      say(`  ${remaining.length} namespace(s) still terminating`);
      lastSaid = Date.now();
    }
    // Pods created in a terminating namespace's last moments would block it: force them.
    if (++round % 5 === 0)
      await forEachLimited(remaining, 16, (ns) => kube.must("DELETE", `${nsPath(ns, "pods")}?gracePeriodSeconds=0`, undefined, { ok: [404] }));
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

export async function ensureNodes(kube: KubeWriter): Promise<void> {
  await forEachLimited(
    Array.from({ length: BENCH_NODES }, (_, i) => nodeName(i)),
    BENCH_NODES,
    (name) => kube.must("POST", "/api/v1/nodes", { metadata: { name, labels: { [LABEL_ROLE]: "node" } } }, { ok: [409] }),
  );
}

export async function ensureTier(kube: KubeWriter, tier: Tier, options: { fresh: boolean; say: Say }): Promise<SetupResult> {
  const { say } = options;
  const started = Date.now();
  let requests = 0;
  const plans = namespacePlans(tier);
  const fillerNames = Array.from({ length: fillerCount(tier) }, (_, k) => fillerNamespaceName(tier, k));

  await ensureNodes(kube);
  requests += BENCH_NODES;

  let existing = await listNamespaces(kube);
  const recreate = new Set<string>();
  if (options.fresh) {
    for (const p of plans) if (existing.has(p.name)) recreate.add(p.name);
  }
  for (const p of plans) {
    const ns = existing.get(p.name);
    if (!ns) continue;
    const stamp = ns.annotations[ANNOTATION_FILLED];
    // Another manifest version or other counts: start that namespace over.
    if (stamp !== undefined && stamp !== fillStamp(p)) recreate.add(p.name);
  }
  if (recreate.size > 0) await deleteNamespaces(kube, [...recreate], say);
  const terminating = [...plans.map((p) => p.name), ...fillerNames].filter((n) => existing.get(n)?.phase === "Terminating" && !recreate.has(n));
  if (terminating.length > 0) {
    say(`waiting for ${terminating.length} namespace(s) of an earlier clean-up to finish terminating`);
    await waitUntilGone(kube, terminating, say);
  }
  existing = await listNamespaces(kube);

  const toFill = plans.filter((p) => existing.get(p.name)?.annotations[ANNOTATION_FILLED] !== fillStamp(p));
  const missingFillers = fillerNames.filter((n) => !existing.has(n));
  const replicaSetUids = new Map<string, string>();

  if (toFill.length > 0 || missingFillers.length > 0) {
    say(`creating ${toFill.length} of ${plans.length} tier namespace(s) and ${missingFillers.length} filler namespace(s)`);
  } else {
    say(`reusing the ${plans.length} tier namespace(s) and ${fillerNames.length} filler namespace(s) already in the cluster`);
  }

  // Namespaces.
  const nsBodies = [
    ...toFill.filter((p) => !existing.has(p.name)).map((p) => ({ metadata: { name: p.name, labels: { [LABEL_TIER]: tier.name, [LABEL_ROLE]: "tier" } } })),
    ...missingFillers.map((name) => ({ metadata: { name, labels: { [LABEL_ROLE]: "filler", ...(tier.name === "XS" ? { [LABEL_TIER]: "XS" } : {}) } } })),
  ];
  await forEachLimited(nsBodies, CREATE_CONCURRENCY, (body) => kube.must("POST", "/api/v1/namespaces", body, { ok: [409] }));
  requests += nsBodies.length;

  if (toFill.length > 0) {
    // Everything pods refer to, first (the ServiceAccount admission refuses a pod whose
    // account does not exist yet).
    type Task = () => Promise<unknown>;
    const first: Task[] = [];
    for (const p of toFill) {
      for (let i = 0; i < p.serviceaccounts; i++) {
        const sa = serviceAccountName(i);
        first.push(() => kube.must("POST", nsPath(p.name, "serviceaccounts"), serviceAccountManifest(tier, sa), { ok: [409] }));
        const rs = replicaSetName(i);
        first.push(async () => {
          const res = await kube.must("POST", nsPath(p.name, "replicasets", "apps/v1"), replicaSetManifest(tier, rs, sa), { ok: [409] });
          const uid =
            res.status === 409 ? (await kube.must("GET", `${nsPath(p.name, "replicasets", "apps/v1")}/${rs}`)).body.metadata?.uid : res.body.metadata?.uid;
          replicaSetUids.set(`${p.name}/${rs}`, uid ?? "");
        });
      }
      for (let j = 0; j < p.configmaps; j++)
        first.push(() =>
          kube.must("POST", nsPath(p.name, "configmaps"), configMapManifest(tier, configMapName(j), `app-${serviceAccountName(j % p.serviceaccounts)}`), {
            ok: [409],
          }),
        );
      for (let j = 0; j < p.secrets; j++)
        first.push(() =>
          kube.must("POST", nsPath(p.name, "secrets"), secretManifest(tier, secretName(j), `app-${serviceAccountName(j % p.serviceaccounts)}`), { ok: [409] }),
        );
      for (let j = 0; j < p.pvcs; j++)
        first.push(() => kube.must("POST", nsPath(p.name, "persistentvolumeclaims"), pvcManifest(tier, pvcName(j)), { ok: [409] }));
    }
    const t1 = Date.now();
    await forEachLimited(first, CREATE_CONCURRENCY, (task) => task());
    requests += first.length;
    say(`  ${first.length} ServiceAccounts, ReplicaSets, ConfigMaps, Secrets and PVCs in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    const pods: Array<{ plan: NamespacePlan; j: number }> = [];
    for (const p of toFill) for (let j = 0; j < p.pods; j++) pods.push({ plan: p, j });
    const t2 = Date.now();
    await forEachLimited(pods, CREATE_CONCURRENCY, ({ plan, j }) =>
      kube.must("POST", nsPath(plan.name, "pods"), podManifest(tier, podName(j), podRefs(plan, j, replicaSetUids)), { ok: [409] }),
    );
    requests += pods.length;
    say(`  ${pods.length} pods in ${((Date.now() - t2) / 1000).toFixed(1)} s (${(pods.length / ((Date.now() - t2) / 1000)).toFixed(0)}/s)`);

    await forEachLimited(toFill, CREATE_CONCURRENCY, (p) =>
      kube.must(
        "PATCH",
        `/api/v1/namespaces/${p.name}`,
        { metadata: { annotations: { [ANNOTATION_FILLED]: fillStamp(p) } } },
        { contentType: "application/merge-patch+json" },
      ),
    );
    requests += toFill.length;
  }

  // ReplicaSet uids of reused namespaces (the churn's pods are owned by them too).
  const rsItems = await kube.listAll("/apis/apps/v1/replicasets", { labelSelector: `${LABEL_TIER}=${tier.name}` });
  for (const rs of rsItems) replicaSetUids.set(`${rs.metadata!.namespace}/${rs.metadata!.name}`, rs.metadata!.uid!);

  const leftoversRemoved = await removeChurnObjects(kube, tier);
  if (leftoversRemoved > 0) say(`removed ${leftoversRemoved} object(s) left by an earlier churn run`);

  // kube-controller-manager gives each namespace its default ServiceAccount and the
  // kube-root-ca.crt ConfigMap; wait for them so that the counts are stable.
  await waitForControllerObjects(
    kube,
    plans.map((p) => p.name),
    say,
  );

  return {
    seconds: (Date.now() - started) / 1000,
    reusedNamespaces: plans.length - toFill.length,
    filledNamespaces: toFill.length,
    fillers: fillerNames.length,
    requests,
    replicaSetUids,
    plans,
    fillerNames,
    leftoversRemoved,
  };
}

async function waitForControllerObjects(kube: KubeWriter, names: readonly string[], say: Say, timeoutMs = 120_000): Promise<void> {
  const wanted = new Set(names);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sas = await kube.listAll("/api/v1/serviceaccounts", { fieldSelector: "metadata.name=default" });
    const cms = await kube.listAll("/api/v1/configmaps", { fieldSelector: "metadata.name=kube-root-ca.crt" });
    const withSa = new Set(sas.map((s) => s.metadata!.namespace!));
    const withCm = new Set(cms.map((s) => s.metadata!.namespace!));
    const missing = [...wanted].filter((n) => !withSa.has(n) || !withCm.has(n));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      say(`warning: ${missing.length} namespace(s) still lack their default ServiceAccount or kube-root-ca.crt`);
      return;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Deletes what churn runs created (labelled churn=true) in the tier's namespaces. */
export async function removeChurnObjects(kube: KubeWriter, tier: Tier): Promise<number> {
  const selector = `${LABEL_CHURN}=true,${LABEL_TIER}=${tier.name}`;
  const pods = await kube.listAll("/api/v1/pods", { labelSelector: selector });
  const cms = await kube.listAll("/api/v1/configmaps", { labelSelector: selector });
  const targets = [
    ...pods.map((p) => `${nsPath(p.metadata!.namespace!, "pods")}/${p.metadata!.name}?gracePeriodSeconds=0`),
    ...cms.map((c) => `${nsPath(c.metadata!.namespace!, "configmaps")}/${c.metadata!.name}`),
  ];
  await forEachLimited(targets, CREATE_CONCURRENCY, (path) => kube.must("DELETE", path, undefined, { ok: [404] }));
  return targets.length;
}

/** --cleanup: removes the tier's namespaces (and its fillers, and the bench's nodes when
 *  no other tier is left). Does not wait for the namespaces to finish terminating. */
export async function cleanupTier(kube: KubeWriter, tier: Tier, say: Say): Promise<void> {
  const existing = await listNamespaces(kube);
  const mine = [...existing.values()].filter(
    (n) => n.labels[LABEL_TIER] === tier.name || (tier.name !== "XS" && n.labels[LABEL_ROLE] === "filler" && n.labels[LABEL_TIER] === undefined),
  );
  await deleteNamespaces(
    kube,
    mine.map((n) => n.name),
    say,
    false,
  );
  const othersLeft = [...existing.values()].some((n) => n.labels[LABEL_TIER] !== undefined && n.labels[LABEL_TIER] !== tier.name && n.phase !== "Terminating");
  if (!othersLeft) {
    await forEachLimited(
      Array.from({ length: BENCH_NODES }, (_, i) => nodeName(i)),
      BENCH_NODES,
      (name) => kube.must("DELETE", `/api/v1/nodes/${name}`, undefined, { ok: [404] }),
    );
  }
}

export function describeError(error: unknown): string {
  return error instanceof KubeApiError || error instanceof Error ? error.message : String(error);
}
