// Piscina task: runs one observer until it is told to stop on its control port. Many of
// these share a worker thread (concurrentTasksPerWorker); they are cooperative, never
// aborted, because aborting a Piscina task terminates its whole thread.
import type { MessagePort } from "node:worker_threads";
import type { AuthOptions, RequestAuth } from "../kube/auth.js";
import { KubeHttpClient } from "../kube/client.js";
import { loadPluginFile, loadPluginSource, PluginLoadError, pluginVersion, sourceVersion } from "../plugin/registry.js";
import type { ResourcePlugin } from "../plugin/types.js";
import { ListGate } from "./list-gate.js";
import { Observer, type ObserverStatus } from "./observer.js";
import type { FromWorker, ObserverTaskSpec, ToWorker } from "./protocol.js";

const clients = new Map<string, KubeHttpClient>();
/** Per cluster and capacity: this thread's share of the cluster's concurrent LISTs. */
const listGates = new Map<string, ListGate>();
const plugins = new Map<string, Promise<ResourcePlugin>>();

/** Live observer ports per cluster: a cluster's client asks any of them for credentials
 *  (its clients are shared by the thread's observers of that cluster). */
const authPorts = new Map<string, Set<MessagePort>>();
const pendingAuth = new Map<number, { port: MessagePort; resolve: (o: AuthOptions) => void; reject: (e: Error) => void }>();
let nextAuth = 0;

function portAuth(clusterKey: string): RequestAuth {
  return {
    options: () =>
      new Promise<AuthOptions>((resolve, reject) => {
        const [port] = authPorts.get(clusterKey) ?? [];
        if (!port) {
          reject(new Error("no running observer of this cluster to ask the main thread through"));
          return;
        }
        const id = nextAuth++;
        pendingAuth.set(id, { port, resolve, reject });
        port.postMessage({ type: "auth", id } satisfies FromWorker);
      }),
  };
}

/** A port closing with requests in flight: they go again through another port. */
function retireAuthPort(clusterKey: string, port: MessagePort): void {
  authPorts.get(clusterKey)?.delete(port);
  for (const [id, pending] of pendingAuth) {
    if (pending.port !== port) continue;
    pendingAuth.delete(id);
    portAuth(clusterKey).options().then(pending.resolve, pending.reject);
  }
}

function clientFor(spec: ObserverTaskSpec): KubeHttpClient {
  const clusterKey = JSON.stringify(spec.cluster);
  const { connectTimeoutSeconds, maxObjectBytes, maxListPageBytes } = spec.config;
  // Settings changed by a reload make a new client; observers of the old keep theirs.
  const key = JSON.stringify([clusterKey, connectTimeoutSeconds, maxObjectBytes, maxListPageBytes]);
  let client = clients.get(key);
  if (!client) {
    client = new KubeHttpClient(portAuth(clusterKey), {
      connectTimeoutMs: connectTimeoutSeconds * 1000,
      listTimeoutMs: 120_000,
      userAgent: "kube-observer",
      maxObjectBytes,
      maxListPageBytes,
    });
    clients.set(key, client);
  }
  return client;
}

function listGateFor(spec: ObserverTaskSpec): ListGate {
  const key = JSON.stringify([spec.cluster, spec.listSlots]);
  let gate = listGates.get(key);
  if (!gate) {
    gate = new ListGate(Math.max(1, spec.listSlots));
    listGates.set(key, gate);
  }
  return gate;
}

/** The plugin at the version the main thread loaded (keyed by file and version: a
 *  reloaded, changed file is a new module; observers of the old one keep theirs). */
function pluginFor(spec: ObserverTaskSpec): Promise<ResourcePlugin> {
  const key = `${spec.pluginFile}\0${spec.pluginVersion}`;
  let plugin = plugins.get(key);
  if (!plugin) {
    plugin = importVersion(spec);
    plugins.set(key, plugin);
    plugin.catch(() => plugins.delete(key));
  }
  return plugin;
}

async function importVersion(spec: ObserverTaskSpec): Promise<ResourcePlugin> {
  if (!spec.pluginBuiltin) {
    // Node imports whatever the file holds now under the version's URL. If it changed
    // since the main thread loaded it (an edit not reloaded yet, or a broken edit whose
    // last good version the agent keeps), import the loaded version's source instead.
    let now: string | undefined;
    try {
      now = pluginVersion(spec.pluginFile);
    } catch {
      now = undefined; // deleted or unreadable: the source below still works
    }
    if (now !== spec.pluginVersion) {
      if (spec.pluginSource === undefined || sourceVersion(spec.pluginSource) !== spec.pluginVersion) {
        throw new PluginLoadError(
          spec.pluginFile,
          `changed on disk since the agent loaded it (version ${spec.pluginVersion}, now ${now ?? "unreadable"}); reload (SIGHUP) to use the new version`,
        );
      }
      return loadPluginSource(spec.pluginFile, spec.pluginSource).catch((error: unknown) => {
        const reason = error instanceof PluginLoadError ? error.reason : String(error);
        throw new PluginLoadError(
          spec.pluginFile,
          `changed on disk since the agent loaded it, and its loaded version cannot be imported from memory (${reason}); plugins that import other files need the file itself: fix it and reload (SIGHUP)`,
        );
      });
    }
  }
  return loadPluginFile(spec.pluginFile, { version: spec.pluginVersion, builtin: spec.pluginBuiltin });
}

export default async function runObserverTask({ port, spec }: { port: MessagePort; spec: ObserverTaskSpec }): Promise<ObserverStatus> {
  const post = (message: FromWorker): void => port.postMessage(message);
  const acks = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let nextBatch = 0;
  let observer: Observer | undefined;
  let stopRequested: ToWorker | undefined;

  const clusterKey = JSON.stringify(spec.cluster);
  let ports = authPorts.get(clusterKey);
  if (!ports) {
    ports = new Set();
    authPorts.set(clusterKey, ports);
  }
  ports.add(port);

  port.on("message", (message: ToWorker) => {
    if (message.type === "auth") {
      const pending = pendingAuth.get(message.id);
      pendingAuth.delete(message.id);
      if (message.options) pending?.resolve(message.options);
      else pending?.reject(new Error(message.error ?? "no credentials"));
    } else if (message.type === "ack") {
      acks.get(message.batch)?.resolve();
      acks.delete(message.batch);
    } else if (message.type === "nack") {
      acks.get(message.batch)?.reject(new Error(message.error));
      acks.delete(message.batch);
    } else if (message.type === "stop") {
      stopRequested = message;
      observer?.stop(message.reason);
      // Nobody will acknowledge after a shutdown stop's drain times out; see below.
    }
  });

  try {
    const plugin = await pluginFor(spec);
    if (plugin.name !== spec.pluginName) {
      // Edited between the check and the import: never observe under another name.
      throw new PluginLoadError(spec.pluginFile, `now declares "${plugin.name}", not "${spec.pluginName}"; reload (SIGHUP) to use the new version`);
    }
    const exclude = spec.exclude ?? [];
    const client = clientFor(spec).forResource(plugin.resource, spec.namespace, { fieldSelector: excludeSelector(exclude) });
    observer = new Observer(
      { cluster: spec.cluster.name, namespace: spec.namespace },
      plugin,
      client,
      {
        send: (messages) =>
          new Promise<void>((resolve, reject) => {
            const batch = nextBatch++;
            acks.set(batch, { resolve, reject });
            post({ type: "batch", batch, messages });
          }),
        status: (status) => post({ type: "status", status }),
        skipped: (object) => post({ type: "skipped", object }),
      },
      { config: spec.config, once: spec.once, exclude, sweepExcept: spec.sweepExcept ?? [], listGate: listGateFor(spec), pluginFile: spec.pluginFile },
    );
    if (stopRequested?.type === "stop") observer.stop(stopRequested.reason);
    return await observer.run();
  } finally {
    // The task's result travels on Piscina's channel, which may overtake this port's
    // messages; "end" tells the main thread when it may close its side.
    retireAuthPort(clusterKey, port);
    post({ type: "end" });
    port.close();
  }
}

/** Field selectors beyond this many namespaces make long URLs for little gain: the
 *  client-side filter alone does it then. */
const MAX_SELECTOR_EXCLUDES = 20;

/** `metadata.namespace!=a,metadata.namespace!=b`: the server leaves excluded namespaces
 *  out of a cluster-wide list and watch (every resource supports this field). */
export function excludeSelector(exclude: readonly string[]): string | undefined {
  if (exclude.length === 0 || exclude.length > MAX_SELECTOR_EXCLUDES) return undefined;
  return exclude.map((ns) => `metadata.namespace!=${ns}`).join(",");
}
