// A complete paged LIST of one scope, made directly with the agent's Kubernetes client
// (not through observers, WAL or dispatcher: verify must be independent of them).
// Passing trouble (an expired continue token, 429, 5xx, a dropped connection) is retried
// from the first page; forbidden, unauthorized and not-served are not: they will not
// clear within a verify run, and the report names the scope instead.
import type { KubeHttpClient } from "../kube/client.js";
import { ApiError, type ApiErrorKind } from "../kube/errors.js";
import { retryAfterFloorMs, timerDelay } from "../observer/backoff.js";
import type { KubeObject } from "../messages.js";
import type { LoadedPlugin } from "../plugin/registry.js";
import { observerKey } from "../supervisor/desired.js";

export interface ScopeRef {
  cluster: string;
  namespace: string | null;
  resource: string;
}

/** A scope that could not be listed. */
export class ScopeListError extends Error {
  constructor(
    readonly scope: ScopeRef,
    readonly kind: ApiErrorKind,
    readonly reason: string,
  ) {
    super(`cannot list ${describeScope(scope)}: ${kind === "not-found" ? "not served by the apiserver" : kind}: ${reason}`);
    this.name = "ScopeListError";
  }

  /** "cluster/namespace/resource", as the supervisor keys the same observer. */
  get key(): string {
    return observerKey(this.scope.cluster, this.scope.namespace, this.scope.resource);
  }
}

export function describeScope(scope: ScopeRef): string {
  return scope.namespace === null
    ? `${scope.resource} (all of them) in cluster "${scope.cluster}"`
    : `${scope.resource} in namespace "${scope.namespace}" of cluster "${scope.cluster}"`;
}

const FINAL: ReadonlySet<ApiErrorKind> = new Set(["forbidden", "unauthorized", "not-found"]);
const ATTEMPTS = 3;
/** verify is a one-off: a server asking for longer than this is asked again after it. */
const MAX_RETRY_DELAY_MS = 10_000;

/** Every object of the scope. Throws ScopeListError. */
export async function listAll(
  client: KubeHttpClient,
  scope: { cluster: string; namespace: string | null; plugin: LoadedPlugin },
  pageSize: number,
): Promise<KubeObject[]> {
  const ref: ScopeRef = { cluster: scope.cluster, namespace: scope.namespace, resource: scope.plugin.plugin.name };
  const lw = client.forResource(scope.plugin.plugin.resource, scope.namespace);
  for (let attempt = 1; ; attempt += 1) {
    try {
      const items: KubeObject[] = [];
      let continueToken: string | undefined;
      do {
        const page = await lw.list({ limit: pageSize, ...(continueToken ? { continueToken } : {}) });
        items.push(...page.items);
        continueToken = page.continueToken;
      } while (continueToken);
      return items;
    } catch (error) {
      const kind: ApiErrorKind = error instanceof ApiError ? error.kind : "other";
      const reason = error instanceof Error ? error.message : String(error);
      if (FINAL.has(kind) || attempt >= ATTEMPTS) throw new ScopeListError(ref, kind, reason.trim());
      const asked = retryAfterFloorMs(error instanceof ApiError ? error.retryAfterSeconds : undefined, MAX_RETRY_DELAY_MS);
      await new Promise((r) => setTimeout(r, timerDelay(Math.max(asked, 1000 * attempt), MAX_RETRY_DELAY_MS)));
    }
  }
}
