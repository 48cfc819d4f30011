// Stable node keys. Namespaced objects: cluster/namespace/Kind/name; cluster-scoped:
// cluster/Kind/name (object names cannot contain "/", so the two never collide).
// Container images: their normalised reference, shared across clusters.

export function objectKey(cluster: string, namespace: string | null, kind: string, name: string): string {
  return namespace ? `${cluster}/${namespace}/${kind}/${name}` : `${cluster}/${kind}/${name}`;
}

/** The relist scope of an observed object: cluster/namespace/Label (cluster//Label). */
export function scopeKey(cluster: string, namespace: string | null, label: string): string {
  return `${cluster}/${namespace ?? ""}/${label}`;
}

/** The scopes of one label in every namespace of a cluster, as a sweep names them: a
 *  cluster-wide observer's relist covers all of them at once. */
export const EVERY_NAMESPACE = "*";

export function everyNamespaceScope(cluster: string, label: string): string {
  return `${cluster}/${EVERY_NAMESPACE}/${label}`;
}

/** Whether a node's scope falls under a sweep's scope: the same scope, or, for
 *  `cluster/*\/Label`, any namespaced scope of that label in that cluster except the
 *  namespaces in `except`. */
export function scopeCovers(sweepScope: string, except: readonly string[], nodeScope: string): boolean {
  if (sweepScope === nodeScope) return true;
  const [cluster, namespace, label] = sweepScope.split("/");
  if (namespace !== EVERY_NAMESPACE) return false;
  const parts = nodeScope.split("/");
  return parts.length === 3 && parts[0] === cluster && parts[2] === label && parts[1] !== "" && !except.includes(parts[1]!);
}

/** Where the nodes a sweep may cover start: its scope, or `cluster/` for every namespace
 *  (a prefix both sinks can look up through their scope index). */
export function sweepScopePrefix(sweepScope: string): string | undefined {
  const [cluster, namespace] = sweepScope.split("/");
  return namespace === EVERY_NAMESPACE ? `${cluster}/` : undefined;
}

export interface ImageReference {
  /** e.g. docker.io/library/nginx:1.27 or registry.example/app@sha256:… */
  reference: string;
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
}

const DEFAULT_REGISTRY = "docker.io";

/** Normalises an image reference the way container runtimes resolve it. */
export function parseImage(image: string): ImageReference {
  let rest = image.trim();
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let registry = DEFAULT_REGISTRY;
  const slash = rest.indexOf("/");
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    // A registry host has a dot or a port, or is localhost.
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  let repository = rest;
  if (registry === DEFAULT_REGISTRY && !repository.includes("/")) repository = `library/${repository}`;
  if (tag === null && digest === null) tag = "latest";
  const reference = `${registry}/${repository}${tag !== null ? `:${tag}` : ""}${digest !== null ? `@${digest}` : ""}`;
  return { reference, registry, repository, tag, digest };
}
