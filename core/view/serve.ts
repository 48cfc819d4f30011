// `graph view --serve`: the page over HTTP, kept live. GET / is the page; GET /view.json
// reads the neighbourhood again (one read at a time, shared by concurrent polls). Bound to
// loopback, it answers only requests addressed to a loopback name (no DNS rebinding).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TargetNotFoundError, type GraphView } from "./neighbourhood.js";
import { contentSecurityPolicy, renderPage, viewJson } from "./page.js";

export const LIVE_PATH = "/view.json";

export interface ServeAddress {
  host: string;
  port: number;
}

/** HOST:PORT, [v6]:PORT or PORT (host 127.0.0.1). */
export function parseServeAddress(text: string): ServeAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`--serve takes HOST:PORT or PORT (e.g. 127.0.0.1:8080), not "${text}"`);
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port };
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export async function serveView(address: ServeAddress, read: () => Promise<GraphView>, onError: (error: unknown) => void): Promise<Server> {
  let pending: Promise<GraphView> | undefined;
  const current = (): Promise<GraphView> => {
    pending ??= read().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  await current(); // fails now, not on the first request, when the object cannot be read
  const headers = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": `${contentSecurityPolicy({ liveUrl: LIVE_PATH })}; frame-ancestors 'none'`,
  };
  const loopbackOnly = LOOPBACK.has(address.host);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    if (loopbackOnly && !LOOPBACK.has(host)) {
      res.writeHead(421, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end("misdirected request: use a loopback address\n");
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
    } else if (path === "/") {
      try {
        res.writeHead(200, { ...headers, "Content-Type": "text/html; charset=utf-8" }).end(renderPage(await current(), { liveUrl: LIVE_PATH }));
      } catch (error) {
        onError(error);
        res.writeHead(503, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end("cannot read the graph now\n");
      }
    } else if (path === LIVE_PATH) {
      try {
        res.writeHead(200, { ...headers, "Content-Type": "application/json; charset=utf-8" }).end(viewJson(await current()));
      } catch (error) {
        onError(error);
        // The page shows why (the object went, the sink is down) and keeps polling.
        const reason = error instanceof TargetNotFoundError ? error.message : "cannot read the graph now";
        res.writeHead(503, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end(reason);
      }
    } else {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
    }
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

export function serverUrl(server: Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}/`;
}
