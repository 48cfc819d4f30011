// The agent: plugins, the observer thread pool and one supervisor per cluster, built from
// a Config and re-shaped in place when the config changes.
import type { Config } from "./config/model.js";
import type { Logger } from "./log/logger.js";
import { ObserverPool } from "./observer/pool.js";
import { loadErrorFor, loadPlugins, type PluginSet } from "./plugin/registry.js";
import { ClusterSupervisor, type MessageSink, type OnceResult, type SupervisorContext } from "./supervisor/cluster-supervisor.js";
import type { ObserverPhase } from "./observer/observer.js";
import type { ObservedScope } from "./supervisor/coverage.js";

export interface AgentOptions {
  sink: MessageSink;
  log: Logger;
  once: boolean;
  /** The plugins the config was validated against (loadAgentConfig); loaded otherwise. */
  plugins?: PluginSet;
  /** Every status an observer reports (metrics). */
  onObserverStatus?: SupervisorContext["onObserverStatus"];
  onObjectSkipped?: SupervisorContext["onObjectSkipped"];
  /** The new plugin set after a reload (the graph pipeline translates with it). */
  onPluginsChanged?: (plugins: PluginSet, config: Config) => void;
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
    if (!this.plugins) {
      this.plugins = this.options.plugins ?? (await loadPlugins(this.config.pluginDirs));
      this.reportPlugins(this.plugins, this.config);
    }
    return this.plugins;
  }

  async start(): Promise<void> {
    this.plugins = await this.loadInitialPlugins();
    this.pool = new ObserverPool(this.config.observer.threads);
    this.options.log.info({ threads: this.pool.threadCount, plugins: [...this.plugins.plugins.keys()] }, "observer pool started");
    await Promise.all(this.config.clusters.map((cluster) => this.startCluster(cluster.name)));
  }

  /**
   * Applies a new, already validated config: only what changed is started or stopped.
   * The plugin directories are loaded again (or `plugins`, loaded by the caller with
   * this set as `previous`, is used): a new or fixed plugin the actors name starts being
   * observed, a changed one restarts its observers, and one that broke keeps running its
   * last good version.
   */
  async reload(config: Config, plugins?: PluginSet): Promise<void> {
    if (plugins) this.reportPlugins(plugins, config);
    else plugins = await this.loadPlugins(config);
    this.config = config;
    this.plugins = plugins;
    this.options.onPluginsChanged?.(plugins, config);
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

  /** once mode: waits until every scope has been listed and delivered. An actor whose
   *  plugin did not load counts as a scope not delivered. */
  async finished(): Promise<OnceResult> {
    const results = await Promise.all([...this.supervisors.values()].map((s) => s.finished()));
    const unloaded: OnceResult["failed"] = [];
    for (const actor of this.config.actors) {
      if (!this.plugins || this.plugins.plugins.has(actor.resource)) continue;
      const error = loadErrorFor(this.plugins, actor.resource);
      unloaded.push({
        key: `${actor.cluster}/${actor.namespace === "*" ? "*" : actor.namespace}/${actor.resource}`,
        reason: error ? error.message : `no loaded plugin named "${actor.resource}"`,
      });
    }
    return {
      delivered: results.reduce((n, r) => n + r.delivered, 0),
      failed: [...results.flatMap((r) => r.failed), ...unloaded],
    };
  }

  /** The scopes the observers keep current, over every cluster; undefined until every
   *  cluster's observers have listed (a cluster that cannot be reached holds it back, so
   *  its nodes are never taken for vanished). */
  observedScopes(): { clusters: string[]; scopes: ObservedScope[] } | undefined {
    const scopes: ObservedScope[] = [];
    for (const s of this.supervisors.values()) {
      const coverage = s.coverage();
      if (!coverage.synced) return undefined;
      scopes.push(...coverage.scopes);
    }
    return { clusters: this.config.clusters.map((c) => c.name), scopes };
  }

  /** What keeps the agent from being ready beyond the initial sync (e.g. namespace
   *  discovery forbidden), one line per problem, for /readyz. */
  readinessProblems(): string[] {
    return [...this.supervisors.values()].flatMap((s) => s.readinessProblems());
  }

  /** Every observer starts over with a LIST (what it delivered was lost: a damaged WAL or
   *  graph file was replaced). Not in once mode: that run is reported incomplete instead. */
  relistAll(reason: string): void {
    if (this.stopped || this.options.once) return;
    this.options.log.warn({ reason }, "every observer relists");
    for (const supervisor of this.supervisors.values()) supervisor.restartObservers(reason);
  }

  /** The scopes being watched now, over every cluster (the history's coverage). */
  watchingScopes(): string[] {
    return [...this.supervisors.values()].flatMap((s) => s.watchingScopes());
  }

  /** Observers per phase over every cluster. */
  phaseCounts(): Partial<Record<ObserverPhase, number>> {
    const total: Partial<Record<ObserverPhase, number>> = {};
    for (const s of this.supervisors.values()) {
      for (const [phase, n] of Object.entries(s.phaseCounts()) as Array<[ObserverPhase, number]>) total[phase] = (total[phase] ?? 0) + n;
    }
    return total;
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

  /** Resolves once every observer has delivered its first complete list (and namespace
   *  discovery, where needed, has listed: until then the set of observers is not known);
   *  undefined if the agent stops first. */
  async initialSync(pollMs = 200): Promise<{ scopes: number; synced: number; objects: number } | undefined> {
    while (!this.stopped) {
      const p = this.syncProgress();
      const discovering = [...this.supervisors.values()].some((s) => s.discoveryPending);
      if (p.scopes > 0 && p.synced >= p.scopes && !discovering) return p;
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
      onObserverStatus: this.options.onObserverStatus,
      onObjectSkipped: this.options.onObjectSkipped,
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
    const set = await loadPlugins(config.pluginDirs, this.plugins ? { previous: this.plugins } : {});
    this.reportPlugins(set, config);
    return set;
  }

  /** Every plugin that failed to load, with its file and reason; and every actor that is
   *  not observed because of it. */
  private reportPlugins(set: PluginSet, config: Config): void {
    const log = this.options.log;
    for (const error of set.errors) {
      const kept = [...set.plugins.values()].find((p) => p.stale === error);
      if (kept) {
        log.error(
          { file: error.file, reason: error.reason, plugin: kept.plugin.name, version: kept.version },
          "plugin not reloaded: %s; its last good version keeps running until the file is fixed",
          error.message,
        );
      } else {
        log.error(
          { file: error.file, reason: error.reason, ...(error.pluginName ? { plugin: error.pluginName } : {}) },
          "plugin not loaded: %s",
          error.message,
        );
      }
    }
    const reported = new Set<string>();
    for (const actor of config.actors) {
      if (set.plugins.has(actor.resource) || reported.has(actor.resource)) continue;
      reported.add(actor.resource);
      const error = loadErrorFor(set, actor.resource);
      log.error(
        { resource: actor.resource, cluster: actor.cluster, ...(error ? { file: error.file, reason: error.reason } : {}) },
        `actors naming resource "%s" are not observed: ${error ? "its plugin failed to load" : "no loaded plugin provides it"}; fix the plugin and reload (SIGHUP)`,
        actor.resource,
      );
    }
  }
}
