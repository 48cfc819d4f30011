// CronJobs: owner chain and pod-template references (see _shared/workload.ts).
import { field } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";
import { reduceWorkload, workloadGraph, workloadSchema } from "./_shared/workload.js";

export default definePlugin({
  name: "cronjob",
  apiVersion: 1,
  resource: { group: "batch", version: "v1", plural: "cronjobs", kind: "CronJob", namespaced: true },
  reduce: (o) =>
    reduceWorkload(o, ["spec", "jobTemplate", "spec", "template"], {
      schedule: field<string>(o, "spec", "schedule") ?? null,
      suspend: field<boolean>(o, "spec", "suspend") === true,
    }),
  graph: {
    schema: workloadSchema("CronJob"),
    toGraph: workloadGraph,
  },
});
