// kube-observer's commands (main.ts checks the runtime first, then loads this).
import { readFileSync } from "node:fs";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { attackPathsCommand } from "./attack-paths-command.js";
import { auditCommand } from "./audit-command.js";
import { configCommand } from "./config-command.js";
import { doctorCommand } from "./doctor-command.js";
import { graphCommand } from "./graph-command.js";
import { historyCommand } from "./history-command.js";
import { rbacCommand } from "./rbac-command.js";
import { runCommand } from "./run-command.js";
import { verifyCommand } from "./verify-command.js";
import { walCommand } from "./wal-command.js";
import { whoCanCommand } from "./who-can-command.js";
import { whoUsesCommand } from "./who-uses-command.js";

// `kube-observer graph export | head`: a closed pipe ends the command quietly.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

// `completion bash|zsh`: yargs picks the script's shell from $SHELL when it starts, so
// the word is turned into that and removed (strict mode would refuse it as an argument).
const args = hideBin(process.argv);
if (args[0] === "completion" && args[1] !== undefined && !args[1].startsWith("-")) {
  if (args[1] !== "bash" && args[1] !== "zsh") {
    process.stderr.write(`kube-observer completion: no script for ${JSON.stringify(args[1])}; name bash or zsh\n`);
    process.exit(1);
  }
  process.env.SHELL = `/bin/${args[1]}`;
  args.splice(1, 1);
}

await yargs(args)
  .scriptName("kube-observer")
  .usage(
    "$0 <command> [options]\n\nWatches Kubernetes clusters and streams a live graph of their Pods, ConfigMaps, Secrets,\nServiceAccounts, volumes, Nodes and namespaces. Configured in Dhall (see config/example.dhall).",
  )
  .command(runCommand)
  .command(configCommand)
  .command(graphCommand)
  .command(whoUsesCommand)
  .command(historyCommand)
  .command(whoCanCommand)
  .command(auditCommand)
  .command(attackPathsCommand)
  .command(walCommand)
  .command(rbacCommand)
  .command(doctorCommand)
  .command(verifyCommand)
  .completion(
    "completion",
    "Print a shell completion script: `kube-observer completion bash >> ~/.bashrc`, or `completion zsh >> ~/.zshrc` (without a shell: your $SHELL's)",
  )
  .demandCommand(1, "Name a command: run, config, graph, who-uses, who-can, audit, attack-paths, wal, rbac, doctor, verify or completion.")
  .recommendCommands()
  .strict()
  .version(pkg.version)
  .help()
  .alias("h", "help")
  .wrap(Math.min(110, process.stdout.columns || 100))
  .epilogue("Docs: README.md. Each command has its own --help.")
  .parseAsync();
