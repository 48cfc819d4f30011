// Benchmark tiers: what exists in the cluster before timing starts, and how each object
// is named and spread over the tier's namespaces.

export type TierName = "XS" | "S" | "M" | "L";

export interface Tier {
  name: TierName;
  namespaces: number;
  pods: number;
  configmaps: number;
  secrets: number;
  serviceaccounts: number;
  pvcs: number;
  /** Namespaces watched in the topology comparison (tier namespaces plus fillers). */
  topologyNamespaces: number;
  /** Default seconds per churn rate (the default is 60; see bench/README.md). */
  churnSeconds: number;
  churnRates: number[];
  /** Seconds of the idle windows (CPU, steady RSS). */
  idleSeconds: number;
  /** Seconds of churn in each topology run. */
  topologyChurnSeconds: number;
  topologyChurnRate: number;
  /** Not part of routine runs (creation alone takes a long time). */
  manual: boolean;
}

export const TIERS: Record<TierName, Tier> = {
  // The integration test's tier: the same code path, seconds instead of minutes.
  XS: {
    name: "XS",
    namespaces: 2,
    pods: 10,
    configmaps: 10,
    secrets: 10,
    serviceaccounts: 2,
    pvcs: 5,
    topologyNamespaces: 6,
    churnSeconds: 3,
    churnRates: [10, 40],
    idleSeconds: 3,
    topologyChurnSeconds: 3,
    topologyChurnRate: 20,
    manual: false,
  },
  S: {
    name: "S",
    namespaces: 50,
    pods: 1_000,
    configmaps: 1_000,
    secrets: 1_000,
    serviceaccounts: 100,
    pvcs: 500,
    topologyNamespaces: 1_000,
    churnSeconds: 20,
    churnRates: [50, 200, 1_000],
    idleSeconds: 10,
    topologyChurnSeconds: 10,
    topologyChurnRate: 200,
    manual: false,
  },
  M: {
    name: "M",
    namespaces: 500,
    pods: 10_000,
    configmaps: 10_000,
    secrets: 10_000,
    serviceaccounts: 1_000,
    pvcs: 5_000,
    topologyNamespaces: 1_000,
    churnSeconds: 60,
    churnRates: [50, 200, 1_000],
    idleSeconds: 20,
    topologyChurnSeconds: 30,
    topologyChurnRate: 200,
    manual: false,
  },
  L: {
    name: "L",
    namespaces: 2_000,
    pods: 50_000,
    configmaps: 50_000,
    secrets: 50_000,
    serviceaccounts: 5_000,
    pvcs: 25_000,
    topologyNamespaces: 2_000,
    churnSeconds: 60,
    churnRates: [50, 200, 1_000],
    idleSeconds: 20,
    topologyChurnSeconds: 30,
    topologyChurnRate: 200,
    manual: true,
  },
};

export function tierByName(name: string): Tier {
  const tier = TIERS[name.toUpperCase() as TierName];
  if (!tier) throw new Error(`unknown tier ${JSON.stringify(name)} (one of ${Object.keys(TIERS).join(", ")})`);
  return tier;
}

/** Labels and annotations the bench puts on what it creates. */
export const LABEL_TIER = "bench.kube-observer/tier";
export const LABEL_ROLE = "bench.kube-observer/role";
export const LABEL_CHURN = "bench.kube-observer/churn";
export const LABEL_STAMP = "bench.kube-observer/stamp";
export const ANNOTATION_FILLED = "bench.kube-observer/filled";

/** The graph's cluster name: every node key the bench's agents write starts "bench/". */
export const BENCH_CLUSTER = "bench";
/** Every image the bench's pods run comes from this registry (its graph nodes are the
 *  bench's own too: they are the only non-"bench/" keys it writes). */
export const BENCH_REGISTRY = "registry.bench.example";
/** Node objects pods are bound to (spec.nodeName) so that SCHEDULED_ON edges exist. */
export const BENCH_NODES = 10;

/** Bump when the manifests change: namespaces filled by another version are recreated. */
export const MANIFEST_VERSION = 1;

/** How many of `count` items namespace k (of n) holds: spread round-robin. */
export function perNamespace(count: number, n: number, k: number): number {
  return Math.floor(count / n) + (k < count % n ? 1 : 0);
}

export interface NamespacePlan {
  name: string;
  index: number;
  pods: number;
  configmaps: number;
  secrets: number;
  serviceaccounts: number;
  pvcs: number;
}

export function tierNamespaceName(tier: Tier, k: number): string {
  return `bench-${tier.name.toLowerCase()}-${String(k).padStart(4, "0")}`;
}

/** Fillers bring the topology comparison up to tier.topologyNamespaces namespaces. S, M
 *  and L share theirs; XS (the test's tier) has its own, so its clean-up touches nothing else. */
export function fillerNamespaceName(tier: Tier, k: number): string {
  return tier.name === "XS" ? `bench-xsfill-${String(k).padStart(4, "0")}` : `bench-fill-${String(k).padStart(4, "0")}`;
}

export function fillerCount(tier: Tier): number {
  return Math.max(0, tier.topologyNamespaces - tier.namespaces);
}

export function namespacePlans(tier: Tier): NamespacePlan[] {
  return Array.from({ length: tier.namespaces }, (_, k) => ({
    name: tierNamespaceName(tier, k),
    index: k,
    pods: perNamespace(tier.pods, tier.namespaces, k),
    configmaps: perNamespace(tier.configmaps, tier.namespaces, k),
    secrets: perNamespace(tier.secrets, tier.namespaces, k),
    serviceaccounts: Math.max(1, perNamespace(tier.serviceaccounts, tier.namespaces, k)),
    pvcs: Math.max(1, perNamespace(tier.pvcs, tier.namespaces, k)),
  }));
}

/** What a filled namespace's annotation says: the manifest version and its counts. */
export function fillStamp(plan: NamespacePlan): string {
  return `v${MANIFEST_VERSION}:${plan.pods}/${plan.configmaps}/${plan.secrets}/${plan.serviceaccounts}/${plan.pvcs}`;
}

export const pad = (i: number): string => String(i).padStart(4, "0");
export const podName = (j: number): string => `pod-${pad(j)}`;
export const configMapName = (j: number): string => `cm-${pad(j)}`;
export const secretName = (j: number): string => `secret-${pad(j)}`;
export const pvcName = (j: number): string => `pvc-${pad(j)}`;
export const serviceAccountName = (j: number): string => `sa-${pad(j)}`;
/** One ReplicaSet per ServiceAccount: the owner of that account's pods. */
export const replicaSetName = (j: number): string => `rs-${pad(j)}`;
export const nodeName = (j: number): string => `bench-node-${j}`;
