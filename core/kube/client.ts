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
import { itemsProblem, listEnvelopeProblem, watchEventProblem } from "./body-shape.js";
import { ListBodySplitter, NotAListError, OVERSIZE_PREFIX_BYTES, PageOverCapError } from "./list-splitter.js";
import { jsonErrorWithoutInput } from "./json-error.js";
import { ReachabilityProbe } from "./reachability.js";
import { identifyPrefix, type OversizedObject } from "./oversize.js";

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken: string | undefined;
  /** Objects over the object size cap: left out, identified as far as possible. */
  skipped: OversizedObject[];
  /** The limit the page was read with (smaller than asked when a page passed its cap). */
  limit: number;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
export type WatchEvent =
  | { type: WatchEventType; object: KubeObject & KubeStatus }
  /** An event line over the object size cap: dropped unread but for its identity. */
  | { type: "OVERSIZED"; oversized: OversizedObject };

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
  /** After a network error or a 5xx: true when the apiserver answers again after an
   *  outage, false when it was not down (see core/kube/reachability.ts). */
  whenBack?(): Promise<boolean>;
}

export interface ClientOptions {
  connectTimeoutMs: number;
  /** Upper bound on a whole LIST page request. */
  listTimeoutMs: number;
  userAgent: string;
  /** One object (a watch event line, or an item of a LIST page) over this is skipped
   *  (default DEFAULT_MAX_OBJECT_BYTES). */
  maxObjectBytes?: number;
  /** A LIST page whose objects pass this is read again with half the limit (default
   *  DEFAULT_MAX_LIST_PAGE_BYTES). */
  maxListPageBytes?: number;
}

/** Caps that leave every object an apiserver can store readable (etcd's default request
 *  limit is 1.5 MiB; its JSON can be larger, e.g. base64 of binary data). */
export const DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_LIST_PAGE_BYTES = 64 * 1024 * 1024;

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
  private readonly maxObjectBytes: number;
  private readonly maxListPageBytes: number;

  constructor(
    source: KubeConfig | RequestAuth,
    private readonly options: ClientOptions,
  ) {
    this.auth = "applyToHTTPSOptions" in source ? kubeConfigAuth(source) : source;
    this.maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    // A page must hold at least one object that passes the object cap.
    this.maxListPageBytes = Math.max(options.maxListPageBytes ?? DEFAULT_MAX_LIST_PAGE_BYTES, this.maxObjectBytes);
  }

  /** `fieldSelector` narrows both LIST and WATCH on the server (e.g. leaving excluded
   *  namespaces out of a cluster-wide watch). */
  forResource(resource: ApiResource, namespace: string | null, selection: { fieldSelector?: string } = {}): ListWatchClient {
    const path = resourcePath(resource, namespace);
    const fieldSelector = selection.fieldSelector || undefined;
    return {
      list: (options) => this.list(path, options, fieldSelector),
      watch: (options) => this.watch(path, options, fieldSelector),
      whenBack: () => this.reachability.whenBack(),
    };
  }

  /** GET /readyz: any answer but a server error means the apiserver is back (a 401 or
   *  403 is an answer: the observers' own requests then say what is wrong). */
  private readonly reachability = new ReachabilityProbe(async () => {
    const res = await this.send("/readyz", this.options.connectTimeoutMs).catch((error: unknown) => {
      // A non-2xx answer arrives as an ApiError carrying its status.
      if (error instanceof ApiError && error.status !== undefined && error.status < 500) return undefined;
      throw error;
    });
    res?.resume();
    return true;
  });

  close(): void {
    this.agent?.destroy();
  }

  /** One LIST page. Objects are split out of the body as it arrives and parsed one by
   *  one; one over maxObjectBytes is skipped (reported in `skipped`); a page whose objects
   *  pass maxListPageBytes is abandoned and asked again with half the limit. */
  async list(path: string, options: ListOptions, fieldSelector?: string): Promise<ListPage> {
    let limit = Math.max(1, options.limit);
    for (;;) {
      try {
        return await this.listOnce(path, { ...options, limit }, fieldSelector);
      } catch (error) {
        // With one object per page the object cap (<= the page cap) always applies first.
        if (!(error instanceof PageOverCapError) || limit === 1) throw error;
        limit = Math.max(1, Math.floor(limit / 2));
      }
    }
  }

  private async listOnce(path: string, options: ListOptions, fieldSelector?: string): Promise<ListPage> {
    const query = new URLSearchParams({ limit: String(options.limit) });
    if (options.continueToken) query.set("continue", options.continueToken);
    if (fieldSelector) query.set("fieldSelector", fieldSelector);
    const res = await this.send(`${path}?${query}`, this.options.listTimeoutMs);
    const splitter = new ListBodySplitter(this.maxObjectBytes, this.maxListPageBytes);
    const body = await readSplit(res, this.options.listTimeoutMs, splitter).catch((error: unknown) => {
      if (error instanceof PageOverCapError || error instanceof ApiError) throw error;
      if (error instanceof NotAListError) throw notAList(path, res.statusCode, error.message);
      throw new ApiError("server", `LIST ${path}: response is not a JSON List (${(error as Error).message})`, res.statusCode);
    });
    let envelope: { metadata: { resourceVersion: string; continue?: string } };
    let items: unknown[];
    try {
      envelope = JSON.parse(body.envelope);
    } catch (error) {
      throw new ApiError("server", `LIST ${path}: response envelope is ${jsonErrorWithoutInput(error, body.envelope)}`, res.statusCode);
    }
    // Valid JSON is not yet a List: `{}` or a Status must never read as an empty list.
    const problem = listEnvelopeProblem(envelope);
    if (problem) throw notAList(path, res.statusCode, problem, body.envelope);
    try {
      items = JSON.parse(body.itemsArray) as unknown[];
    } catch (error) {
      throw new ApiError("server", `LIST ${path}: response items are ${jsonErrorWithoutInput(error, body.itemsArray)}`, res.statusCode);
    }
    const itemProblem = itemsProblem(items);
    if (itemProblem) throw notAList(path, res.statusCode, itemProblem, body.envelope);
    return {
      items: items as KubeObject[],
      resourceVersion: envelope.metadata.resourceVersion,
      continueToken: envelope.metadata.continue || undefined,
      skipped: body.oversized.map((o) => identifyPrefix(o.prefix, o.bytes, this.maxObjectBytes, "list")),
      limit: options.limit,
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
    return new NdjsonWatchStream(res, options.inactivityTimeoutMs, this.maxObjectBytes);
  }

  /** Sends a GET and resolves with a 2xx response; anything else becomes an ApiError. */
  private async send(pathAndQuery: string, responseTimeoutMs: number): Promise<IncomingMessage> {
    let options: Awaited<ReturnType<RequestAuth["options"]>>;
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
              // A proxy's page or a body cut short: errors never quote a response.
              const type = String(res.headers["content-type"] ?? "no content type")
                .split(";")[0]!
                .slice(0, 60);
              parsed = { message: `HTTP ${status} with a body that is not a Kubernetes Status (${type}, ${body.length} bytes, not shown)` };
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

/** A 2xx LIST body that is not a List: an error (kind "server") that says what is wrong
 *  and how big the body's envelope was, never what it holds. */
function notAList(path: string, status: number | undefined, problem: string, envelope?: string): ApiError {
  const size = envelope === undefined ? "" : ` (${Buffer.byteLength(envelope)} bytes besides its items, not shown)`;
  return new ApiError("server", `LIST ${path}: the ${status} response is not a Kubernetes List: ${problem}${size}`, status);
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

/** Feeds a LIST response into the splitter; a page over its cap ends the request early. */
function readSplit(res: IncomingMessage, timeoutMs: number, splitter: ListBodySplitter): Promise<ReturnType<ListBodySplitter["finish"]>> {
  return new Promise((resolveBody, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, value?: ReturnType<ListBodySplitter["finish"]>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolveBody(value!);
    };
    const timer = setTimeout(() => {
      settle(new ApiError("network", `response body not complete within ${timeoutMs} ms`));
      res.destroy();
    }, timeoutMs);
    res.on("data", (chunk: Buffer) => {
      if (settled) return;
      try {
        splitter.push(chunk);
      } catch (error) {
        settle(error as Error);
        res.destroy();
      }
    });
    res.on("end", () => {
      if (settled) return;
      try {
        settle(undefined, splitter.finish());
      } catch (error) {
        settle(error as Error);
      }
    });
    res.on("error", (error) => settle(error instanceof ApiError ? error : new ApiError("network", error.message)));
    res.on("aborted", () => settle(new ApiError("network", "connection closed before the response was complete")));
  });
}

/** Newline-delimited JSON watch events, with an inactivity timer and backpressure. */
class NdjsonWatchStream implements WatchStream {
  private readonly queue: WatchEvent[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current line passed the cap: its size so far and its first bytes. */
  private oversized: { bytes: number; prefix: Buffer } | undefined;
  private waiter: { resolve: (e: WatchEvent | null) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private inactivity: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: IncomingMessage,
    private readonly inactivityTimeoutMs: number,
    private readonly maxLineBytes: number,
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
      this.addToLine(chunk.subarray(start, newline));
      this.endLine();
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length && !this.failure) this.addToLine(chunk.subarray(start));
  }

  /** Part of the current line; past the cap only its prefix is kept. */
  private addToLine(part: Buffer): void {
    if (part.length === 0) return;
    const over = this.oversized;
    if (over) {
      over.bytes += part.length;
      if (over.prefix.length < OVERSIZE_PREFIX_BYTES) over.prefix = Buffer.concat([over.prefix, part.subarray(0, OVERSIZE_PREFIX_BYTES - over.prefix.length)]);
      return;
    }
    this.pendingBytes += part.length;
    if (this.pendingBytes > this.maxLineBytes) {
      const head = Buffer.concat([...this.pending, part.subarray(0, OVERSIZE_PREFIX_BYTES)]).subarray(0, OVERSIZE_PREFIX_BYTES);
      this.oversized = { bytes: this.pendingBytes, prefix: Buffer.from(head) };
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(part);
  }

  private endLine(): void {
    const over = this.oversized;
    if (over) {
      this.oversized = undefined;
      this.deliver({ type: "OVERSIZED", oversized: identifyPrefix(over.prefix.toString("utf8"), over.bytes, this.maxLineBytes, "watch") });
      return;
    }
    const line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (line.length > 0) this.onLine(line);
  }

  private onLine(line: Buffer): void {
    if (this.failure || this.ended) return;
    let event: unknown;
    try {
      event = JSON.parse(line.toString("utf8"));
    } catch (error) {
      this.fail(new ApiError("server", `watch sent a line that is ${jsonErrorWithoutInput(error, line.toString("utf8"))}`));
      this.res.destroy();
      return;
    }
    // Valid JSON is not yet an event: nothing after a line that is not one is handed out.
    const problem = watchEventProblem(event);
    if (problem) {
      this.fail(new ApiError("server", `watch sent a line that is not a watch event: ${problem} (${line.length} bytes, not shown)`));
      this.res.destroy();
      return;
    }
    this.deliver(event as WatchEvent);
  }

  private deliver(event: WatchEvent): void {
    if (this.failure || this.ended) return;
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
    if (this.pending.length || this.oversized) this.endLine();
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
