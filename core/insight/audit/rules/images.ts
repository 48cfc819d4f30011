// Images: a reference without a digest can change under the same tag (KO-IMG-001); a
// registry outside the allow list (config `audit.allowedRegistries`, or `audit --allowed-registry`) is not vetted (KO-IMG-002).
import { edgeNote, step, type AuditRule, type AuditView, type Finding } from "../model.js";

function imageFindings(view: AuditView, rule: string, severity: "low" | "medium", flagged: (image: Record<string, unknown>) => string | null): Finding[] {
  const found: Finding[] = [];
  for (const pod of view.nodes("Pod")) {
    if (!pod.ref.observed) continue;
    for (const runs of view.out(pod.ref.key, "RUNS_IMAGE")) {
      const image = view.node(runs.to);
      const why = image ? flagged(image.properties) : null;
      if (!image || why === null) continue;
      found.push({
        rule,
        severity,
        object: pod.ref,
        message: `${step(pod.ref)} container ${String(runs.properties.container ?? "?")} runs ${image.ref.name}: ${why}`,
        path: [step(pod.ref), `-[RUNS_IMAGE${edgeNote(runs.properties, ["container"])}]->`, `ContainerImage ${image.ref.name}`],
        keys: [pod.ref.key, image.ref.key],
      });
    }
  }
  return found;
}

export const imageWithoutDigest = {
  id: "KO-IMG-001",
  severity: "low",
  title: "image without a digest",
  help: "The image is named by tag only; the tag can be moved to other content. Pin images by digest (name@sha256:…).",
  reads: { labels: ["Pod", "ContainerImage"], rels: ["RUNS_IMAGE"] },
  find: (view) =>
    imageFindings(view, "KO-IMG-001", "low", (image) => (typeof image.digest === "string" && image.digest !== "" ? null : "no digest in its reference")),
} satisfies AuditRule;

export const imageRegistry = {
  id: "KO-IMG-002",
  severity: "medium",
  title: "image from a registry not on the allow list",
  help: "The image comes from a registry outside the allow list (config audit.allowedRegistries, or --allowed-registry). Mirror it into an allowed registry.",
  reads: { labels: ["Pod", "ContainerImage"], rels: ["RUNS_IMAGE"] },
  find: (view, options) =>
    options.allowedRegistries.length === 0
      ? []
      : imageFindings(view, "KO-IMG-002", "medium", (image) => {
          const registry = String(image.registry ?? "");
          return options.allowedRegistries.includes(registry) ? null : `registry ${registry} is not allowed`;
        }),
} satisfies AuditRule;
