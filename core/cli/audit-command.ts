// `kube-observer audit`: the security findings the live graph proves, each with its rule,
// severity, object and the path that shows it (core/insight/audit/rules/).
import { readFileSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { atLeast, runAudit } from "../insight/audit/audit.js";
import { formatTable, toSarif } from "../insight/audit/format.js";
import { SEVERITIES, type AuditOptions, type AuditRule, type AuditView, type Finding, type Severity } from "../insight/audit/model.js";
import { FindingTracker } from "../insight/audit/tracker.js";
import { observedScopes } from "../insight/audit/observed-scopes.js";
import { AUDIT_RULES } from "../insight/audit/rules/index.js";
import { readView, viewChanges } from "../insight/audit/view.js";
import { withGraph } from "./open-graph.js";

interface AuditArgs {
  format: "table" | "json" | "sarif";
  rule?: string[];
  "min-severity": Severity;
  "fail-on"?: Severity;
  "allowed-registry"?: string[];
  cluster?: string;
  config: string;
  sink?: "sqlite" | "neo4j";
  watch: boolean;
  "interval-seconds": number;
}

const version = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export const auditCommand: CommandModule<object, AuditArgs> = {
  command: "audit",
  describe:
    "Security findings from the live graph (privileged and host pods, token automount, Secret readers, cluster-admin, wildcards, images, dangling references, unused Secrets, exposed Secret readers), each with the path that proves it",
  builder: (y) =>
    (y as Argv)
      .option("format", {
        choices: ["table", "json", "sarif"] as const,
        default: "table" as const,
        describe: "table for people, json for scripts, sarif (2.1.0) for code scanning",
      })
      .option("rule", { type: "string", array: true, describe: `only these rule ids (${AUDIT_RULES.map((r) => r.id).join(", ")})` })
      .option("min-severity", { choices: SEVERITIES, default: "info" as Severity, describe: "leave out findings below this severity" })
      .option("fail-on", { choices: SEVERITIES, describe: "exit 3 when a finding is at least this severe (for CI gates)" })
      .option("allowed-registry", {
        type: "string",
        array: true,
        describe:
          "registries images may come from, replacing the config's audit.allowedRegistries for this run (KO-IMG-002 is off when neither names one), e.g. registry.example.com:5000",
      })
      .option("watch", {
        type: "boolean",
        default: false,
        describe:
          "Keep reading the graph: print the findings, then each one that appears or clears, with the change that caused it (json: one object per line); stop with Ctrl-C",
      })
      .option("interval-seconds", { type: "number", default: 1, describe: "With --watch: how often the graph is read" })
      .option("cluster", { type: "string", describe: "cluster name from the config (default: the first)" })
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the sink)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" })
      .example("$0 audit -c config/example.dhall", "every finding, most severe first")
      .example("$0 audit -c config/example.dhall --format sarif > audit.sarif", "for a code scanning dashboard")
      .example("$0 audit -c config/example.dhall --min-severity high --fail-on high", "a CI gate")
      .example("$0 audit -c config/example.dhall --watch", "findings as they appear and clear (or run the agent with --audit)") as unknown as Argv<AuditArgs>,
  handler: (args) =>
    withGraph(args.config, args.sink, async ({ config, plugins, sink }) => {
      const known = new Set(AUDIT_RULES.map((r) => r.id));
      const unknown = (args.rule ?? []).filter((id) => !known.has(id));
      if (unknown.length > 0) throw new Error(`audit: unknown rule ${unknown.join(", ")}; known: ${[...known].join(", ")}`);
      const rules = args.rule ? AUDIT_RULES.filter((r) => args.rule!.includes(r.id)) : AUDIT_RULES;
      const cluster = args.cluster ?? config.clusters[0]?.name ?? "";
      const options = { allowedRegistries: args["allowed-registry"] ?? config.audit.allowedRegistries, observes: observedScopes(config, plugins, cluster) };
      const shown = (findings: readonly Finding[]): Finding[] => findings.filter((f) => atLeast(f.severity, args["min-severity"]));
      if (args.watch) {
        await watchFindings(async () => readView(sink, cluster, rules), rules, options, shown, args);
        return;
      }
      const view = await readView(sink, cluster, rules);
      const all = runAudit(view, rules, options);
      const result = { ...all, findings: shown(all.findings) };
      for (const failed of result.failedRules) process.stderr.write(`audit: rule ${failed.rule} failed: ${failed.error}\n`);
      for (const bad of view.rbac.unreadableRules) process.stderr.write(`audit: skipped a rule of ${bad.role} that could not be read: ${bad.text}\n`);
      if (args.format === "json") process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (args.format === "sarif") process.stdout.write(`${JSON.stringify(toSarif(result, rules, { version }), null, 2)}\n`);
      else process.stdout.write(formatTable(result));
      if (result.failedRules.length > 0) process.exitCode = 1;
      else if (args["fail-on"] && result.findings.some((f) => atLeast(f.severity, args["fail-on"]!))) process.exitCode = 3;
    }),
};

/** `audit --watch`: reads the graph every interval until SIGINT/SIGTERM; prints the
 *  findings once, then each change with its cause (the nodes on its path that changed). */
async function watchFindings(
  read: () => Promise<AuditView>,
  rules: readonly AuditRule[],
  options: AuditOptions,
  shown: (findings: readonly Finding[]) => Finding[],
  args: AuditArgs,
): Promise<void> {
  let stop = false;
  let wake: () => void = () => undefined;
  const onSignal = (): void => {
    stop = true;
    wake();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const tracker = new FindingTracker();
  let previous: AuditView | undefined;
  const print = (change: string, f: Finding, cause: string[], others: string[]): void => {
    if (args.format === "json") process.stdout.write(`${JSON.stringify({ change, finding: f, cause, ...(others.length ? { changes: others } : {}) })}\n`);
    else {
      const why = cause.length > 0 ? ` (after: ${cause.join("; ")})` : others.length > 0 ? ` (changes then: ${others.join("; ")})` : "";
      process.stdout.write(
        `${new Date().toISOString()} ${change.toUpperCase().padEnd(8)} ${f.severity.toUpperCase().padEnd(8)} ${f.rule}  ${f.message}${why}\n`,
      );
    }
  };
  try {
    while (!stop) {
      try {
        const view = await read();
        const changes = viewChanges(previous, view);
        const result = runAudit(view, rules, options);
        for (const failed of result.failedRules) process.stderr.write(`audit: rule ${failed.rule} failed: ${failed.error}\n`);
        const changed = tracker.update(shown(result.findings), changes);
        for (const c of changed) print(previous ? c.change : "present", c.finding, previous ? c.cause : [], previous ? c.others : []);
        previous = view;
      } catch (error) {
        process.stderr.write(`audit: could not read the graph (${error instanceof Error ? error.message : String(error)}); trying again\n`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        // Not unref'd: this timer is what keeps the process alive between reads.
        setTimeout(resolve, args["interval-seconds"] * 1000);
      });
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
