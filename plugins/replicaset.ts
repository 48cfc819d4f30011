// ReplicaSets: owner chain and pod-template references (see _shared/workload.ts).
import { definePlugin } from "../core/plugin/types.js";
import { reduceWorkload, workloadGraph, workloadSchema } from "./_shared/workload.js";

export default definePlugin({
  name: "replicaset",
  apiVersion: 1,
  resource: { group: "apps", version: "v1", plural: "replicasets", kind: "ReplicaSet", namespaced: true },
  reduce: (o) => reduceWorkload(o, ["spec", "template"], {}),
  graph: {
    schema: workloadSchema("ReplicaSet"),
    toGraph: workloadGraph,
  },
});
