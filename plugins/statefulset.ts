// StatefulSets: owner chain and pod-template references (see _shared/workload.ts).
import { field } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { reduceWorkload, workloadGraph, workloadSchema } from "./_shared/workload.js";

export default definePlugin({
  name: "statefulset",
  apiVersion: 1,
  resource: { group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet", namespaced: true },
  reduce: (o) => reduceWorkload(o, ["spec", "template"], { serviceName: field<string>(o, "spec", "serviceName") ?? null }),
  graph: {
    schema: workloadSchema("StatefulSet"),
    toGraph: workloadGraph,
  },
});
