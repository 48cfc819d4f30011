// ContainerImage nodes: keyed by the normalised reference, shared by every pod (in every
// cluster) that runs it; and the Registry each comes from, keyed by its host.
import { parseImage } from "../../core/graph/keys.js";

export const IMAGE_LABEL = "ContainerImage";
export const REGISTRY_LABEL = "Registry";

/** A registry host ("docker.io", "localhost:5000") has no "/", so its key never meets an
 *  image reference's or an object's (both always have one). */
export function registryNode(host: string): { label: string; key: string; properties: Record<string, string> } {
  return { label: REGISTRY_LABEL, key: host, properties: { host } };
}

export function imageNode(image: string): { label: string; key: string; properties: Record<string, string | null> } {
  const ref = parseImage(image);
  return {
    label: IMAGE_LABEL,
    key: ref.reference,
    properties: { reference: ref.reference, registry: ref.registry, repository: ref.repository, tag: ref.tag, digest: ref.digest },
  };
}

/** The digest the kubelet reports (status imageID "…@sha256:…"), if any. */
export function digestOf(imageID: string | undefined): string | null {
  if (!imageID) return null;
  const at = imageID.lastIndexOf("@");
  return at === -1 ? null : imageID.slice(at + 1);
}
