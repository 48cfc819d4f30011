// Where a graph op came from: the change the observer saw (its resourceVersion, when it was
// seen, and the observer's scope). The dispatcher records it for each op it makes; the
// history stamps the versions an op opens and closes with it. Kept beside the op, not in
// it: the sinks' op contract stays as it is.
import type { GraphOp } from "../graph/model.js";
import type { KubeMessage } from "../messages.js";

export interface OpOrigin {
  resourceVersion: string;
  observedAtMs: number;
  /** The observer's scope, `cluster/namespace/resource` (`*` for every namespace or a
   *  cluster-scoped resource): what the history's coverage is kept per. */
  scope: string;
  /** A relist boundary: the scope's list completed here (a new interval of coverage). */
  relist: boolean;
  /** The message's place in the WAL: a batch applied again after a crash before its ack
   *  is recognised by it, and records nothing twice. */
  wal?: { id: string; seq: number };
}

const origins = new WeakMap<GraphOp, OpOrigin>();

export function coverageScope(message: Pick<KubeMessage, "cluster" | "namespace" | "resource">): string {
  return `${message.cluster}/${message.namespace ?? "*"}/${message.resource}`;
}

export function recordOrigin(op: GraphOp, message: KubeMessage, wal?: { id: string; seq: number }): void {
  const at = Date.parse(message.observedAt);
  origins.set(op, {
    resourceVersion: message.resourceVersion,
    observedAtMs: Number.isFinite(at) ? at : Date.now(),
    scope: coverageScope(message),
    relist: message.action === "Restarted",
    ...(wal ? { wal } : {}),
  });
}

export function originOf(op: GraphOp): OpOrigin | undefined {
  return origins.get(op);
}

/** Gives an op the origin it had in another thread (the history's copy: history-copy.ts). */
export function attachOrigin(op: GraphOp, origin: OpOrigin): void {
  origins.set(op, origin);
}
