// `kube-observer attack-paths --from KIND NAME`: the shortest ways from a foothold (a pod,
// a ServiceAccount, a node) to cluster-admin or to a Secret, over the attack edges derived
// from the graph (core/insight/attack/edges.ts).
import type { Argv, CommandModule } from "yargs";
import { objectKey } from "../graph/keys.js";
import { storedKey } from "../graph/limits.js";
import { newMirror } from "../insight/attack/derived-stage.js";
import { CLUSTER_ADMIN, deriveAttackEdges, type AttackEdge } from "../insight/attack/edges.js";
import { shortestPaths, type AttackPath } from "../insight/attack/paths.js";
import { refFromKey } from "../insight/rbac-index.js";
import { withGraph } from "./open-graph.js";
import { lookups } from "./who-uses-command.js";

interface AttackPathsArgs {
  from: string[];
  to?: string[];
  namespace?: string;
  "to-namespace"?: string;
  cluster?: string;
  config: string;
  sink?: "sqlite" | "neo4j";
  json: boolean;
  "max-secrets": number;
}

const show = (key: string): string => {
  const ref = refFromKey(key);
  return `${ref.label} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
};

function pathText(path: AttackPath, from: string): string {
  return [show(from), ...path.steps.map((s) => `  -[${s.rel}: ${s.how}]-> ${show(s.to)}`)].join("\n");
}

export const attackPathsCommand: CommandModule<object, AttackPathsArgs> = {
  command: "attack-paths",
  describe:
    "Shortest attack paths from a foothold (pod, ServiceAccount, node) to cluster-admin or a Secret, over attack edges derived from RBAC, pods and nodes",
  builder: (y) =>
    (y as Argv)
      .option("from", {
        type: "string",
        array: true,
        demandOption: true,
        describe: "KIND NAME of the foothold: pod, serviceaccount or node (with -n for namespaced kinds)",
      })
      .option("to", { type: "string", array: true, describe: "cluster-admin (the default), or secret NAME (in --to-namespace, default -n)" })
      .option("namespace", { alias: "n", type: "string", describe: "namespace of the foothold" })
      .option("to-namespace", { type: "string", describe: "namespace of the target Secret (default: -n)" })
      .option("max-secrets", { type: "number", default: 10, describe: "without --to: how many reachable Secrets to show a path to" })
      .option("cluster", { type: "string", describe: "cluster name from the config (default: the first)" })
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the sink)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "Read this sink instead of the configured one" })
      .option("json", { type: "boolean", default: false, describe: "Print the paths as JSON" })
      .example("$0 attack-paths --from pod web-7d9c -n payments -c config/example.dhall", "can this pod become cluster-admin, and which Secrets can it reach?")
      .example(
        "$0 attack-paths --from serviceaccount ci -n build --to secret db-creds --to-namespace payments -c config/example.dhall",
        "how the CI account reaches a Secret",
      ) as unknown as Argv<AttackPathsArgs>,
  handler: (args) =>
    withGraph(args.config, args.sink, async ({ config, plugins, sink }) => {
      const [kind, name, ...extra] = args.from;
      if (!kind || !name || extra.length > 0) throw new Error("attack-paths: --from takes KIND NAME, e.g. --from pod web-1 -n payments");
      const lookup = lookups(plugins).get(kind);
      if (!lookup) throw new Error(`attack-paths: unknown kind "${kind}"; use pod, serviceaccount or node`);
      const cluster = args.cluster ?? config.clusters[0]?.name ?? "";
      const context = (ns: string | null) => ({ cluster, namespace: ns, objectKey: (k: string, n: string | null, nm: string) => objectKey(cluster, n, k, nm) });
      if (lookup.namespaced && !args.namespace) throw new Error(`attack-paths: a ${kind} is namespaced: add -n NAMESPACE`);
      const from = storedKey(lookup.key(name, context(lookup.namespaced ? (args.namespace ?? null) : null)));

      const [toKind, toName, ...toExtra] = args.to ?? ["cluster-admin"];
      let target: string;
      if (toKind === "cluster-admin" && toName === undefined) target = CLUSTER_ADMIN(cluster);
      else if (toKind === "secret" && toName && toExtra.length === 0) {
        const ns = args["to-namespace"] ?? args.namespace;
        if (!ns) throw new Error("attack-paths: --to secret NAME needs --to-namespace (or -n)");
        target = storedKey(objectKey(cluster, ns, "Secret", toName));
      } else throw new Error("attack-paths: --to is cluster-admin or secret NAME");

      const view = newMirror(cluster);
      view.load(await sink.subgraph([...view.labelsRead], [...view.relsRead]));
      if (!view.node(from)) throw new Error(`attack-paths: ${show(from)} is not in the graph (is its kind observed?)`);
      const edges: AttackEdge[] = deriveAttackEdges(view);
      const toTarget = shortestPaths(edges, from, (k) => k === target, 1);
      const secrets = args.to ? [] : shortestPaths(edges, from, (k) => refFromKey(k).label === "Secret" && k !== from, args["max-secrets"]);
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ from, target, path: toTarget[0] ?? null, secrets }, null, 2)}\n`);
        return;
      }
      const out: string[] = [];
      out.push(
        toTarget[0]
          ? `${show(from)} reaches ${show(target)} in ${toTarget[0].steps.length} step(s):\n${pathText(toTarget[0], from)}`
          : `no path from ${show(from)} to ${show(target)}`,
      );
      if (!args.to) {
        out.push("", secrets.length > 0 ? `Secrets it can reach (nearest first, at most ${args["max-secrets"]}):` : "no Secret is reachable");
        for (const p of secrets) out.push(pathText(p, from));
      }
      process.stdout.write(`${out.join("\n")}\n`);
    }),
};
