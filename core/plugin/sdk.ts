// Helpers for plugin authors that apply to every kind (nothing kind-specific lives in core).
import type { KubeMetadata, KubeObject } from "../messages.js";
import { AnnotationFilter, DEFAULT_ANNOTATION_RULES } from "./annotation-rules.js";

/** kubectl stores the whole applied object here, Secret data included. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

export interface ReducedMetadata {
  name: string;
  namespace: string | null;
  uid: string;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller: boolean }>;
  creationTimestamp: string | null;
  deletionTimestamp: string | null;
}

/** The metadata every graph node carries; managedFields and last-applied are dropped. */
export function reduceMetadata(object: KubeObject): ReducedMetadata {
  const m: KubeMetadata = object.metadata ?? {};
  const annotations = { ...(m.annotations ?? {}) };
  delete annotations[LAST_APPLIED_ANNOTATION];
  return {
    name: m.name ?? "",
    namespace: m.namespace ?? null,
    uid: m.uid ?? "",
    resourceVersion: m.resourceVersion ?? "",
    labels: { ...(m.labels ?? {}) },
    annotations,
    ownerReferences: (m.ownerReferences ?? []).map((o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      uid: o.uid,
      controller: o.controller === true,
    })),
    creationTimestamp: m.creationTimestamp ?? null,
    deletionTimestamp: m.deletionTimestamp ?? null,
  };
}

const defaultAnnotationFilter = new AnnotationFilter(DEFAULT_ANNOTATION_RULES);

/** How the core scrubs an object: the annotation rules (core/plugin/annotation-rules.ts)
 *  and whether the object is a Secret (its annotation values are all withheld). */
export interface ScrubOptions {
  annotations?: AnnotationFilter;
  secret?: boolean;
}

/** Drops what no plugin should ever see, before its reduce runs: managedFields, kubectl's
 *  last-applied copy, and the annotation values the rules withhold. */
export function scrubObject(object: KubeObject, options: ScrubOptions = {}): KubeObject {
  const metadata = object.metadata;
  if (!metadata) return object;
  const { managedFields: _managed, ...rest } = metadata;
  const annotations = rest.annotations;
  if (annotations && typeof annotations === "object") {
    const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...kept } = annotations;
    rest.annotations = (options.annotations ?? defaultAnnotationFilter).apply(kept, options.secret === true);
  }
  return { ...object, metadata: rest };
}

/** Reads a nested field without trusting the object's shape. */
export function field<T>(value: unknown, ...path: string[]): T | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current as T | undefined;
}

/** A string field that is set: "" and non-strings read as null. */
export function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** status.loadBalancer.ingress (Services and Ingresses): each entry's IP or hostname. */
export function loadBalancerAddresses(object: unknown): string[] {
  return asArray<Record<string, unknown>>(field(object, "status", "loadBalancer", "ingress"))
    .map((i) => text(i.ip) ?? text(i.hostname))
    .filter((i): i is string => i !== null);
}

export function asArray<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

/** Labels and annotations as "key=value" lists (graph properties cannot be maps;
 *  keys cannot contain "=", so the first "=" splits them back exactly). */
export function metadataProperties(metadata: {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationTimestamp: string | null;
}): Record<string, string[] | string | null> {
  const pairs = (map: Record<string, string>): string[] =>
    Object.keys(map)
      .sort()
      .map((k) => `${k}=${map[k]}`);
  return {
    labels: pairs(metadata.labels),
    annotations: pairs(metadata.annotations),
    creationTimestamp: metadata.creationTimestamp,
  };
}

/** A reference to another object: a placeholder node until that object is observed. */
export function objectReference(
  context: { cluster: string; objectKey(kind: string, namespace: string | null, name: string): string },
  kind: string,
  namespace: string | null,
  name: string,
): { label: string; key: string; properties: Record<string, string> } {
  const properties: Record<string, string> = { cluster: context.cluster, name };
  if (namespace) properties.namespace = namespace;
  return { label: kind, key: context.objectKey(kind, namespace, name), properties };
}

export { keep, pickFields, withoutCredentials, type FieldRule, type FieldSpec } from "./sdk-fields.js";
