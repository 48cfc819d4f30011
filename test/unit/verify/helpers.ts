// Fakes for verify's unit tests: a config, plugins, and a Kubernetes client that serves
// objects from memory (paged) or fails a chosen scope.
import type { ActorConfig, Config } from "../../../core/config/model.js";
import type { KubeHttpClient, ListPage, ListWatchClient } from "../../../core/kube/client.js";
import { resourcePath } from "../../../core/kube/client.js";
import type { KubeObject } from "../../../core/messages.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import type { ApiResource, ResourcePlugin } from "../../../core/plugin/types.js";
import configmap from "../../../plugins/configmap.js";
import namespace from "../../../plugins/namespace.js";
import pod from "../../../plugins/pod.js";

export function loaded(plugin: ResourcePlugin): LoadedPlugin {
  return { plugin, file: `/plugins/${plugin.name}.js`, builtin: true, version: "test" };
}

export const plugins: ReadonlyMap<string, LoadedPlugin> = new Map([configmap, namespace, pod].map((p) => [p.name, loaded(p as ResourcePlugin)]));

export function actor(resource: string, ns = "*", extra: Partial<ActorConfig> = {}): ActorConfig {
  return { cluster: "c1", namespace: ns, role: "observer", resource, exclude: [], topology: "auto", ...extra };
}

export function testConfig(actors: ActorConfig[], clusters = ["c1"]): Config {
  return {
    clusters: clusters.map((name) => ({ name, kubeconfig: null, context: null, inCluster: false })),
    actors,
    observer: { pageSize: 2, connectTimeoutSeconds: 5, withheldAnnotations: ["*last-applied*"], maxAnnotationBytes: 4096 },
    log: { level: "info" },
  } as unknown as Config;
}

export function configMap(ns: string, name: string, data: Record<string, string> = {}, rv = "1"): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, resourceVersion: rv }, data };
}

export function namespaceObject(name: string): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, uid: `uid-${name}`, resourceVersion: "1" } };
}

/** Serves `objects[path]` in pages of `limit`; `fail[path]` is thrown instead. Counts LISTs per path. */
export class FakeKube {
  readonly lists = new Map<string, number>();
  constructor(
    public objects: Record<string, KubeObject[]>,
    public fail: Record<string, Error> = {},
  ) {}

  client(): KubeHttpClient {
    const fake = {
      forResource: (resource: ApiResource, ns: string | null): ListWatchClient => {
        const path = resourcePath(resource, ns);
        return {
          list: async ({ limit, continueToken }): Promise<ListPage> => {
            this.lists.set(path, (this.lists.get(path) ?? 0) + 1);
            const failure = this.fail[path];
            if (failure) throw failure;
            const all = this.objects[path] ?? [];
            const start = continueToken ? Number(continueToken) : 0;
            const next = start + limit < all.length ? String(start + limit) : undefined;
            return { items: all.slice(start, start + limit), resourceVersion: "1", continueToken: next };
          },
          watch: () => Promise.reject(new Error("verify never watches")),
        };
      },
      close: () => undefined,
    };
    return fake as unknown as KubeHttpClient;
  }
}
