// Workloads (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob): their owner
// chain, and their pod template's references as edges of the workload itself, so a
// Deployment scaled to zero still shows what it would use.
import { field, metadataProperties, reduceMetadata, type ReducedMetadata } from "../../core/plugin/sdk.js";
import type { KubeObject } from "../../core/messages.js";
import type { GraphContext, GraphFragment } from "../../core/plugin/types.js";
import { ownerGraph } from "./owners.js";
import { POD_SPEC_LABELS, POD_SPEC_RELATIONSHIPS, podSpecGraph } from "./pod-graph.js";
import { reducePodSpec, type ReducedPodSpec } from "./pod-spec.js";

export const WORKLOAD_KINDS = ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"];

export interface ReducedWorkload {
  metadata: ReducedMetadata;
  replicas: number | null;
  selector: string[];
  template: ReducedPodSpec;
  templateLabels: Record<string, string>;
  extra: Record<string, string | number | boolean | null>;
}

/** Reduces a workload whose pod template sits at templatePath (spec.template, or
 *  spec.jobTemplate.spec.template for a CronJob). */
export function reduceWorkload(object: KubeObject, templatePath: string[], extra: Record<string, string | number | boolean | null> = {}): ReducedWorkload {
  const matchLabels = field<Record<string, string>>(object, "spec", "selector", "matchLabels") ?? {};
  return {
    metadata: reduceMetadata(object),
    replicas: field<number>(object, "spec", "replicas") ?? null,
    selector: Object.keys(matchLabels)
      .sort()
      .map((k) => `${k}=${matchLabels[k]}`),
    template: reducePodSpec(field(object, ...templatePath, "spec")),
    templateLabels: { ...(field<Record<string, string>>(object, ...templatePath, "metadata", "labels") ?? {}) },
    extra,
  };
}

export function workloadSchema(label: string): { labels: string[]; relationships: string[] } {
  return { labels: [...new Set([label, ...WORKLOAD_KINDS, ...POD_SPEC_LABELS])], relationships: [...POD_SPEC_RELATIONSHIPS, "OWNED_BY"] };
}

export function workloadGraph(w: ReducedWorkload, ctx: GraphContext): GraphFragment {
  const template = podSpecGraph(ctx, w.metadata, w.template);
  const owners = ownerGraph(ctx, w.metadata, WORKLOAD_KINDS);
  const templateLabels = Object.keys(w.templateLabels)
    .sort()
    .map((k) => `${k}=${w.templateLabels[k]}`);
  return {
    properties: {
      ...metadataProperties(w.metadata),
      replicas: w.replicas,
      selector: w.selector,
      templateLabels,
      serviceAccountName: w.template.serviceAccountName ?? "default",
      hostNetwork: w.template.hostNetwork,
      hostPID: w.template.hostPID,
      privileged: template.properties?.privileged ?? false,
      otherOwners: owners.otherOwners,
      ...w.extra,
    },
    owned: template.owned,
    references: [...(template.references ?? []), ...owners.references],
    edges: [...(template.edges ?? []), ...owners.edges],
  };
}
