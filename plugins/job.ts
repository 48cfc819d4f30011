// Jobs: owner chain and pod-template references (see _shared/workload.ts).
import { field } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { reduceWorkload, workloadGraph, workloadSchema } from "./_shared/workload.js";

export default definePlugin({
  name: "job",
  apiVersion: 1,
  resource: { group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true },
  reduce: (o) =>
    reduceWorkload(o, ["spec", "template"], {
      completions: field<number>(o, "spec", "completions") ?? null,
      parallelism: field<number>(o, "spec", "parallelism") ?? null,
    }),
  graph: {
    schema: workloadSchema("Job"),
    toGraph: workloadGraph,
  },
});
