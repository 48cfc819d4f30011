// Messages between the main thread and an observer running in a worker thread, over the
// observer's own MessagePort.
import type { ClusterConfig, ObserverConfig } from "../config/model.js";
import type { AuthOptions } from "../kube/auth.js";
import type { OversizedObject } from "../kube/oversize.js";
import type { KubeMessage } from "../messages.js";
import type { ObserverStatus, StopReason } from "./observer.js";

export interface ObserverTaskSpec {
  /** Unique per observer incarnation, for logs. */
  id: string;
  cluster: ClusterConfig;
  namespace: string | null;
  /** Cluster-wide observers of a namespaced resource: namespaces whose objects are left
   *  out (by a field selector where it is short, and always on the client side). */
  exclude?: string[];
  /** Cluster-wide observers: namespaces its relist sweep leaves to other observers. */
  sweepExcept?: string[];
  pluginName: string;
  pluginFile: string;
  /** The version (content hash) the main thread loaded: the worker imports exactly it. */
  pluginVersion: string;
  /** Built-in plugins are imported without a version query. */
  pluginBuiltin: boolean;
  /** Third-party plugins: that version's source, imported as a data: URL when the file
   *  has changed on disk since (the last good version of a plugin broken by an edit). */
  pluginSource?: string;
  config: ObserverConfig;
  once: boolean;
  /** This thread's share of the cluster's concurrent LISTs (config maxConcurrentLists
   *  divided among the pool's threads). */
  listSlots: number;
}

export type ToWorker =
  | { type: "ack"; batch: number }
  /** The batch was not taken (e.g. the WAL append failed): the observer relists. */
  | { type: "nack"; batch: number; error: string }
  | { type: "stop"; reason: StopReason }
  /** The answer to an "auth" request: options, or why there are none. */
  | { type: "auth"; id: number; options?: AuthOptions; error?: string };

export type FromWorker =
  | { type: "batch"; batch: number; messages: KubeMessage[] }
  | { type: "status"; status: ObserverStatus }
  /** An object over the size cap was left out. */
  | { type: "skipped"; object: OversizedObject }
  /** Credentials for the next request to the observer's cluster (the main thread holds
   *  the KubeConfig: workers do not load client-node). */
  | { type: "auth"; id: number }
  /** Last message on the port: everything before it has been posted. */
  | { type: "end" };
