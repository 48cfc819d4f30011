// Which graph scopes the running observers cover. A scope the agent wrote earlier that no
// observer covers any more (its actor or cluster was removed from the config while the
// agent was down) is swept at start-up, so the graph does not keep objects nobody
// observes, looking current.
import { graphLabel } from "../dispatch/translate.js";
import { isClusterWide, type DesiredObserver } from "./desired.js";

/** What one observer keeps current in the graph. */
export interface ObservedScope {
  cluster: string;
  /** Its namespace; null for cluster-scoped and cluster-wide observers. */
  namespace: string | null;
  label: string;
  /** A cluster-wide observer of a namespaced resource: every namespace's scope of its
   *  label, but `sweepExcept` (other observers cover those). */
  clusterWide: boolean;
}

export function observedScope(cluster: string, desired: DesiredObserver): ObservedScope {
  return {
    cluster,
    namespace: desired.namespace,
    label: graphLabel(desired.plugin),
    clusterWide: isClusterWide(desired),
  };
}

/** Whether `scope` (cluster/namespace/Label, as nodes carry it) is kept current by one of
 *  the observers. */
export function scopeIsObserved(scope: string, observed: readonly ObservedScope[]): boolean {
  const [cluster, namespace = "", label] = scope.split("/");
  return observed.some((o) => {
    if (o.cluster !== cluster || o.label !== label) return false;
    if (o.clusterWide) return namespace !== "";
    return (o.namespace ?? "") === namespace;
  });
}

/** The cluster a scope belongs to. */
export function scopeCluster(scope: string): string {
  return scope.slice(0, scope.indexOf("/"));
}
