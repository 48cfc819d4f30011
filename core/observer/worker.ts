// Piscina task: runs one observer until it is told to stop on its control port. Many of
// these share a worker thread (concurrentTasksPerWorker); they are cooperative, never
// aborted, because aborting a Piscina task terminates its whole thread.
import type { MessagePort } from "node:worker_threads";
import { KubeHttpClient } from "../kube/client.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { loadPluginFile } from "../plugin/registry.js";
import type { ResourcePlugin } from "../plugin/types.js";
import { Observer, type ObserverStatus } from "./observer.js";
import type { FromWorker, ObserverTaskSpec, ToWorker } from "./protocol.js";

const clients = new Map<string, KubeHttpClient>();
const plugins = new Map<string, Promise<ResourcePlugin>>();

function clientFor(spec: ObserverTaskSpec): KubeHttpClient {
  const key = JSON.stringify(spec.cluster);
  let client = clients.get(key);
  if (!client) {
    client = new KubeHttpClient(loadKubeConfig(spec.cluster), {
      connectTimeoutMs: spec.config.connectTimeoutSeconds * 1000,
      listTimeoutMs: 120_000,
      userAgent: "kube-observer",
    });
    clients.set(key, client);
  }
  return client;
}

function pluginFor(file: string): Promise<ResourcePlugin> {
  let plugin = plugins.get(file);
  if (!plugin) {
    plugin = loadPluginFile(file);
    plugins.set(file, plugin);
    plugin.catch(() => plugins.delete(file));
  }
  return plugin;
}

export default async function runObserverTask({ port, spec }: { port: MessagePort; spec: ObserverTaskSpec }): Promise<ObserverStatus> {
  const post = (message: FromWorker): void => port.postMessage(message);
  const acks = new Map<number, () => void>();
  let nextBatch = 0;
  let observer: Observer | undefined;
  let stopRequested: ToWorker | undefined;

  port.on("message", (message: ToWorker) => {
    if (message.type === "ack") {
      acks.get(message.batch)?.();
      acks.delete(message.batch);
    } else if (message.type === "stop") {
      stopRequested = message;
      observer?.stop(message.reason);
      // Nobody will acknowledge after a shutdown stop's drain times out; see below.
    }
  });

  try {
    const plugin = await pluginFor(spec.pluginFile);
    const client = clientFor(spec).forResource(plugin.resource, spec.namespace);
    observer = new Observer(
      { cluster: spec.cluster.name, namespace: spec.namespace },
      plugin,
      client,
      {
        send: (messages) =>
          new Promise<void>((resolve) => {
            const batch = nextBatch++;
            acks.set(batch, resolve);
            post({ type: "batch", batch, messages });
          }),
        status: (status) => post({ type: "status", status }),
      },
      { config: spec.config, once: spec.once },
    );
    if (stopRequested?.type === "stop") observer.stop(stopRequested.reason);
    return await observer.run();
  } finally {
    // The task's result travels on Piscina's channel, which may overtake this port's
    // messages; "end" tells the main thread when it may close its side.
    post({ type: "end" });
    port.close();
  }
}
