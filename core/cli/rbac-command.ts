// `kube-observer rbac --config FILE`: the least RBAC the configuration needs, as YAML
// manifests for `kubectl apply -f -`.
import type { CommandModule } from "yargs";
import { loadAgentConfig } from "../agent-config.js";
import { loadPlugins } from "../plugin/registry.js";
import { rbacHelmValues, rbacYaml } from "../rbac/manifests.js";
import { pickCluster, planRbac, type RbacPlan } from "../rbac/plan.js";
import { reportFailure } from "./open-graph.js";

interface RbacArgs {
  config: string;
  cluster?: string;
  namespace?: string;
  "service-account"?: string;
  format: "manifests" | "helm-values";
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The plan for a config file: what `rbac` prints and `doctor` checks. Plugins that
 *  failed to load are passed to `onPluginProblem` first (an actor naming one cannot be
 *  planned: its API group and resource are unknown). */
export async function rbacPlanFor(
  configFile: string,
  options: { cluster?: string; namespace?: string; serviceAccount?: string; onPluginProblem?: (problem: string) => void } = {},
): Promise<{ plan: RbacPlan }> {
  const { config } = await loadAgentConfig(configFile);
  const plugins = await loadPlugins(config.pluginDirs);
  for (const error of plugins.errors) options.onPluginProblem?.(error.message);
  const cluster = pickCluster(config, options.cluster);
  const plan = planRbac(config, plugins.plugins, cluster, { namespace: options.namespace, serviceAccount: options.serviceAccount });
  return { plan };
}

/** The command line that reproduces an output, for its header (only the options given). */
function commandText(args: RbacArgs): string {
  const parts = ["kube-observer rbac", `--config ${args.config}`];
  if (args.cluster !== undefined) parts.push(`--cluster ${args.cluster}`);
  if (args.namespace !== undefined) parts.push(`--namespace ${args.namespace}`);
  if (args["service-account"] !== undefined) parts.push(`--service-account ${args["service-account"]}`);
  if (args.format !== "manifests") parts.push(`--format ${args.format}`);
  return parts.join(" ");
}

export const rbacCommand: CommandModule<object, RbacArgs> = {
  command: "rbac",
  describe: "Print the least RBAC a configuration needs (ServiceAccount, roles, bindings) as YAML",
  builder: (y) =>
    y
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file" })
      .option("cluster", { type: "string", describe: "Which configured cluster (default: the only one)" })
      .option("namespace", { alias: "n", type: "string", describe: 'Namespace of the ServiceAccount (default: the config\'s rbac.namespace, "kube-observer")' })
      .option("service-account", {
        type: "string",
        describe: "ServiceAccount name, also the name of the roles and bindings (default: the config's rbac.serviceAccount)",
      })
      .option("format", {
        choices: ["manifests", "helm-values"] as const,
        default: "manifests" as const,
        describe: "manifests: YAML for kubectl apply; helm-values: the rules as the Helm chart's rbac values (names come from the release)",
      })
      .check((args) => {
        if (args.namespace !== undefined && !DNS_LABEL.test(args.namespace)) throw new Error(`--namespace "${args.namespace}" is not a namespace name`);
        const sa = args["service-account"];
        if (sa !== undefined && (!DNS_SUBDOMAIN.test(sa) || sa.length > 253)) throw new Error(`--service-account "${sa}" is not a valid name`);
        return true;
      })
      .example("$0 rbac --config config/example.dhall | kubectl apply -f -", "grant exactly what the agent needs")
      .example(
        "$0 rbac --config my.dhall --format helm-values > rbac-values.yaml",
        "the RBAC for a custom config, for helm install -f rbac-values.yaml (deploy/helm/kube-observer/README.md)",
      )
      .epilogue(
        'Only list and watch, only on the resources the actors name: a ClusterRole for actors of every namespace ("*") and cluster-scoped resources, ' +
          "a Role per namespace for actors that name one, plus namespaces when the agent must discover them, plus the config's rbac.extraRules.",
      ),
  handler: async (args) => {
    try {
      const { plan } = await rbacPlanFor(args.config, {
        cluster: args.cluster,
        namespace: args.namespace,
        serviceAccount: args["service-account"],
        onPluginProblem: (problem) => process.stderr.write(`warning: ${problem}\n`),
      });
      const render = args.format === "helm-values" ? rbacHelmValues : rbacYaml;
      process.stdout.write(render(plan, { command: commandText(args) }));
    } catch (error) {
      reportFailure(error);
    }
  },
};
