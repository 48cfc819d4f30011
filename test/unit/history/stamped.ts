// An op as the dispatcher hands it to a sink: with the change it came from (its
// resourceVersion, when it was seen, and, for a replay check, its WAL position).
import type { GraphOp } from "../../../core/graph/model.js";
import { recordOrigin } from "../../../core/history/origin.js";
import type { KubeMessage } from "../../../core/messages.js";

export function stamped<T extends GraphOp>(op: T, from: { rv: string; atMs: number; action?: KubeMessage["action"]; seq?: number }): T {
  recordOrigin(
    op,
    {
      cluster: "c",
      namespace: "ns",
      resource: "pod",
      kind: "Pod",
      action: from.action ?? "Applied",
      objectNamespace: "ns",
      uid: null,
      name: null,
      resourceVersion: from.rv,
      observedAt: new Date(from.atMs).toISOString(),
      object: null,
    },
    from.seq === undefined ? undefined : { id: "wal-1", seq: from.seq },
  );
  return op;
}
