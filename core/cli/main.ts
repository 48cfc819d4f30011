#!/usr/bin/env -S node --max-semi-space-size=2
// kube-observer's command line.
import { readFileSync } from "node:fs";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { configCommand } from "./config-command.js";
import { doctorCommand } from "./doctor-command.js";
import { graphCommand } from "./graph-command.js";
import { rbacCommand } from "./rbac-command.js";
import { runCommand } from "./run-command.js";
import { verifyCommand } from "./verify-command.js";
import { walCommand } from "./wal-command.js";
import { whoUsesCommand } from "./who-uses-command.js";

// `kube-observer graph export | head`: a closed pipe ends the command quietly.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

await yargs(hideBin(process.argv))
  .scriptName("kube-observer")
  .usage(
    "$0 <command> [options]\n\nWatches Kubernetes clusters and streams a live graph of their Pods, ConfigMaps, Secrets,\nServiceAccounts, volumes, Nodes and namespaces. Configured in Dhall (see config/example.dhall).",
  )
  .command(runCommand)
  .command(configCommand)
  .command(graphCommand)
  .command(whoUsesCommand)
  .command(walCommand)
  .command(rbacCommand)
  .command(doctorCommand)
  .command(verifyCommand)
  .demandCommand(1, "Name a command: run, config, graph, who-uses, wal, rbac, doctor or verify.")
  .recommendCommands()
  .strict()
  .version(pkg.version)
  .help()
  .alias("h", "help")
  .wrap(Math.min(110, process.stdout.columns || 100))
  .epilogue("Docs: README.md. Each command has its own --help.")
  .parseAsync();
