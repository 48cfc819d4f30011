// DaemonSets: owner chain and pod-template references (see _shared/workload.ts).
import { definePlugin } from "../core/plugin/types.js";
import { reduceWorkload, workloadGraph, workloadSchema } from "./_shared/workload.js";

export default definePlugin({
  name: "daemonset",
  apiVersion: 1,
  resource: { group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true },
  reduce: (o) => reduceWorkload(o, ["spec", "template"], {}),
  graph: {
    schema: workloadSchema("DaemonSet"),
    toGraph: workloadGraph,
  },
});
