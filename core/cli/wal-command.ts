// `kube-observer wal status|replay|drop`: depth, lag and parked messages of the agent's
// WAL; re-deliver parked messages after a fix, or discard them. replay and drop write the
// WAL, so they take its lock: they refuse (exit 2) while an agent runs on it.
import { existsSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { loadAgentConfig } from "../agent-config.js";
import { createLogger } from "../log/logger.js";
import { Wal, type ParkedRecord } from "../wal/wal.js";
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
          process.stdout.write(`    ${describeParked(p)}${p.supersededBy !== null ? ` (superseded by #${p.supersededBy})` : ""}\n`);
        }
      } finally {
        wal.close();
      }
    } catch (error) {
      reportFailure(error);
    }
  },
};

function describeParked(p: ParkedRecord): string {
  return `#${p.seq} ${p.action} ${p.resource} ${p.namespace ? `${p.namespace}/` : ""}${p.name ?? ""} — plugin ${p.plugin}: ${p.error}`;
}

/** What replay and drop log about one parked message (never its body). */
function parkedFields(p: ParkedRecord): Record<string, unknown> {
  return {
    seq: p.seq,
    cluster: p.cluster,
    resource: p.resource,
    namespace: p.namespace ?? undefined,
    name: p.name ?? undefined,
    action: p.action,
    plugin: p.plugin,
    err: p.error,
  };
}

/** Opens the config's WAL for writing (its lock: not beside a running agent). */
async function openWal(configFile: string): Promise<Wal> {
  const { config } = await loadAgentConfig(configFile);
  if (!existsSync(config.wal.path)) throw new Error(`no WAL at ${config.wal.path} (has the agent run with this config?)`);
  return new Wal(config.wal.path);
}

function fail(error: unknown): void {
  reportFailure(error);
  const code = (error as { exitCode?: unknown }).exitCode;
  if (typeof code === "number") process.exitCode = code;
}

interface WriteArgs {
  config: string;
  json: boolean;
}

interface DropArgs extends WriteArgs {
  seq: number[] | undefined;
  all: boolean;
}

const replay: CommandModule<object, WriteArgs> = {
  command: "replay",
  describe: "Deliver parked messages again (after fixing the plugin or the sink that refused them)",
  builder: (y) =>
    (y as Argv)
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the WAL)" })
      .option("json", { type: "boolean", default: false, describe: "Print as JSON" })
      .example("$0 wal replay --config config/example.dhall", "with the agent stopped; its next start delivers them") as unknown as Argv<WriteArgs>,
  handler: async (args) => {
    try {
      const wal = await openWal(args.config);
      try {
        const result = wal.replay();
        const log = createLogger();
        for (const p of result.replayed) log.info(parkedFields(p), "parked message queued for delivery again");
        for (const p of result.superseded)
          log.info(
            { ...parkedFields(p), supersededBy: p.supersededBy ?? undefined },
            "parked message discarded: a later message for the same object superseded it",
          );
        for (const p of result.kept) log.warn(parkedFields(p), "parked relist boundary left parked: the next relist replaces it (wal drop discards it)");
        if (args.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        process.stdout.write(`${result.replayed.length} parked message(s) queued for delivery again (the agent delivers them when it runs)\n`);
        if (result.superseded.length) process.stdout.write(`${result.superseded.length} superseded by a later message for the same object, discarded\n`);
        if (result.kept.length)
          process.stdout.write(`${result.kept.length} relist boundary(ies) left parked (a newer relist replaces them; \`wal drop\` discards them)\n`);
      } finally {
        wal.close();
      }
    } catch (error) {
      fail(error);
    }
  },
};

const drop: CommandModule<object, DropArgs> = {
  command: "drop",
  describe: "Discard parked messages (all with --all, or those named by --seq)",
  builder: (y) =>
    (y as Argv)
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the WAL)" })
      .option("seq", { type: "number", array: true, describe: "Seq of a parked message to drop (repeatable; see wal status)" })
      .option("all", { type: "boolean", default: false, describe: "Drop every parked message" })
      .option("json", { type: "boolean", default: false, describe: "Print as JSON" })
      .check((a) => {
        if (!a.all && !(Array.isArray(a.seq) && a.seq.length > 0)) throw new Error("name the parked messages to drop with --seq N, or --all");
        if (a.all && Array.isArray(a.seq) && a.seq.length > 0) throw new Error("--seq and --all exclude each other");
        return true;
      })
      .example("$0 wal drop --config config/example.dhall --seq 1234", "discard one parked message")
      .example("$0 wal drop --config config/example.dhall --all", "discard all of them") as unknown as Argv<DropArgs>,
  handler: async (args) => {
    try {
      const wal = await openWal(args.config);
      try {
        const dropped = wal.drop(args.all ? undefined : args.seq);
        const log = createLogger();
        for (const p of dropped) log.warn(parkedFields(p), "parked message dropped");
        if (args.json) {
          process.stdout.write(`${JSON.stringify({ dropped }, null, 2)}\n`);
          return;
        }
        process.stdout.write(`${dropped.length} parked message(s) dropped\n`);
        for (const p of dropped) process.stdout.write(`  ${describeParked(p)}\n`);
        const missing = (args.seq ?? []).filter((seq) => !dropped.some((p) => p.seq === seq));
        if (missing.length) {
          process.stderr.write(`no parked message with seq ${missing.join(", ")}\n`);
          process.exitCode = 1;
        }
      } finally {
        wal.close();
      }
    } catch (error) {
      fail(error);
    }
  },
};

export const walCommand: CommandModule = {
  command: "wal <command>",
  describe: "Inspect the write-ahead log between the observers and the graph sink; replay or drop parked messages",
  builder: (y) =>
    y
      .command(status as CommandModule)
      .command(replay as CommandModule)
      .command(drop as CommandModule)
      .demandCommand(1, "name a wal command: status, replay, drop"),
  handler: () => undefined,
};
