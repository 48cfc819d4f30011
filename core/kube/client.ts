// Raw paged LIST and WATCH against the API server over node:https. Authentication comes
// from a RequestAuth (client-node's KubeConfig on the main thread: tokens, client certs,
// exec plugins; observer threads ask the main thread); the requests themselves are ours so that the reflector controls pagination,
// bookmarks, timeouts and backpressure.
import { request as httpRequest, type IncomingMessage, Agent as HttpAgent } from "node:http";
import { request as httpsRequest, Agent as HttpsAgent } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeConfigAuth, tlsValue, type RequestAuth } from "./auth.js";
import type { KubeObject } from "../messages.js";
import type { ApiResource } from "../plugin/types.js";
import { ApiError, classifyStatus, type KubeStatus } from "./errors.js";

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken: string | undefined;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject & KubeStatus;
}

/** Events of one watch request; next() resolves null when the server ends it normally. */
export interface WatchStream {
  next(): Promise<WatchEvent | null>;
  close(): void;
}

export interface ListOptions {
  limit: number;
  continueToken?: string;
}

export interface WatchOptions {
  resourceVersion: string;
  timeoutSeconds: number;
  /** No byte from the server for this long means the stream is stalled (half-open TCP). */
  inactivityTimeoutMs: number;
}

/** LIST and WATCH of one resource in one scope. */
export interface ListWatchClient {
  list(options: ListOptions): Promise<ListPage>;
  watch(options: WatchOptions): Promise<WatchStream>;
}

export interface ClientOptions {
  connectTimeoutMs: number;
  /** Upper bound on a whole LIST page request. */
  listTimeoutMs: number;
  userAgent: string;
}

/** Unconsumed events above this pause the socket (TCP backpressure to the server). */
const WATCH_HIGH_WATER = 1000;
const WATCH_LOW_WATER = 100;

export function resourcePath(resource: ApiResource, namespace: string | null): string {
  const base = resource.group === "" ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const scope = resource.namespaced && namespace !== null ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${scope}/${resource.plural}`;
}

export class KubeHttpClient {
  private agent: HttpsAgent | HttpAgent | undefined;
  private readonly auth: RequestAuth;

  constructor(
    source: KubeConfig | RequestAuth,
    private readonly options: ClientOptions,
  ) {
    this.auth = "applyToHTTPSOptions" in source ? kubeConfigAuth(source) : source;
  }

  /** `fieldSelector` narrows both LIST and WATCH on the server (e.g. leaving excluded
   *  namespaces out of a cluster-wide watch). */
  forResource(resource: ApiResource, namespace: string | null, selection: { fieldSelector?: string } = {}): ListWatchClient {
    const path = resourcePath(resource, namespace);
    const fieldSelector = selection.fieldSelector || undefined;
    return {
      list: (options) => this.list(path, options, fieldSelector),
      watch: (options) => this.watch(path, options, fieldSelector),
    };
  }

  close(): void {
    this.agent?.destroy();
  }

  async list(path: string, options: ListOptions, fieldSelector?: string): Promise<ListPage> {
    const query = new URLSearchParams({ limit: String(options.limit) });
    if (options.continueToken) query.set("continue", options.continueToken);
    if (fieldSelector) query.set("fieldSelector", fieldSelector);
    const res = await this.send(`${path}?${query}`, this.options.listTimeoutMs);
    const body = await readBody(res, this.options.listTimeoutMs);
    let parsed: { items?: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch (error) {
      throw new ApiError("server", `LIST ${path}: response is not JSON (${(error as Error).message})`, res.statusCode);
    }
    return {
      items: parsed.items ?? [],
      resourceVersion: parsed.metadata?.resourceVersion ?? "",
      continueToken: parsed.metadata?.continue || undefined,
    };
  }

  async watch(path: string, options: WatchOptions, fieldSelector?: string): Promise<WatchStream> {
    const query = new URLSearchParams({
      watch: "1",
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(options.timeoutSeconds),
    });
    if (fieldSelector) query.set("fieldSelector", fieldSelector);
    // The server answers a watch at once, except "too large resource version" (it
    // waits up to 3 s first); the inactivity timer covers the stream after that.
    const res = await this.send(`${path}?${query}`, this.options.connectTimeoutMs + 5_000);
    return new NdjsonWatchStream(res, options.inactivityTimeoutMs);
  }

  /** Sends a GET and resolves with a 2xx response; anything else becomes an ApiError. */
  private async send(pathAndQuery: string, responseTimeoutMs: number): Promise<IncomingMessage> {
    let options;
    try {
      options = await this.auth.options();
    } catch (error) {
      throw new ApiError("unauthorized", `GET ${pathAndQuery}: no credentials: ${(error as Error).message}`);
    }
    const server = new URL(options.server);
    const secure = server.protocol === "https:";
    this.agent ??= secure
      ? new HttpsAgent({
          keepAlive: true,
          ca: tlsValue(options.ca),
          cert: tlsValue(options.cert),
          key: tlsValue(options.key),
          pfx: tlsValue(options.pfx),
          passphrase: options.passphrase,
          rejectUnauthorized: options.rejectUnauthorized,
          servername: options.servername,
        })
      : new HttpAgent({ keepAlive: true });
    const basePath = server.pathname.replace(/\/$/, "");
    const headers = {
      ...options.headers,
      accept: "application/json",
      "user-agent": this.options.userAgent,
    };
    const make = secure ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolveResponse, reject) => {
      const req = make({
        protocol: server.protocol,
        hostname: server.hostname,
        port: server.port || (secure ? 443 : 80),
        path: `${basePath}${pathAndQuery}`,
        method: "GET",
        headers,
        agent: this.agent,
        auth: options.auth,
      });
      const timer = setTimeout(() => {
        req.destroy(new ApiError("network", `no response to GET ${pathAndQuery} within ${responseTimeoutMs} ms`));
      }, responseTimeoutMs);
      req.on("error", (error) => {
        clearTimeout(timer);
        reject(error instanceof ApiError ? error : new ApiError("network", `GET ${pathAndQuery}: ${error.message}`));
      });
      req.on("response", (res) => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolveResponse(res);
          return;
        }
        readBody(res, 10_000).then(
          (body) => {
            let parsed: KubeStatus | undefined;
            try {
              parsed = JSON.parse(body.toString("utf8")) as KubeStatus;
            } catch {
              parsed = { message: `HTTP ${status}: ${body.toString("utf8").slice(0, 200)}` };
            }
            reject(classifyStatus(status, parsed, res.headers["retry-after"] as string | undefined));
          },
          (error: Error) => reject(new ApiError("network", `GET ${pathAndQuery}: HTTP ${status}, body unreadable: ${error.message}`, status)),
        );
      });
      req.end();
    });
  }
}

function readBody(res: IncomingMessage, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => res.destroy(new ApiError("network", `response body not complete within ${timeoutMs} ms`)), timeoutMs);
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.on("end", () => {
      clearTimeout(timer);
      resolveBody(Buffer.concat(chunks));
    });
    res.on("error", (error) => {
      clearTimeout(timer);
      reject(error instanceof ApiError ? error : new ApiError("network", error.message));
    });
    res.on("aborted", () => {
      clearTimeout(timer);
      reject(new ApiError("network", "connection closed before the response was complete"));
    });
  });
}

/** Newline-delimited JSON watch events, with an inactivity timer and backpressure. */
class NdjsonWatchStream implements WatchStream {
  private readonly queue: WatchEvent[] = [];
  private pending: Buffer[] = [];
  private waiter: { resolve: (e: WatchEvent | null) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private inactivity: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: IncomingMessage,
    private readonly inactivityTimeoutMs: number,
  ) {
    this.armInactivity();
    res.on("data", (chunk: Buffer) => this.onData(chunk));
    res.on("end", () => this.finish());
    res.on("error", (error) => this.fail(error instanceof ApiError ? error : new ApiError("network", `watch stream: ${error.message}`)));
    res.on("aborted", () => this.fail(new ApiError("network", "watch connection closed mid-stream")));
    res.on("close", () => {
      if (!this.ended && !this.failure) this.fail(new ApiError("network", "watch connection closed"));
    });
  }

  next(): Promise<WatchEvent | null> {
    const event = this.queue.shift();
    if (event) {
      if (this.paused && this.queue.length <= WATCH_LOW_WATER) {
        this.paused = false;
        this.armInactivity();
        this.res.resume();
      }
      return Promise.resolve(event);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  close(): void {
    clearTimeout(this.inactivity);
    this.ended = true;
    this.res.destroy();
    this.settle();
  }

  private armInactivity(): void {
    clearTimeout(this.inactivity);
    this.inactivity = setTimeout(() => {
      this.fail(new ApiError("stalled", `watch sent nothing for ${Math.round(this.inactivityTimeoutMs / 1000)} s`));
      this.res.destroy();
    }, this.inactivityTimeoutMs);
  }

  private onData(chunk: Buffer): void {
    if (this.failure || this.ended) return;
    this.armInactivity();
    let start = 0;
    let newline = chunk.indexOf(10);
    // Once a line fails, nothing after it may be handed out (its RV would skip the lost one).
    while (newline !== -1 && !this.failure) {
      const line = this.pending.length ? Buffer.concat([...this.pending, chunk.subarray(start, newline)]) : chunk.subarray(start, newline);
      this.pending = [];
      if (line.length > 0) this.onLine(line);
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  private onLine(line: Buffer): void {
    if (this.failure || this.ended) return;
    let event: WatchEvent;
    try {
      event = JSON.parse(line.toString("utf8")) as WatchEvent;
    } catch (error) {
      this.fail(new ApiError("server", `watch sent a line that is not JSON: ${(error as Error).message}`));
      this.res.destroy();
      return;
    }
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(event);
      return;
    }
    this.queue.push(event);
    if (!this.paused && this.queue.length >= WATCH_HIGH_WATER) {
      this.paused = true;
      this.res.pause();
      // Silence while we are not reading is ours, not the server's.
      clearTimeout(this.inactivity);
    }
  }

  private finish(): void {
    clearTimeout(this.inactivity);
    // A last line without its newline still counts.
    if (this.pending.length) {
      const line = Buffer.concat(this.pending);
      this.pending = [];
      if (line.length > 0) this.onLine(line);
    }
    this.ended = true;
    this.settle();
  }

  private fail(error: Error): void {
    clearTimeout(this.inactivity);
    if (this.ended || this.failure) return;
    this.failure = error;
    this.settle();
  }

  private settle(): void {
    if (!this.waiter || this.queue.length) return;
    const { resolve, reject } = this.waiter;
    this.waiter = undefined;
    if (this.failure) reject(this.failure);
    else resolve(null);
  }
}
