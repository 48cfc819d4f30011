// `kube-observer wal status`: depth, lag and parked messages of the agent's WAL.
import { existsSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { loadAgentConfig } from "../agent-config.js";
import { Wal } from "../wal/wal.js";
import { reportFailure } from "./open-graph.js";

interface WalArgs {
  config: string;
  json: boolean;
  limit: number;
}

const status: CommandModule<object, WalArgs> = {
  command: "status",
  describe: "Messages waiting for the sink, how old the oldest is, and parked messages",
  builder: (y) =>
    (y as Argv)
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the WAL)" })
      .option("json", { type: "boolean", default: false, describe: "Print as JSON" })
      .option("limit", { type: "number", default: 20, describe: "Parked messages to list" })
      .example("$0 wal status --config config/example.dhall", "is the sink keeping up? did a plugin fail?") as unknown as Argv<WalArgs>,
  handler: async (args) => {
    try {
      const { config } = await loadAgentConfig(args.config);
      if (!existsSync(config.wal.path)) throw new Error(`no WAL at ${config.wal.path} (has the agent run with this config?)`);
      const wal = new Wal(config.wal.path, { readonly: true });
      try {
        const s = wal.status();
        const lagSeconds = s.oldestObservedAt ? Math.max(0, (Date.now() - Date.parse(s.oldestObservedAt)) / 1000) : 0;
        const parked = wal.parked(args.limit);
        if (args.json) {
          process.stdout.write(`${JSON.stringify({ ...s, lagSeconds, parkedMessages: parked }, null, 2)}\n`);
          return;
        }
        process.stdout.write(`WAL ${s.path}\n`);
        const h = s.holder;
        process.stdout.write(
          `  holder  ${h ? `${h.live ? "held by" : "not held; last held by"} pid ${h.pid} on host ${h.host} since ${h.since} ("${h.command}")` : "never held"}\n`,
        );
        process.stdout.write(`  depth   ${s.depth} messages (${s.bytes} bytes) waiting for the sink\n`);
        process.stdout.write(`  lag     ${lagSeconds.toFixed(1)} s (oldest waiting message observed ${s.oldestObservedAt ?? "-"})\n`);
        process.stdout.write(`  parked  ${s.parked}\n`);
        for (const p of parked) {
          process.stdout.write(`    #${p.seq} ${p.action} ${p.resource} ${p.namespace ? `${p.namespace}/` : ""}${p.name ?? ""} — plugin ${p.plugin}: ${p.error}\n`);
        }
      } finally {
        wal.close();
      }
    } catch (error) {
      reportFailure(error);
    }
  },
};

export const walCommand: CommandModule = {
  command: "wal <command>",
  describe: "Inspect the write-ahead log between the observers and the graph sink",
  builder: (y) => y.command(status as CommandModule).demandCommand(1, "name a wal command: status"),
  handler: () => undefined,
};
