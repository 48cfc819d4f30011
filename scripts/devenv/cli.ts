// `npm run env:up | env:status | env:down`: the local servers the tests run against.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { downCluster, probeCluster, readClusterState, recordedClusters } from "./clusters.js";
import { down, MAX_CLUSTERS, probeAll, readState, ServerFailedError, up } from "./env.js";
import { devEnvPaths } from "./paths.js";
import { CONTROL_PLANE_ORDER, SERVER_ORDER } from "./servers.js";

const say = (line: string): void => console.log(`[env] ${line}`);

async function status(): Promise<number> {
  const paths = devEnvPaths();
  const state = readState(paths);
  if (!state) {
    say("not running (no .dev-env/env.json); start it with `npm run env:up`");
    return 1;
  }
  const health = await probeAll(state);
  let healthy = SERVER_ORDER.every((name) => health[name]);
  const line = (name: string, pid: number | undefined, ready: boolean, log: string | undefined): void =>
    say(`  ${name.padEnd(24)} pid ${String(pid).padEnd(8)} ${ready ? "ready" : "NOT READY"}   log ${log ?? "-"}`);
  say("cluster 1");
  for (const name of CONTROL_PLANE_ORDER) line(name, state.pids[name], health[name], state.servers[name]?.log);
  say(`  kubeconfig   ${state.kubeconfig}`);
  say(`  apiserver    ${state.apiserverUrl} (Kubernetes ${state.versions.kubernetes})`);
  say(`  etcd         ${state.etcdUrl} (${state.versions.etcd})`);
  for (const index of recordedClusters(paths)) {
    const cluster = readClusterState(index, paths)!;
    const clusterHealth = await probeCluster(cluster);
    healthy &&= CONTROL_PLANE_ORDER.every((name) => clusterHealth[name]);
    say(`cluster ${index}`);
    for (const name of CONTROL_PLANE_ORDER) line(name, cluster.pids[name], clusterHealth[name], cluster.servers[name]?.log);
    say(`  kubeconfig   ${cluster.kubeconfig}`);
    say(`  apiserver    ${cluster.apiserverUrl}`);
    say(`  etcd         ${cluster.etcdUrl}`);
  }
  say("shared by every cluster");
  line("neo4j", state.pids.neo4j, health.neo4j, state.servers.neo4j?.log);
  say(`  bolt         ${state.neo4j.boltUrl} user ${state.neo4j.user} (Neo4j ${state.versions.neo4j}; password in ${paths.stateFile})`);
  return healthy ? 0 : 1;
}

await yargs(hideBin(process.argv))
  .scriptName("devenv")
  .usage(
    "$0 <command>\n\nThe local etcd, kube-apiserver, kube-controller-manager and Neo4j that the tests use,\nbuilt once into ~/.cache/kube-observer (or $KUBE_OBSERVER_CACHE) and run on free 127.0.0.1 ports.\nState, logs and the kubeconfig live in .dev-env/.",
  )
  .command(
    "up",
    "start every server (reuses a healthy running environment)",
    (y) =>
      y.option("clusters", {
        type: "number",
        default: 1,
        describe: `how many control planes (1-${MAX_CLUSTERS}); cluster 2 gets its own etcd, kube-apiserver, trimmed kube-controller-manager, CA and .dev-env/kubeconfig-2. Running clusters are reused, none is stopped`,
      }),
    async (args) => {
      try {
        await up(say, devEnvPaths(), { clusters: args.clusters });
      } catch (error) {
        if (error instanceof ServerFailedError) console.error(`[env] ${error.message}`);
        else console.error(`[env] ${(error as Error).stack ?? String(error)}`);
        process.exitCode = 1;
      }
    },
  )
  .command("status", "show each server of each cluster, its pid and whether it answers (exit 1 if any does not)", {}, async () => {
    process.exitCode = await status();
  })
  .command(
    "down",
    "stop every server the environment started (every cluster)",
    (y) => y.option("cluster", { type: "number", describe: "stop only this additional cluster (2, ...), leaving the rest running" }),
    async (args) => {
      if (args.cluster === undefined) await down(say);
      else if (!Number.isInteger(args.cluster) || args.cluster < 2) {
        console.error("[env] --cluster names an additional cluster: 2 or more (plain `down` stops everything)");
        process.exitCode = 1;
      } else await downCluster(args.cluster, say);
    },
  )
  .demandCommand(1, "name a command: up, status or down")
  .strict()
  .help()
  .parseAsync();
