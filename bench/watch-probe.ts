// A raw cluster-wide WATCH per resource in the bench process (core/kube/client.ts, the
// agent's transport), reporting when each event arrives: the floor of change latency —
// how long the apiserver takes to deliver a change to any watcher — against which the
// agent's own latency can be read. Events are fed to a CommitTracker in the same
// "resource|namespace|name|A or D|resourceVersion" form the agent host sends.
import { KubeHttpClient, type WatchStream } from "../core/kube/client.js";
import { ApiError } from "../core/kube/errors.js";
import { loadKubeConfig } from "../core/kube/kubeconfig.js";
import type { ApiResource } from "../core/plugin/types.js";

export class WatchProbe {
  private readonly client: KubeHttpClient;
  private running = true;
  private readonly streams = new Set<WatchStream>();
  private readonly loops: Promise<void>[] = [];
  events = 0;

  constructor(
    kubeconfig: string,
    private readonly resources: ReadonlyMap<string, ApiResource>,
    private readonly namespaces: ReadonlySet<string>,
    private readonly onEvents: (at: number, items: string[]) => void,
  ) {
    this.client = new KubeHttpClient(loadKubeConfig({ name: "bench-probe", kubeconfig, context: null, inCluster: false }), {
      connectTimeoutMs: 10_000,
      listTimeoutMs: 60_000,
      userAgent: "kube-observer-bench/watch-probe",
    });
  }

  /** Resolves once every watch is open. */
  async start(): Promise<void> {
    const opened: Promise<void>[] = [];
    for (const [name, resource] of this.resources) {
      let markOpen!: () => void;
      opened.push(new Promise<void>((r) => (markOpen = r)));
      this.loops.push(this.follow(name, resource, markOpen));
    }
    await Promise.all(opened);
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const s of this.streams) s.close();
    await Promise.all(this.loops);
    this.client.close();
  }

  private async follow(name: string, resource: ApiResource, markOpen: () => void): Promise<void> {
    const lw = this.client.forResource(resource, null);
    let rv = "";
    while (this.running) {
      try {
        if (!rv) rv = (await lw.list({ limit: 1 })).resourceVersion;
        const stream = await lw.watch({ resourceVersion: rv, timeoutSeconds: 600, inactivityTimeoutMs: 660_000 });
        this.streams.add(stream);
        markOpen();
        try {
          for (;;) {
            const event = await stream.next();
            if (!event) break;
            if (event.type === "OVERSIZED") continue;
            const at = Date.now();
            const m = event.object.metadata;
            if (event.type === "ERROR") {
              rv = "";
              break;
            }
            if (m?.resourceVersion) rv = m.resourceVersion;
            if (event.type === "BOOKMARK" || !m?.namespace || !this.namespaces.has(m.namespace)) continue;
            this.events += 1;
            this.onEvents(at, [`${name}|${m.namespace}|${m.name}|${event.type === "DELETED" ? "D" : "A"}|${m.resourceVersion}`]);
          }
        } finally {
          this.streams.delete(stream);
          stream.close();
        }
      } catch (error) {
        if (!this.running) break;
        if (error instanceof ApiError && (error.kind === "expired" || error.kind === "too-large-rv")) rv = "";
        markOpen();
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
