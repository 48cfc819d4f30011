// KubeMessage fixtures for unit tests of the WAL and the dispatcher.
import type { KubeMessage } from "../../core/messages.js";

/** An Applied ConfigMap `name` in namespace "ns" of cluster "c", as the configmap plugin reduces it. */
export function configMapMessage(name: string, resourceVersion = "1"): KubeMessage {
  return {
    cluster: "c",
    namespace: "ns",
    resource: "configmap",
    kind: "ConfigMap",
    action: "Applied",
    objectNamespace: "ns",
    uid: `uid-${name}`,
    name,
    resourceVersion,
    observedAt: new Date(2026, 0, 1).toISOString(),
    object: { metadata: { labels: {}, annotations: {} }, keys: [] },
  };
}
