// `npm run env:up | env:status | env:down`: the local servers the tests run against.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { down, probeAll, readState, ServerFailedError, up } from "./env.js";
import { devEnvPaths } from "./paths.js";
import { SERVER_ORDER } from "./servers.js";

const say = (line: string): void => console.log(`[env] ${line}`);

async function status(): Promise<number> {
  const paths = devEnvPaths();
  const state = readState(paths);
  if (!state) {
    say("not running (no .dev-env/env.json); start it with `npm run env:up`");
    return 1;
  }
  const health = await probeAll(state);
  for (const name of SERVER_ORDER) {
    say(`${name.padEnd(24)} pid ${String(state.pids[name]).padEnd(8)} ${health[name] ? "ready" : "NOT READY"}   log ${state.servers[name]?.log ?? "-"}`);
  }
  say(`kubeconfig   ${state.kubeconfig}`);
  say(`apiserver    ${state.apiserverUrl} (Kubernetes ${state.versions.kubernetes})`);
  say(`etcd         ${state.etcdUrl} (${state.versions.etcd})`);
  say(`neo4j        ${state.neo4j.boltUrl} user ${state.neo4j.user} (Neo4j ${state.versions.neo4j}; password in ${paths.stateFile})`);
  return SERVER_ORDER.every((name) => health[name]) ? 0 : 1;
}

await yargs(hideBin(process.argv))
  .scriptName("devenv")
  .usage("$0 <command>\n\nThe local etcd, kube-apiserver, kube-controller-manager and Neo4j that the tests use,\nbuilt once into ~/.cache/kube-observer (or $KUBE_OBSERVER_CACHE) and run on free 127.0.0.1 ports.\nState, logs and the kubeconfig live in .dev-env/.")
  .command("up", "start every server (reuses a healthy running environment)", {}, async () => {
    try {
      await up(say);
    } catch (error) {
      if (error instanceof ServerFailedError) console.error(`[env] ${error.message}`);
      else console.error(`[env] ${(error as Error).stack ?? String(error)}`);
      process.exitCode = 1;
    }
  })
  .command("status", "show each server, its pid and whether it answers (exit 1 if any does not)", {}, async () => {
    process.exitCode = await status();
  })
  .command("down", "stop every server the environment started", {}, async () => {
    await down(say);
  })
  .demandCommand(1, "name a command: up, status or down")
  .strict()
  .help()
  .parseAsync();
