// `kube-observer doctor --config FILE`: checks the configuration, each cluster, every
// permission the agent needs there, the sink and the WAL, and prints a table.
import type { CommandModule } from "yargs";
import { formatDoctorTable, runDoctor } from "../ops/doctor.js";
import { reportFailure } from "./open-graph.js";

interface DoctorArgs {
  config: string;
  sink?: "sqlite" | "neo4j";
  json: boolean;
}

export const doctorCommand: CommandModule<object, DoctorArgs> = {
  command: "doctor",
  describe: "Check that a configuration can run here: config, clusters, RBAC permissions, sink, WAL",
  builder: (y) =>
    y
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Check this graph sink instead of the config's (as run --sink)" })
      .option("json", { type: "boolean", default: false, describe: "One JSON object per check (check, target, result, detail, hint) instead of the table" })
      .example("KUBECONFIG=.dev-env/kubeconfig $0 doctor --config config/example.dhall", "a table of checks; exit 1 when one fails")
      .example(
        "kubectl -n kube-observer exec deploy/kube-observer -- kube-observer doctor --config /etc/kube-observer/kube-observer.dhall",
        "inside the deployed pod, with its ServiceAccount",
      )
      .epilogue(
        "Permissions are asked with SelfSubjectAccessReview for the credentials the config uses; they are the ones `kube-observer rbac` grants. Exit code 0 when every check passes (warnings allowed), 1 otherwise.",
      ),
  handler: async (args) => {
    try {
      const rows = await runDoctor({
        configFile: args.config,
        sink: args.sink,
        onRow: args.json ? (row) => process.stdout.write(`${JSON.stringify(row)}\n`) : undefined,
      });
      if (!args.json) process.stdout.write(formatDoctorTable(rows));
      process.exitCode = rows.some((r) => r.result === "FAIL") ? 1 : 0;
    } catch (error) {
      reportFailure(error);
    }
  },
};
