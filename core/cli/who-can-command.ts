// `kube-observer who-can VERB RESOURCE`: the subjects RBAC lets do it, the ServiceAccounts
// among them (also through groups), and the pods and workloads that run as those.
import type { Argv, CommandModule } from "yargs";
import { parseAccessRequest } from "../insight/access-request.js";
import { readRbacIndex, refFromKey, type NodeRef } from "../insight/rbac-index.js";
import { describeRequest } from "../insight/rbac-rule.js";
import { whoCan, type WhoCanAnswer } from "../insight/who-can.js";
import { withGraph } from "./open-graph.js";
import { withHistory } from "./open-history.js";
import { formatTime, parseTime } from "../history/time.js";
import type { GraphSink } from "../graph/model.js";
import type { Config } from "../config/model.js";
import type { PluginSet } from "../plugin/registry.js";

interface WhoCanArgs {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  cluster?: string;
  config: string;
  sink?: "sqlite" | "neo4j";
  json: boolean;
  at?: string;
}

const show = (ref: NodeRef): string => `${ref.label} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}${ref.observed ? "" : " (not observed)"}`;

function printAnswer(answer: WhoCanAnswer, assumedCoreGroup: boolean): void {
  const out: string[] = [`who can ${describeRequest(answer.request)}:`];
  if (assumedCoreGroup) out.push(`  (the core API group is assumed; write RESOURCE.GROUP for another)`);
  if (answer.subjects.length === 0) out.push("  no one, by RBAC (members of system:masters can do anything)");
  for (const s of answer.subjects) {
    out.push(`  ${show(s.subject)}`);
    for (const g of s.grants) {
      const where = g.grantsIn === "*" ? "everywhere" : `in ${g.grantsIn}`;
      out.push(`      ${show(g.binding)} → ${show(g.role)} (${where}): ${g.rules.join("; ")}`);
    }
  }
  if (answer.serviceAccounts.length > 0) {
    out.push("", "ServiceAccounts that can:");
    for (const a of answer.serviceAccounts) {
      const how = [...(a.direct ? ["bound by name"] : []), ...a.groups.map((g) => `group ${g}`)].join(", ");
      out.push(`  ${show(a.account)}: ${how}`);
    }
  }
  if (answer.runners.length > 0) {
    out.push("", "Running as those ServiceAccounts:");
    for (const r of answer.runners) out.push(`  ${show(r.runner)} (as ${refFromKey(r.serviceAccount).namespace}/${refFromKey(r.serviceAccount).name})`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

export const whoCanCommand: CommandModule<object, WhoCanArgs> = {
  command: "who-can <verb> <resource>",
  describe: "List who RBAC lets do something (subjects, the ServiceAccounts among them also through groups, and the pods and workloads running as those)",
  builder: (y) =>
    (y as Argv)
      .positional("verb", {
        type: "string",
        demandOption: true,
        describe: "get, list, watch, create, update, patch, delete, deletecollection, escalate, bind, impersonate, … or *",
      })
      .positional("resource", {
        type: "string",
        demandOption: true,
        describe: "PLURAL[.GROUP][/SUBRESOURCE] (secrets, pods/exec, deployments.apps, widgets.example.com) or a non-resource URL (/metrics)",
      })
      .option("subresource", { type: "string", describe: "a subresource (log, exec, status, scale, …); or write RESOURCE/SUBRESOURCE" })
      .option("namespace", {
        alias: "n",
        type: "string",
        describe:
          "the request's namespace (RoleBindings there and ClusterRoleBindings grant it); without it the request is cluster-wide, which only ClusterRoleBindings grant",
      })
      .option("name", { type: "string", describe: "the object's name (rules with resourceNames grant only named requests)" })
      .option("cluster", { type: "string", describe: "cluster name from the config (default: the first)" })
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the sink)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" })
      .option("json", { type: "boolean", default: false, describe: "Print the answer as JSON" })
      .option("at", { type: "string", describe: "From the history: who could, at this time (ISO 8601, or e.g. now-2h, 3d ago)" })
      .example("$0 who-can get secrets -n payments -c config/example.dhall", "who can read the Secrets of payments, and which pods run with that right")
      .example("$0 who-can create pods/exec -n payments -c config/example.dhall", "who can exec into its pods")
      .example("$0 who-can list secrets -c config/example.dhall", "who can list Secrets in every namespace at once") as unknown as Argv<WhoCanArgs>,
  handler: (args) => {
    if (args.at === undefined) return withGraph(args.config, args.sink, async ({ config, plugins, sink }) => answer(args, config, plugins, sink));
    const at = parseTime(args.at);
    return withHistory(args.config, args.sink, async ({ config, plugins, reader }) => {
      if (!args.json) process.stdout.write(`(from the history, at ${formatTime(at)})\n`);
      await answer(args, config, plugins, reader.at(at));
    });
  },
};

async function answer(args: WhoCanArgs, config: Config, plugins: PluginSet, sink: Pick<GraphSink, "subgraph">): Promise<void> {
  const groups = new Map<string, string>();
  for (const loaded of plugins.plugins.values()) groups.set(loaded.plugin.resource.plural, loaded.plugin.resource.group);
  const words = {
    verb: args.verb,
    resource: args.resource,
    ...(args.subresource !== undefined ? { subresource: args.subresource } : {}),
    ...(args.namespace !== undefined ? { namespace: args.namespace } : {}),
    ...(args.name !== undefined ? { name: args.name } : {}),
  };
  const { request, assumedCoreGroup } = parseAccessRequest(words, groups);
  const cluster = args.cluster ?? config.clusters[0]?.name ?? "";
  const index = await readRbacIndex(sink, cluster);
  for (const bad of index.unreadableRules) process.stderr.write(`who-can: skipped a rule of ${bad.role} that could not be read: ${bad.text}\n`);
  const answer = whoCan(index, request);
  if (args.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  else printAnswer(answer, assumedCoreGroup);
}
