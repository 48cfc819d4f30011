// Deployments: owner chain and pod-template references (see _shared/workload.ts).
import { field } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { reduceWorkload, workloadGraph, workloadSchema } from "./_shared/workload.js";

export default definePlugin({
  name: "deployment",
  apiVersion: 1,
  resource: { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
  reduce: (o) => reduceWorkload(o, ["spec", "template"], { strategy: field<string>(o, "spec", "strategy", "type") ?? null }),
  graph: {
    schema: workloadSchema("Deployment"),
    toGraph: workloadGraph,
  },
});
