// The graph of a PodSpec: volumes (owned Volume nodes BACKED_BY what they mount),
// ConfigMap/Secret references, images and their registries, ServiceAccount and Node.
// Shared by the pod plugin and the workload plugins, whose pod templates reference the
// same things.
import { metadataProperties, objectReference } from "../../core/plugin/sdk.js";
import type { GraphContext, GraphEdgeSpec, GraphFragment, GraphNodeSpec, GraphValue } from "../../core/plugin/types.js";
import { digestOf, IMAGE_LABEL, imageNode, REGISTRY_LABEL, registryNode } from "./image.js";
import type { ReducedContainer, ReducedPodSpec } from "./pod-spec.js";
import type { ReducedMetadata } from "../../core/plugin/sdk.js";

export const POD_SPEC_LABELS = ["Volume", "ConfigMap", "Secret", "PersistentVolumeClaim", "ServiceAccount", "Node", IMAGE_LABEL, REGISTRY_LABEL];
export const POD_SPEC_RELATIONSHIPS = ["USES_VOLUME", "BACKED_BY", "USES_CONFIGMAP", "USES_SECRET", "RUNS_IMAGE", "RUNS_AS", "SCHEDULED_ON", "FROM_REGISTRY"];

type Raw = Record<string, unknown>;

interface Builder {
  owned: GraphNodeSpec[];
  references: Map<string, GraphNodeSpec>;
  edges: GraphEdgeSpec[];
}

function refer(b: Builder, node: GraphNodeSpec): string {
  if (!b.references.has(node.key)) b.references.set(node.key, node);
  return node.key;
}

/** An image and its registry; the FROM_REGISTRY edge starts at the image (a fact about
 *  the image, whoever runs it), once per image. */
function referImage(b: Builder, image: string): string {
  const node = imageNode(image);
  if (b.references.has(node.key)) return node.key;
  refer(b, node);
  const registry = refer(b, registryNode(String(node.properties.registry)));
  b.edges.push({ type: "FROM_REGISTRY", from: node.key, to: registry });
  return node.key;
}

const VOLUME_SOURCES = [
  "configMap",
  "secret",
  "persistentVolumeClaim",
  "hostPath",
  "emptyDir",
  "projected",
  "downwardAPI",
  "csi",
  "ephemeral",
  "nfs",
  "iscsi",
  "fc",
  "rbd",
  "cephfs",
  "cinder",
  "flexVolume",
  "gitRepo",
  "image",
  "awsElasticBlockStore",
  "gcePersistentDisk",
  "azureDisk",
  "azureFile",
];

function volumeType(volume: Raw): string {
  return VOLUME_SOURCES.find((s) => volume[s] !== undefined) ?? Object.keys(volume).find((k) => k !== "name") ?? "unknown";
}

function addVolumes(b: Builder, ctx: GraphContext, namespace: string, spec: ReducedPodSpec, from: string, containers: ReducedContainer[]): void {
  for (const volume of spec.volumes) {
    const type = volumeType(volume);
    const key = `${from}/volume/${volume.name}`;
    const properties: Record<string, GraphValue> = { name: volume.name, type };
    const mounts = containers.flatMap((c) =>
      c.volumeMounts.filter((m) => m.name === volume.name).map((m) => `${c.name}:${m.mountPath}${m.readOnly ? ":ro" : ""}`),
    );
    const source = volume[type] as Raw | undefined;
    const backedBy = (kind: string, name: unknown, via: string, optional?: unknown): void => {
      if (typeof name !== "string" || !name) return;
      b.edges.push({
        type: "BACKED_BY",
        from: key,
        to: refer(b, objectReference(ctx, kind, namespace, name)),
        properties: { source: via, optional: optional === true },
      });
    };
    if (type === "configMap") backedBy("ConfigMap", source?.name, "configMap", source?.optional);
    else if (type === "secret") backedBy("Secret", source?.secretName, "secret", source?.optional);
    else if (type === "persistentVolumeClaim") {
      backedBy("PersistentVolumeClaim", source?.claimName, "persistentVolumeClaim");
      properties.readOnly = source?.readOnly === true;
    } else if (type === "hostPath") {
      properties.hostPath = String(source?.path ?? "");
      properties.hostPathType = (source?.type as string | undefined) ?? null;
    } else if (type === "emptyDir") {
      properties.medium = (source?.medium as string | undefined) ?? null;
    } else if (type === "projected") {
      for (const s of (source?.sources as Raw[] | undefined) ?? []) {
        const cm = s.configMap as Raw | undefined;
        const secret = s.secret as Raw | undefined;
        const token = s.serviceAccountToken as Raw | undefined;
        if (cm) backedBy("ConfigMap", cm.name, "projected", cm.optional);
        if (secret) backedBy("Secret", secret.name, "projected", secret.optional);
        if (token) {
          properties.serviceAccountToken = true;
          properties.tokenAudience = (token.audience as string | undefined) ?? null;
          properties.tokenExpirationSeconds = (token.expirationSeconds as number | undefined) ?? null;
        }
      }
    } else if (type === "csi") {
      properties.driver = String(source?.driver ?? "");
      const ref = source?.nodePublishSecretRef as Raw | undefined;
      if (ref) backedBy("Secret", ref.name, "csiNodePublishSecret");
    }
    b.owned.push({ label: "Volume", key, properties });
    b.edges.push({ from, type: "USES_VOLUME", to: key, properties: { mounts } });
  }
}

function addContainers(
  b: Builder,
  ctx: GraphContext,
  namespace: string,
  from: string,
  containers: ReducedContainer[],
  containerType: string,
  digests: Map<string, string>,
): void {
  for (const c of containers) {
    if (c.image) {
      const image = referImage(b, c.image);
      b.edges.push({
        from,
        type: "RUNS_IMAGE",
        to: image,
        properties: { container: c.name, containerType, digest: digests.get(c.name) ?? null },
      });
    }
    for (const env of c.env) {
      const v = env.valueFrom;
      if (v && "configMapKeyRef" in v) {
        b.edges.push({
          from,
          type: "USES_CONFIGMAP",
          to: refer(b, objectReference(ctx, "ConfigMap", namespace, v.configMapKeyRef.name)),
          properties: { via: "env", container: c.name, env: env.name, key: v.configMapKeyRef.key, optional: v.configMapKeyRef.optional },
        });
      } else if (v && "secretKeyRef" in v) {
        b.edges.push({
          from,
          type: "USES_SECRET",
          to: refer(b, objectReference(ctx, "Secret", namespace, v.secretKeyRef.name)),
          properties: { via: "env", container: c.name, env: env.name, key: v.secretKeyRef.key, optional: v.secretKeyRef.optional },
        });
      }
    }
    for (const e of c.envFrom) {
      if (e.configMapRef?.name) {
        b.edges.push({
          from,
          type: "USES_CONFIGMAP",
          to: refer(b, objectReference(ctx, "ConfigMap", namespace, e.configMapRef.name)),
          properties: { via: "envFrom", container: c.name, prefix: e.prefix, optional: e.configMapRef.optional },
        });
      }
      if (e.secretRef?.name) {
        b.edges.push({
          from,
          type: "USES_SECRET",
          to: refer(b, objectReference(ctx, "Secret", namespace, e.secretRef.name)),
          properties: { via: "envFrom", container: c.name, prefix: e.prefix, optional: e.secretRef.optional },
        });
      }
    }
  }
}

/** The fragment of a pod spec, edges starting at `ctx.key`. */
export function podSpecGraph(ctx: GraphContext, metadata: ReducedMetadata, spec: ReducedPodSpec, digests: Map<string, string> = new Map()): GraphFragment {
  const namespace = metadata.namespace ?? "";
  const b: Builder = { owned: [], references: new Map(), edges: [] };
  const from = ctx.key;
  const all = [...spec.initContainers, ...spec.containers, ...spec.ephemeralContainers];
  addVolumes(b, ctx, namespace, spec, from, all);
  addContainers(b, ctx, namespace, from, spec.initContainers, "init", digests);
  addContainers(b, ctx, namespace, from, spec.containers, "container", digests);
  addContainers(b, ctx, namespace, from, spec.ephemeralContainers, "ephemeral", digests);
  for (const name of spec.imagePullSecrets) {
    if (name)
      b.edges.push({ from, type: "USES_SECRET", to: refer(b, objectReference(ctx, "Secret", namespace, name)), properties: { via: "imagePullSecret" } });
  }
  const serviceAccount = spec.serviceAccountName ?? "default";
  b.edges.push({ from, type: "RUNS_AS", to: refer(b, objectReference(ctx, "ServiceAccount", namespace, serviceAccount)), properties: {} });
  if (spec.nodeName) b.edges.push({ from, type: "SCHEDULED_ON", to: refer(b, objectReference(ctx, "Node", null, spec.nodeName)), properties: {} });

  const privileged = all.some((c) => c.securityContext?.privileged === true);
  return {
    properties: {
      ...metadataProperties(metadata),
      serviceAccountName: serviceAccount,
      nodeName: spec.nodeName,
      hostNetwork: spec.hostNetwork,
      hostPID: spec.hostPID,
      hostIPC: spec.hostIPC,
      privileged,
      automountServiceAccountToken: spec.automountServiceAccountToken,
    },
    owned: b.owned,
    references: [...b.references.values()],
    edges: b.edges,
  };
}

export { digestOf };
