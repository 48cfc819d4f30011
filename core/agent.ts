// The agent: plugins, the observer thread pool and one supervisor per cluster, built from
// a Config and re-shaped in place when the config changes.
import type { Config } from "./config/model.js";
import type { Logger } from "./log/logger.js";
import { ObserverPool } from "./observer/pool.js";
import { loadPlugins, type PluginSet } from "./plugin/registry.js";
import { ClusterSupervisor, type MessageSink, type OnceResult } from "./supervisor/cluster-supervisor.js";

export interface AgentOptions {
  sink: MessageSink;
  log: Logger;
  once: boolean;
}

export class Agent {
  private pool: ObserverPool | undefined;
  private readonly supervisors = new Map<string, ClusterSupervisor>();
  private plugins: PluginSet | undefined;
  private stopped = false;

  constructor(
    private config: Config,
    private readonly options: AgentOptions,
  ) {}

  /** Loads the plugins (before start, e.g. for the graph pipeline); start() reuses them. */
  async loadInitialPlugins(): Promise<PluginSet> {
    this.plugins ??= await this.loadPlugins(this.config);
    return this.plugins;
  }

  async start(): Promise<void> {
    this.plugins = await this.loadInitialPlugins();
    this.pool = new ObserverPool(this.config.observer.threads);
    this.options.log.info({ threads: this.pool.threadCount, plugins: [...this.plugins.plugins.keys()] }, "observer pool started");
    await Promise.all(this.config.clusters.map((cluster) => this.startCluster(cluster.name)));
  }

  /** Applies a new, already validated config: only what changed is started or stopped. */
  async reload(config: Config): Promise<void> {
    const plugins = await this.loadPlugins(config);
    this.config = config;
    this.plugins = plugins;
    this.onPluginsChanged(plugins);
    const wanted = new Set(config.clusters.map((c) => c.name));
    for (const [name, supervisor] of this.supervisors) {
      if (!wanted.has(name)) {
        this.options.log.info({ cluster: name }, "cluster removed from the config: stopping its observers");
        this.supervisors.delete(name);
        await supervisor.stop();
      }
    }
    for (const cluster of config.clusters) {
      const supervisor = this.supervisors.get(cluster.name);
      if (supervisor) supervisor.update(cluster, config, plugins.plugins);
      else await this.startCluster(cluster.name);
    }
  }

  /** once mode: waits until every scope has been listed and delivered. */
  async finished(): Promise<OnceResult> {
    const results = await Promise.all([...this.supervisors.values()].map((s) => s.finished()));
    return {
      delivered: results.reduce((n, r) => n + r.delivered, 0),
      failed: results.flatMap((r) => r.failed),
    };
  }

  /** Progress of the initial sync over every cluster. */
  syncProgress(): { scopes: number; synced: number; objects: number } {
    const total = { scopes: 0, synced: 0, objects: 0 };
    for (const s of this.supervisors.values()) {
      const p = s.syncProgress();
      total.scopes += p.scopes;
      total.synced += p.synced;
      total.objects += p.objects;
    }
    return total;
  }

  /** Resolves once every observer has delivered its first complete list; undefined
   *  if the agent stops first. */
  async initialSync(pollMs = 200): Promise<{ scopes: number; synced: number; objects: number } | undefined> {
    while (!this.stopped) {
      const p = this.syncProgress();
      if (p.scopes > 0 && p.synced >= p.scopes) return p;
      await new Promise((r) => setTimeout(r, pollMs).unref());
    }
    return undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.supervisors.values()].map((s) => s.stop()));
    this.supervisors.clear();
    await this.pool?.close();
  }

  /** The plugins in use (loaded at start and on every reload). */
  get pluginSet(): PluginSet | undefined {
    return this.plugins;
  }

  /** Called with the new plugin set after a reload. */
  onPluginsChanged: (plugins: PluginSet) => void = () => undefined;

  get observerPool(): ObserverPool | undefined {
    return this.pool;
  }

  supervisor(cluster: string): ClusterSupervisor | undefined {
    return this.supervisors.get(cluster);
  }

  private async startCluster(name: string): Promise<void> {
    const cluster = this.config.clusters.find((c) => c.name === name);
    if (!cluster || !this.pool || !this.plugins) return;
    const supervisor = new ClusterSupervisor(cluster, this.config, this.plugins.plugins, {
      pool: this.pool,
      sink: this.options.sink,
      log: this.options.log,
      once: this.options.once,
    });
    this.supervisors.set(name, supervisor);
    try {
      await supervisor.start();
    } catch (error) {
      // A cluster that cannot be reached (bad kubeconfig) must not stop the others.
      this.options.log.error({ cluster: name, err: (error as Error).message }, "cluster could not be started");
    }
  }

  private async loadPlugins(config: Config): Promise<PluginSet> {
    const set = await loadPlugins(config.pluginDirs);
    for (const error of set.errors) this.options.log.error({ file: error.file, reason: error.reason }, "plugin not loaded");
    return set;
  }
}
