// An example third-party resource plugin: BackupPolicy, a CustomResourceDefinition
// (backuppolicy.crd.yaml, next to this file) whose objects name the Secrets that hold a
// backup target's credentials and the backups' encryption key.
//
// A plugin is one plain ES module whose default export is the plugin object: no imports
// from the agent, no build step. Load it by naming its directory in the config:
//
//   pluginDirs = [ "examples/plugins" ]
//   actors = [ T.Actor::{ cluster = "prod", resource = "backuppolicy" }, … ]
//
// Graph: one BackupPolicy node per object, with USES_SECRET edges to the Secrets it
// names (placeholder Secret nodes until those Secrets are observed, or when they do not
// exist). The contract is core/plugin/types.ts; docs/plugin-guide.md explains it.

/**
 * What reduce keeps: exactly what toGraph needs, and never a secret value.
 * @typedef {{ name: string, key: string | null }} SecretRef
 * @typedef {{
 *   name: string,
 *   namespace: string | null,
 *   labels: string[],
 *   annotations: string[],
 *   creationTimestamp: string | null,
 *   schedule: string | null,
 *   target: string | null,
 *   retentionDays: number | null,
 *   suspended: boolean,
 *   inlineEncryptionKey: boolean,
 *   credentials: SecretRef | null,
 *   encryptionKey: SecretRef | null,
 * }} ReducedBackupPolicy
 */

/** @param {unknown} value @returns {Record<string, unknown>} */
const record = (value) => (value !== null && typeof value === "object" && !Array.isArray(value) ? /** @type {Record<string, unknown>} */ (value) : {});

/** @param {unknown} value @returns {string | null} */
const text = (value) => (typeof value === "string" && value !== "" ? value : null);

/** Labels and annotations as sorted "key=value" lists (graph properties cannot be maps).
 *  @param {unknown} map @returns {string[]} */
const pairs = (map) =>
  Object.entries(record(map))
    .filter(([, v]) => typeof v === "string")
    .map(([k, v]) => `${k}=${v}`)
    .sort();

/** @param {unknown} value @returns {SecretRef | null} */
function secretRef(value) {
  const ref = record(value);
  const name = text(ref.name);
  return name ? { name, key: text(ref.key) } : null;
}

/** The backup target without credentials a URL may carry (user:password@, ?signature=…).
 *  The same rule as the SDK's withoutCredentials, copied: this file imports nothing.
 *  @param {unknown} value @returns {string | null} */
function safeTarget(value) {
  const target = text(value);
  if (target === null) return null;
  let url = null;
  try {
    url = new URL(target);
  } catch {
    // not a URL (a bucket name, "user:pw@host:/path"): handled below
  }
  if (url && url.host !== "") {
    url.username = "";
    url.password = "";
    url.search = "";
    url.hash = "";
    return url.toString();
  }
  // No host to parse user info from: whatever precedes an "@" may be credentials.
  return target.slice(target.lastIndexOf("@") + 1).split(/[?#]/, 1)[0] ?? "";
}

/** @type {import("../../core/plugin/types.js").ResourcePlugin<ReducedBackupPolicy>} */
export default {
  name: "backuppolicy",
  apiVersion: 1,
  resource: { group: "examples.kube-observer.dev", version: "v1", plural: "backuppolicies", kind: "BackupPolicy", namespaced: true },

  // Runs in the observer's worker thread for every object, before anything is stored.
  // Pure: no I/O, no clock, no globals. Keeps only what the graph needs; spec.encryptionKey
  // (an inline secret) becomes a boolean, and a target URL loses its credentials.
  reduce(object) {
    const metadata = record(object.metadata);
    const annotations = { ...record(metadata.annotations) };
    // The core already drops kubectl's last-applied-configuration annotation (it would
    // carry spec.encryptionKey); keep it that way should this plugin ever see one.
    delete annotations["kubectl.kubernetes.io/last-applied-configuration"];
    const spec = record(object.spec);
    return {
      name: text(metadata.name) ?? "",
      namespace: text(metadata.namespace),
      labels: pairs(metadata.labels),
      annotations: pairs(annotations),
      creationTimestamp: text(metadata.creationTimestamp),
      schedule: text(spec.schedule),
      target: safeTarget(spec.target),
      retentionDays: typeof spec.retentionDays === "number" && Number.isFinite(spec.retentionDays) ? spec.retentionDays : null,
      suspended: spec.suspend === true,
      inlineEncryptionKey: text(spec.encryptionKey) !== null,
      credentials: secretRef(spec.credentialsSecretRef),
      encryptionKey: secretRef(spec.encryptionKeySecretRef),
    };
  },

  graph: {
    // The node's label (default: resource.kind).
    label: "BackupPolicy",
    // Every label and relationship type toGraph may emit, declared as data.
    schema: { labels: ["BackupPolicy", "Secret"], relationships: ["USES_SECRET"] },

    // Runs on the main thread, in the dispatcher. Pure: the reduced object in, a
    // fragment out. Keys of other objects come from ctx.objectKey, never by hand.
    toGraph(policy, ctx) {
      const uses = [
        { via: "credentials", ref: policy.credentials },
        { via: "encryptionKey", ref: policy.encryptionKey },
      ].filter((u) => u.ref !== null);
      /** @type {Map<string, import("../../core/plugin/types.js").GraphNodeSpec>} */
      const secrets = new Map();
      const edges = [];
      for (const { via, ref } of uses) {
        if (!ref) continue;
        const key = ctx.objectKey("Secret", policy.namespace, ref.name);
        // A reference: a placeholder node until the Secret itself is observed.
        const properties = policy.namespace === null ? { cluster: ctx.cluster, name: ref.name } : { cluster: ctx.cluster, namespace: policy.namespace, name: ref.name };
        secrets.set(key, { label: "Secret", key, properties });
        edges.push({ type: "USES_SECRET", to: key, properties: { via, key: ref.key } });
      }
      return {
        properties: {
          labels: policy.labels,
          annotations: policy.annotations,
          creationTimestamp: policy.creationTimestamp,
          schedule: policy.schedule,
          target: policy.target,
          retentionDays: policy.retentionDays,
          suspended: policy.suspended,
          inlineEncryptionKey: policy.inlineEncryptionKey,
        },
        references: [...secrets.values()],
        edges,
      };
    },
  },
};
