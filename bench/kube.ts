// A small HTTPS client for the bench's own writes (creating the tier, the churn load):
// one keep-alive agent, bearer token and CA from .dev-env/env.json, JSON in and out.
// Lighter than @kubernetes/client-node, so that the load generator costs the 2-core
// machine as little CPU as possible. The agent's reads go through core/kube/client.ts.
import { Agent, request } from "node:https";
import { readFileSync } from "node:fs";
import type { KubeMetadata } from "../core/messages.js";
import type { DevEnvState } from "../scripts/devenv/env.js";

export interface KubeResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
  ) {
    super(`${method} ${path}: HTTP ${status} ${reason}`);
    this.name = "KubeApiError";
  }
}

/** Object metadata as the agent reads it. */
export type ObjectMeta = KubeMetadata;

export interface KubeObjectBody {
  metadata?: ObjectMeta;
  status?: { phase?: string };
  items?: KubeObjectBody[];
  [field: string]: unknown;
}

export class KubeWriter {
  private readonly agent: Agent;
  private readonly url: URL;
  private readonly token: string;

  constructor(state: DevEnvState, maxSockets = 256) {
    this.url = new URL(state.apiserverUrl);
    this.token = state.adminToken;
    this.agent = new Agent({ keepAlive: true, maxSockets, ca: readFileSync(state.caFile) });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request; non-2xx statuses are returned, not thrown (callers decide). */
  send<T = KubeObjectBody>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<KubeResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          hostname: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: "application/json",
            "user-agent": "kube-observer-bench",
            ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = {};
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              parsed = { message: text.slice(0, 200) };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Like send, but retries 429/5xx/network errors a few times and throws on failure.
   *  `ok` lists extra statuses that count as success (409 for create-if-missing). */
  async must<T = KubeObjectBody>(
    method: string,
    path: string,
    body?: unknown,
    options: { ok?: number[]; contentType?: string } = {},
  ): Promise<KubeResponse<T>> {
    let attempt = 0;
    for (;;) {
      attempt += 1;
      try {
        const res = await this.send<T>(method, path, body, options.contentType);
        if ((res.status >= 200 && res.status < 300) || options.ok?.includes(res.status)) return res;
        const retryable = res.status === 429 || res.status >= 500;
        if (!retryable || attempt >= 6) {
          const reason = (res.body as { message?: string }).message ?? "";
          throw new KubeApiError(method, path, res.status, reason);
        }
      } catch (error) {
        if (error instanceof KubeApiError || attempt >= 6) throw error;
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }

  /** Every item of a (paged) LIST. */
  async listAll(path: string, query: Record<string, string> = {}): Promise<KubeObjectBody[]> {
    const items: KubeObjectBody[] = [];
    let continueToken: string | undefined;
    do {
      const q = new URLSearchParams({ limit: "500", ...query });
      if (continueToken) q.set("continue", continueToken);
      const res = await this.must<{ items?: KubeObjectBody[]; metadata?: { continue?: string } }>("GET", `${path}?${q}`);
      items.push(...(res.body.items ?? []));
      continueToken = res.body.metadata?.continue || undefined;
    } while (continueToken);
    return items;
  }
}

/** Runs fn over items with at most `concurrency` in flight. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length && failure === undefined) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        failure ??= error;
      }
    }
  });
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
}

export const nsPath = (ns: string, plural: string, group = ""): string =>
  group === "" ? `/api/v1/namespaces/${ns}/${plural}` : `/apis/${group}/namespaces/${ns}/${plural}`;
