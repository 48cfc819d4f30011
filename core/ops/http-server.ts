// The agent's operational HTTP endpoint (`run --listen HOST:PORT`): /healthz (200 while
// the process runs) and /readyz (200 once the initial sync is complete, the sink answers
// and nothing else stops delivery, e.g. failing WAL appends; 503 with the reasons otherwise). Other endpoints (/metrics) are added with route().
//
// GET and HEAD only; no request body is read; every answer is small plain text.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log/logger.js";

export interface OpsReply {
  status: number;
  body: string;
  contentType?: string;
}

/** Answers one GET (or HEAD) of a path. */
export type OpsHandler = (request: IncomingMessage) => OpsReply | Promise<OpsReply>;

export interface ListenAddress {
  host: string;
  port: number;
}

/** "0.0.0.0:8080", ":8080" (every address), "127.0.0.1:0" (a free port), "[::1]:8080". */
/** HOST:PORT, [IPv6]:PORT, :PORT or PORT. Without a host it is loopback only: the
 *  endpoints are served to every interface only when asked (0.0.0.0:PORT, as the deploy
 *  does beside its NetworkPolicy). */
export function parseListen(text: string): ListenAddress {
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw new Error(`--listen "${text}" is not HOST:PORT or PORT (e.g. 8080 for 127.0.0.1:8080, 0.0.0.0:8080 for every interface)`);
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "127.0.0.1" : host, port };
}

export class OpsServer {
  private readonly routes = new Map<string, OpsHandler>();
  private server: Server | undefined;

  constructor(private readonly log: Logger) {}

  /** Serves `path` (exact match, query ignored). A later route for the same path replaces it. */
  route(path: string, handler: OpsHandler): this {
    this.routes.set(path, handler);
    return this;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  async listen(address: ListenAddress): Promise<ListenAddress> {
    const server = createServer((req, res) => void this.handle(req, res));
    // Probes are short: do not let idle keep-alive sockets hold shutdown up.
    server.keepAliveTimeout = 5_000;
    server.requestTimeout = 10_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(address.port, address.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const bound = server.address() as AddressInfo;
    const result = { host: bound.address, port: bound.port };
    this.log.info(
      { listen: `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`, paths: [...this.routes.keys()].sort() },
      "HTTP endpoint listening",
    );
    return result;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const handler = this.routes.get(path);
    let reply: OpsReply;
    if (!handler) reply = { status: 404, body: `not found; try ${[...this.routes.keys()].sort().join(", ")}\n` };
    else if (req.method !== "GET" && req.method !== "HEAD") reply = { status: 405, body: "only GET and HEAD\n" };
    else {
      try {
        reply = await handler(req);
      } catch (error) {
        this.log.warn({ path, err: (error as Error).message }, "HTTP endpoint handler failed");
        reply = { status: 500, body: "internal error\n" };
      }
    }
    const headers: Record<string, string | number> = {
      "content-type": reply.contentType ?? "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(reply.body),
      "cache-control": "no-store",
    };
    if (reply.status === 405) headers.allow = "GET, HEAD";
    res.writeHead(reply.status, headers);
    res.end(req.method === "HEAD" ? undefined : reply.body);
  }
}

export interface HealthSources {
  /** Whether the agent's initial sync has completed. */
  synced: () => boolean;
  /** Whether the sink answers (undefined: there is no sink, e.g. --output jsonl). */
  sinkPing?: () => Promise<boolean>;
  /** Other reasons the agent is not ready (namespace discovery forbidden, the sink not
   *  open yet, WAL appends failing), each a sentence for the 503's body. */
  problems?: () => readonly string[];
  /** Longest a sink ping may take before readiness says no (default 4 s). */
  pingTimeoutMs?: number;
  /** A sink check this young is reused (default 1 s): probes and scrapers cannot make
   *  the agent open a sink session per request. */
  sinkCheckMaxAgeMs?: number;
}

/** The sink's last answer, reused while young; one check in flight at a time. */
class CachedSinkCheck {
  private last: { at: number; answers: boolean } | undefined;
  private inFlight: Promise<boolean> | undefined;

  constructor(
    private readonly ping: () => Promise<boolean>,
    private readonly timeoutMs: number,
    private readonly maxAgeMs: number,
  ) {}

  answers(): Promise<boolean> {
    if (this.last && performance.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.answers);
    this.inFlight ??= withTimeout(this.ping(), this.timeoutMs)
      .catch(() => false as const)
      .then((answers) => {
        this.last = { at: performance.now(), answers };
        this.inFlight = undefined;
        return answers;
      });
    return this.inFlight;
  }
}

/** Adds /healthz and /readyz to a server. */
export function addHealthRoutes(server: OpsServer, sources: HealthSources): OpsServer {
  const sinkCheck = sources.sinkPing ? new CachedSinkCheck(sources.sinkPing, sources.pingTimeoutMs ?? 4_000, sources.sinkCheckMaxAgeMs ?? 1_000) : undefined;
  return server
    .route("/healthz", () => ({ status: 200, body: "ok\n" }))
    .route("/readyz", async () => {
      const problems: string[] = [];
      if (!sources.synced()) problems.push("initial sync not complete");
      problems.push(...(sources.problems?.() ?? []));
      if (sinkCheck && !(await sinkCheck.answers())) problems.push("the graph sink does not answer");
      return problems.length === 0 ? { status: 200, body: "ok\n" } : { status: 503, body: `not ready: ${problems.join("; ")}\n` };
    });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
