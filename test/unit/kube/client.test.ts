// KubeHttpClient against a local node:http server on 127.0.0.1: this exercises our own
// HTTP, NDJSON and stream handling (requests, parsing, errors, timeouts, backpressure),
// not Kubernetes. The KubeConfig comes from @kubernetes/client-node, which only allows
// an http:// server with skipTLSVerify set. Case numbers refer to list-watch.md.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { KubeHttpClient, resourcePath, type ClientOptions, type WatchStream } from "../../../core/kube/client.js";
import { ApiError } from "../../../core/kube/errors.js";
import type { ApiResource } from "../../../core/plugin/types.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  server: Server;
  base: string;
  requests: Array<{ url: URL; headers: IncomingMessage["headers"] }>;
}

const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: Handler): Promise<TestServer> {
  const requests: TestServer["requests"] = [];
  const server = createServer((req, res) => {
    requests.push({ url: new URL(req.url ?? "/", "http://127.0.0.1"), headers: req.headers });
    req.socket.setNoDelay(true);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, requests };
}

function makeClient(server: string, options: Partial<ClientOptions> = {}, token = "s3cr3t-token"): KubeHttpClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "test", server, skipTLSVerify: true }],
    users: [{ name: "tester", token }],
    contexts: [{ name: "ctx", cluster: "test", user: "tester" }],
    currentContext: "ctx",
  });
  const client = new KubeHttpClient(kc, { connectTimeoutMs: 2_000, listTimeoutMs: 5_000, userAgent: "kube-observer-test/1", ...options });
  cleanups.push(() => client.close());
  return client;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function status(code: number, reason: string, message: string, details?: unknown): unknown {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", code, reason, message, ...(details ? { details } : {}) };
}

function line(type: string, name: string, rv: string, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ type, object: { kind: "Pod", apiVersion: "v1", metadata: { name, namespace: "default", uid: `u-${name}`, resourceVersion: rv }, ...extra } })}\n`;
}

/** Opens a watch stream and registers it for closing. */
async function openWatch(client: KubeHttpClient, path = "/api/v1/namespaces/default/pods", inactivityTimeoutMs = 10_000): Promise<WatchStream> {
  const stream = await client.watch(path, { resourceVersion: "100", timeoutSeconds: 300, inactivityTimeoutMs });
  cleanups.push(() => stream.close());
  return stream;
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const pods: ApiResource = { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true };
const nodes: ApiResource = { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false };
const deployments: ApiResource = { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true };
const clusterRoles: ApiResource = { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", kind: "ClusterRole", namespaced: false };

describe("resourcePath", () => {
  it("core group lives under /api, named groups under /apis/<group>", () => {
    expect(resourcePath(pods, "default")).toBe("/api/v1/namespaces/default/pods");
    expect(resourcePath(deployments, "team-a")).toBe("/apis/apps/v1/namespaces/team-a/deployments");
  });

  it("cluster-scoped resources never get a namespace segment", () => {
    expect(resourcePath(nodes, null)).toBe("/api/v1/nodes");
    expect(resourcePath(nodes, "default")).toBe("/api/v1/nodes");
    expect(resourcePath(clusterRoles, null)).toBe("/apis/rbac.authorization.k8s.io/v1/clusterroles");
  });

  it("a namespaced resource with no namespace is the all-namespaces path", () => {
    expect(resourcePath(pods, null)).toBe("/api/v1/pods");
  });

  it("escapes the namespace", () => {
    expect(resourcePath(pods, "a/b")).toBe("/api/v1/namespaces/a%2Fb/pods");
  });
});

describe("KubeHttpClient.list", () => {
  it("parses items, resourceVersion and continue, and sends limit and continue (case 1)", async () => {
    const srv = await serve((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (!url.searchParams.has("continue")) {
        json(res, 200, {
          kind: "PodList",
          metadata: { resourceVersion: "500", continue: "tok-1" },
          items: [{ metadata: { name: "a" } }, { metadata: { name: "b" } }],
        });
      } else {
        json(res, 200, { kind: "PodList", metadata: { resourceVersion: "500" }, items: [{ metadata: { name: "c" } }] });
      }
    });
    const client = makeClient(srv.base).forResource(pods, "default");
    const first = await client.list({ limit: 2 });
    expect(first).toStrictEqual({
      items: [{ metadata: { name: "a" } }, { metadata: { name: "b" } }],
      resourceVersion: "500",
      continueToken: "tok-1",
      skipped: [],
      limit: 2,
    });
    const second = await client.list({ limit: 2, continueToken: "tok-1" });
    expect(second).toStrictEqual({ items: [{ metadata: { name: "c" } }], resourceVersion: "500", continueToken: undefined, skipped: [], limit: 2 });

    expect(srv.requests.map((r) => r.url.pathname)).toStrictEqual(["/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/pods"]);
    const [q1, q2] = srv.requests.map((r) => Object.fromEntries(r.url.searchParams));
    // No resourceVersion: a consistent read from etcd.
    expect(q1).toStrictEqual({ limit: "2" });
    expect(q2).toStrictEqual({ limit: "2", continue: "tok-1" });
  });

  it("sends the kubeconfig's credentials, accept: application/json and the user agent", async () => {
    const srv = await serve((_req, res) => json(res, 200, { metadata: { resourceVersion: "1" }, items: [] }));
    await makeClient(srv.base, {}, "tok-abc").list("/api/v1/nodes", { limit: 10 });
    const headers = srv.requests[0]!.headers;
    expect(headers.authorization).toBe("Bearer tok-abc");
    expect(headers.accept).toBe("application/json");
    expect(headers["user-agent"]).toBe("kube-observer-test/1");
  });

  it("keeps a path prefix of the server URL", async () => {
    const srv = await serve((_req, res) => json(res, 200, { metadata: { resourceVersion: "1" }, items: [] }));
    await makeClient(`${srv.base}/k8s/cluster-1/`).forResource(deployments, "x").list({ limit: 5 });
    expect(srv.requests[0]!.url.pathname).toBe("/k8s/cluster-1/apis/apps/v1/namespaces/x/deployments");
  });

  it("an empty list is an empty items array; an empty continue is no continue token", async () => {
    const srv = await serve((_req, res) => json(res, 200, { kind: "PodList", metadata: { resourceVersion: "77", continue: "" }, items: [] }));
    expect(await makeClient(srv.base).list("/api/v1/pods", { limit: 500 })).toStrictEqual({
      items: [],
      resourceVersion: "77",
      continueToken: undefined,
      skipped: [],
      limit: 500,
    });
  });

  it("a 200 that is not JSON is an ApiError, not a crash", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>proxy login</html>");
    });
    const e = await rejection(makeClient(srv.base).list("/api/v1/pods", { limit: 1 }));
    expect(e.kind).toBe("server");
    expect(e.message).toMatch(/^LIST \/api\/v1\/pods: response (envelope|items) (is|are) not valid JSON/);
    // A body can be a Secret: the error never quotes it.
    expect(e.message).not.toContain("proxy login");
  });

  it.each([
    [410, "Expired", "The provided continue parameter is too old to display a consistent list result.", "expired"],
    [403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods"', "forbidden"],
    [401, "Unauthorized", "Unauthorized", "unauthorized"],
    [500, "InternalError", "etcdserver: request timed out", "server"],
    [404, "NotFound", "the server could not find the requested resource", "not-found"],
  ] as const)("HTTP %i %s with a Status body becomes the matching ApiError kind", async (code, reason, message, kind) => {
    const srv = await serve((_req, res) => json(res, code, status(code, reason, message)));
    const e = await rejection(makeClient(srv.base).list("/api/v1/pods", { limit: 1, continueToken: "t" }));
    expect(e.kind).toBe(kind);
    expect(e.status).toBe(code);
    expect(e.message).toBe(message);
  });

  it("honours a Retry-After header on 429 (case 10)", async () => {
    const srv = await serve((_req, res) => json(res, 429, status(429, "TooManyRequests", "too many requests, please try again later"), { "retry-after": "3" }));
    const e = await rejection(makeClient(srv.base).list("/api/v1/pods", { limit: 1 }));
    expect(e).toMatchObject({ kind: "throttled", status: 429, retryAfterSeconds: 3 });
  });

  it("a 503 with a body that is not JSON says status, type and size, never the body", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(503, { "retry-after": "2", "content-type": "text/plain; charset=utf-8" });
      res.end("upstream connect error");
    });
    const e = await rejection(makeClient(srv.base).list("/api/v1/pods", { limit: 1 }));
    expect(e).toMatchObject({ kind: "server", status: 503, retryAfterSeconds: 2 });
    expect(e.message).toContain("HTTP 503 with a body that is not a Kubernetes Status (text/plain, 22 bytes, not shown)");
    expect(e.message).not.toMatch(/upstream/);
  });

  it("no response within listTimeoutMs is a network error", async () => {
    const srv = await serve(() => undefined); // never answers
    const t0 = Date.now();
    const e = await rejection(makeClient(srv.base, { listTimeoutMs: 150 }).list("/api/v1/pods", { limit: 1 }));
    expect(e.kind).toBe("network");
    expect(e.message).toMatch(/no response/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("a connection refused is a network error (the apiserver is down, case 10)", async () => {
    const srv = await serve(() => undefined);
    const base = srv.base;
    await new Promise<void>((resolve) => srv.server.close(() => resolve()));
    const e = await rejection(makeClient(base).list("/api/v1/pods", { limit: 1 }));
    expect(e.kind).toBe("network");
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it("refuses a kubeconfig without a cluster", () => {
    expect(() => new KubeHttpClient(new KubeConfig(), { connectTimeoutMs: 1, listTimeoutMs: 1, userAgent: "x" })).toThrow(/no current cluster/);
  });
});

describe("KubeHttpClient.watch", () => {
  it("asks for watch=1, the resourceVersion, bookmarks and timeoutSeconds (cases 1, 3, 7)", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end();
    });
    const client = makeClient(srv.base).forResource(clusterRoles, null);
    const stream = await client.watch({ resourceVersion: "4242", timeoutSeconds: 345, inactivityTimeoutMs: 10_000 });
    cleanups.push(() => stream.close());
    expect(srv.requests[0]!.url.pathname).toBe("/apis/rbac.authorization.k8s.io/v1/clusterroles");
    expect(Object.fromEntries(srv.requests[0]!.url.searchParams)).toStrictEqual({
      watch: "1",
      resourceVersion: "4242",
      allowWatchBookmarks: "true",
      timeoutSeconds: "345",
    });
  });

  it("yields events in order, then null once the server ends the response (case 3)", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(line("ADDED", "a", "101") + line("MODIFIED", "a", "102"));
      setTimeout(() => {
        res.write(line("BOOKMARK", "", "150"));
        res.end(line("DELETED", "a", "160"));
      }, 20);
    });
    const stream = await openWatch(makeClient(srv.base));
    const seen: string[] = [];
    for (let e = await stream.next(); e !== null; e = await stream.next()) seen.push(`${e.type}@${e.object.metadata?.resourceVersion}`);
    expect(seen).toStrictEqual(["ADDED@101", "MODIFIED@102", "BOOKMARK@150", "DELETED@160"]);
    expect(await stream.next()).toBeNull();
  });

  it("parses NDJSON split at arbitrary byte boundaries, including inside multi-byte UTF-8 characters", async () => {
    const text = line("ADDED", "crème-brûlée", "1", { spec: { note: "🚀 naïve — 日本語" } }) + line("MODIFIED", "ß", "2") + line("DELETED", "🚀", "3");
    const bytes = Buffer.from(text, "utf8");
    // Cut points: inside é (2 bytes), inside 🚀 (4 bytes), right before and after a newline.
    const rocket = bytes.indexOf(Buffer.from("🚀", "utf8"));
    const eAcute = bytes.indexOf(Buffer.from("è", "utf8"));
    const firstNewline = bytes.indexOf(10);
    const cuts = [...new Set([eAcute + 1, rocket + 1, rocket + 2, rocket + 3, firstNewline, firstNewline + 1, bytes.length - 1])].sort((a, b) => a - b);
    const srv = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      let from = 0;
      for (const cut of [...cuts, bytes.length]) {
        res.write(bytes.subarray(from, cut));
        from = cut;
        await sleep(15); // separate TCP segments, so the client sees separate chunks
      }
      res.end();
    });
    const stream = await openWatch(makeClient(srv.base));
    const events = [];
    for (let e = await stream.next(); e !== null; e = await stream.next()) events.push(e);
    expect(events.map((e) => [e.type, e.object.metadata?.name])).toStrictEqual([
      ["ADDED", "crème-brûlée"],
      ["MODIFIED", "ß"],
      ["DELETED", "🚀"],
    ]);
    expect(events[0]?.object.spec).toStrictEqual({ note: "🚀 naïve — 日本語" });
  });

  it("parses one byte per chunk", async () => {
    const bytes = Buffer.from(line("ADDED", "é🚀", "9"), "utf8");
    const srv = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      for (let i = 0; i < bytes.length; i++) {
        res.write(bytes.subarray(i, i + 1));
        if (i % 8 === 0) await sleep(1);
      }
      res.end();
    });
    const stream = await openWatch(makeClient(srv.base));
    const e = await stream.next();
    expect(e?.object.metadata?.name).toBe("é🚀");
    expect(await stream.next()).toBeNull();
  });

  it("an in-stream ERROR event is delivered as an event, with its Status", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`${JSON.stringify({ type: "ERROR", object: status(410, "Expired", "too old resource version: 100 (200)") })}\n`);
    });
    const stream = await openWatch(makeClient(srv.base));
    expect(await stream.next()).toMatchObject({ type: "ERROR", object: { code: 410, reason: "Expired" } });
  });

  it("a watch refused with a Status becomes an ApiError at open time", async () => {
    const srv = await serve((_req, res) =>
      json(
        res,
        504,
        status(504, "Timeout", "Too large resource version: 1000100, current: 100", {
          causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
          retryAfterSeconds: 1,
        }),
      ),
    );
    const e = await rejection(makeClient(srv.base).watch("/api/v1/pods", { resourceVersion: "1000100", timeoutSeconds: 300, inactivityTimeoutMs: 10_000 }));
    expect(e).toMatchObject({ kind: "too-large-rv", status: 504, retryAfterSeconds: 1 });
  });

  it("nothing from the server for inactivityTimeoutMs fails the stream as stalled (case 9)", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders(); // then silence: a half-open connection
    });
    const stream = await openWatch(makeClient(srv.base), "/api/v1/pods", 200);
    const t0 = Date.now();
    const e = await rejection(stream.next());
    expect(e.kind).toBe("stalled");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it("the inactivity timer restarts with every chunk: steady bookmarks keep a watch alive", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      let n = 0;
      const timer = setInterval(() => {
        n += 1;
        res.write(line("BOOKMARK", "", String(n)));
        if (n === 12) {
          clearInterval(timer);
          res.end();
        }
      }, 40);
      res.on("close", () => clearInterval(timer));
    });
    // 12 × 40 ms = 480 ms in total, beyond the 300 ms timeout, but never 300 ms idle.
    const stream = await openWatch(makeClient(srv.base), "/api/v1/pods", 300);
    let count = 0;
    for (let e = await stream.next(); e !== null; e = await stream.next()) count += 1;
    expect(count).toBe(12);
  });

  it("the server dropping the connection mid-stream is a network error, not a normal end", async () => {
    const srv = await serve((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(line("ADDED", "a", "101"));
      setTimeout(() => req.socket.destroy(), 30);
    });
    const stream = await openWatch(makeClient(srv.base));
    expect((await stream.next())?.type).toBe("ADDED");
    const e = await rejection(stream.next());
    expect(e.kind).toBe("network");
  });

  it("a line that is not JSON fails the stream as a server error", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write("this is not json\n");
    });
    const stream = await openWatch(makeClient(srv.base));
    const e = await rejection(stream.next());
    expect(e.kind).toBe("server");
    expect(e.message).toMatch(/^watch sent a line that is not valid JSON/);
    // A watch event can be a Secret: the error never quotes the line.
    expect(e.message).not.toContain("is not json");
  });

  it("nothing after a malformed line is delivered: later events must not advance the resourceVersion past a lost one", async () => {
    // If the event at RV 103 came out, the watcher would re-watch from 103 and the
    // unparseable event at RV 102 would be lost for good.
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(`${line("ADDED", "a", "101")}{"type":"MODIFIED","object":{"metadata":{"name":"b","resourceVersion":"102"}\n${line("MODIFIED", "c", "103")}`);
    });
    const stream = await openWatch(makeClient(srv.base));
    expect((await stream.next())?.object.metadata?.resourceVersion).toBe("101");
    const after = await stream.next().then(
      (e) => `event at RV ${e?.object.metadata?.resourceVersion}`,
      (e: unknown) => (e instanceof ApiError ? e.kind : String(e)),
    );
    expect(after).toBe("server");
  });

  it("close() resolves a pending next() with null and drops the connection", async () => {
    let serverSawClose = false;
    const srv = await serve((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      req.socket.on("close", () => (serverSawClose = true));
    });
    const stream = await openWatch(makeClient(srv.base));
    const pending = stream.next();
    await sleep(20);
    stream.close();
    await expect(pending).resolves.toBeNull();
    expect(await stream.next()).toBeNull();
    const deadline = Date.now() + 2_000;
    while (!serverSawClose && Date.now() < deadline) await sleep(5);
    expect(serverSawClose).toBe(true);
  });

  it("a burst of 5000 events followed by the end of the response survives pause/resume: all events, then null", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      let body = "";
      for (let i = 1; i <= 5_000; i++) body += line("MODIFIED", `p${i}`, String(i));
      res.end(body);
    });
    const stream = await openWatch(makeClient(srv.base));
    await sleep(100); // let the queue pass the high-water mark before consuming
    let expected = 1;
    for (let e = await stream.next(); e !== null; e = await stream.next()) {
      expect(e.object.metadata?.resourceVersion).toBe(String(expected));
      expected += 1;
    }
    expect(expected - 1).toBe(5_000);
  });

  it("pauses reading when more than 1000 events are unconsumed, and resumes as they are consumed (case 15)", async () => {
    const padding = "x".repeat(150);
    const cap = 200_000; // ~65 MB: far more than socket buffers hold
    let written = 0;
    let waitingForDrain = false;
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const pump = (): void => {
        while (!res.destroyed && written < cap) {
          written += 1;
          if (!res.write(line("MODIFIED", `p${written}`, String(written), { spec: { padding } }))) {
            waitingForDrain = true;
            res.once("drain", () => {
              waitingForDrain = false;
              pump();
            });
            return;
          }
          if (written % 1000 === 0) {
            setImmediate(pump);
            return;
          }
        }
      };
      pump();
    });
    const stream = await openWatch(makeClient(srv.base), "/api/v1/pods", 60_000);

    // Wait until the server has been stuck waiting for 'drain' for 300 ms.
    const deadline = Date.now() + 15_000;
    let stuckSince = 0;
    let lastWritten = -1;
    while (Date.now() < deadline && written < cap) {
      if (waitingForDrain && written === lastWritten) {
        if (Date.now() - stuckSince >= 300) break;
      } else {
        stuckSince = Date.now();
        lastWritten = written;
      }
      await sleep(20);
    }
    // A client that kept reading would have taken all `cap` events by now.
    expect(written).toBeLessThan(cap);
    expect(waitingForDrain).toBe(true);
    const writtenWhenStuck = written;

    // Consuming lets data flow again, in order and without loss.
    let consumed = 0;
    while (written === writtenWhenStuck && Date.now() < deadline) {
      const e = await stream.next();
      consumed += 1;
      expect(e?.object.metadata?.resourceVersion).toBe(String(consumed));
      if (consumed % 200 === 0) await sleep(5);
    }
    expect(written).toBeGreaterThan(writtenWhenStuck);
    // Reading resumed only once the queue fell well below the 1000-event mark.
    expect(consumed).toBeGreaterThanOrEqual(900);
  });
});

describe("a 2xx body that is not a List or a watch event is an error, never data", () => {
  const CANARY = "CANARYsecretvalue9f3";
  const rv = { resourceVersion: "5" };
  const ok = (name: string) => ({ metadata: { name, namespace: "default" }, data: { k: CANARY } });

  it.each([
    ["{} (no items: once taken for a complete, empty list)", {}, /"items" is missing, not an array/],
    ["a Status saying Success", { kind: "Status", apiVersion: "v1", status: "Success", message: CANARY }, /"kind" does not end in "List"/],
    ["a List without items", { kind: "PodList", metadata: rv }, /"items" is missing/],
    ["items: null", { kind: "PodList", metadata: rv, items: null }, /"items" is null/],
    ["items: an object", { kind: "PodList", metadata: rv, items: { a: ok("a") } }, /"items" is an object/],
    ["no metadata", { kind: "PodList", items: [] }, /"metadata" is missing/],
    ["metadata: an array", { kind: "PodList", metadata: [CANARY], items: [] }, /"metadata" is an array/],
    ["no resourceVersion", { kind: "PodList", metadata: {}, items: [] }, /"metadata.resourceVersion" is missing/],
    ["an empty resourceVersion", { kind: "PodList", metadata: { resourceVersion: "" }, items: [] }, /"metadata.resourceVersion" is empty/],
    ["a numeric continue", { kind: "PodList", metadata: { resourceVersion: "5", continue: 7 }, items: [] }, /"metadata.continue" is a number/],
    ["a kind that is not a string", { kind: 7, metadata: rv, items: [] }, /"kind" does not end in "List"/],
    ["an array", [ok("a")], /the body is an array/],
    ["null", null, /the body is null/],
    ["a string", CANARY, /the body is a string/],
    ["a number item", { kind: "PodList", metadata: rv, items: [ok("a"), 12345] }, /an element of "items" is not an object/],
    ["a string item", { kind: "PodList", metadata: rv, items: [CANARY] }, /an element of "items" is not an object/],
    ["a null item", { kind: "PodList", metadata: rv, items: [null] }, /an element of "items" is not an object/],
    ["an array item", { kind: "PodList", metadata: rv, items: [[CANARY]] }, /item 0 is an array, not an object/],
    ["an item without metadata", { kind: "PodList", metadata: rv, items: [ok("a"), { data: CANARY }] }, /item 1 has "metadata" missing/],
    ["an item without a name", { kind: "PodList", metadata: rv, items: [{ metadata: { namespace: CANARY } }] }, /item 0 has no metadata.name/],
  ])("LIST answered 200 with %s", async (_what, body, problem) => {
    const srv = await serve((_req, res) => json(res, 200, body));
    const e = await rejection(makeClient(srv.base).list("/api/v1/namespaces", { limit: 500 }));
    expect(e.kind).toBe("server");
    expect(e.status).toBe(200);
    expect(e.message).toMatch(/^LIST \/api\/v1\/namespaces: the 200 response is not a Kubernetes List/);
    expect(e.message).toMatch(problem);
    expect(e.message).not.toContain(CANARY);
  });

  it("a real List (kind optional) still parses", async () => {
    const srv = await serve((_req, res) => json(res, 200, { metadata: rv, items: [ok("a")] }));
    const page = await makeClient(srv.base).list("/api/v1/pods", { limit: 5 });
    expect(page.items.map((i) => i.metadata?.name)).toStrictEqual(["a"]);
    expect(page.resourceVersion).toBe("5");
  });

  const podEvent = (type: string, name = "p") => ({ type, object: { kind: "Pod", metadata: { name, namespace: "default", resourceVersion: "9" } } });
  it.each([
    ["an array", [podEvent("ADDED")], /the line is an array/],
    ["null", null, /the line is null/],
    ["a string", CANARY, /the line is a string/],
    ["{}", {}, /"type" is missing/],
    ["an unknown type", { type: CANARY, object: podEvent("ADDED").object }, /"type" is not ADDED, MODIFIED, DELETED, BOOKMARK or ERROR/],
    ["a numeric type", { type: 1, object: podEvent("ADDED").object }, /"type" is a number/],
    ["no object", { type: "ADDED" }, /"object" is missing/],
    ["an object that is null", { type: "MODIFIED", object: null }, /"object" is null/],
    ["an object without metadata", { type: "ADDED", object: { data: CANARY } }, /a ADDED event whose object has "metadata" missing/],
    ["an object without a name", { type: "DELETED", object: { metadata: { namespace: CANARY } } }, /a DELETED event whose object has no metadata.name/],
    ["an ERROR that is not a Status", { type: "ERROR", object: { kind: "Pod", metadata: { name: CANARY } } }, /an ERROR event whose "object" is not a Status/],
    ["an ERROR with an empty object", { type: "ERROR", object: {} }, /an ERROR event whose "object" is not a Status/],
    ["an ERROR with a string code", { type: "ERROR", object: { kind: "Status", code: "410" } }, /an ERROR event whose "object" is not a Status/],
    ["a BOOKMARK without a resourceVersion", { type: "BOOKMARK", object: { metadata: {} } }, /a BOOKMARK without metadata.resourceVersion/],
  ])("a watch line that is %s fails the stream; nothing after it is delivered", async (_what, bad, problem) => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`${JSON.stringify(podEvent("ADDED", "before"))}\n${JSON.stringify(bad)}\n${JSON.stringify(podEvent("ADDED", "after"))}\n`);
    });
    const stream = await openWatch(makeClient(srv.base));
    expect(await stream.next()).toMatchObject({ type: "ADDED", object: { metadata: { name: "before" } } });
    const e = await rejection(stream.next());
    expect(e.kind).toBe("server");
    expect(e.message).toMatch(/^watch sent a line that is not a watch event: /);
    expect(e.message).toMatch(problem);
    expect(e.message).not.toContain(CANARY);
  });

  it("valid events of every type pass: ADDED, MODIFIED, DELETED, BOOKMARK, and an ERROR Status", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const lines = [
        podEvent("ADDED"),
        podEvent("MODIFIED"),
        podEvent("DELETED"),
        { type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: "12" } } },
        { type: "ERROR", object: status(410, "Expired", "too old resource version: 1 (2)") },
      ];
      res.end(lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
    });
    const stream = await openWatch(makeClient(srv.base));
    const types = [];
    for (let e = await stream.next(); e !== null; e = await stream.next()) types.push(e.type);
    expect(types).toStrictEqual(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);
  });
});

describe("KubeHttpClient size caps", () => {
  const podItem = (name: string, blob = ""): Record<string, unknown> => ({
    metadata: { name, namespace: "default", uid: `u-${name}`, resourceVersion: "5" },
    data: { blob },
  });

  it("a LIST item over maxObjectBytes is skipped and identified; the others are parsed", async () => {
    const srv = await serve((_req, res) =>
      json(res, 200, {
        kind: "PodList",
        apiVersion: "v1",
        metadata: { resourceVersion: "10" },
        items: [podItem("a"), podItem("huge", "z".repeat(50_000)), podItem("b")],
      }),
    );
    const page = await makeClient(srv.base, { maxObjectBytes: 10_000 }).list("/api/v1/namespaces/default/pods", { limit: 500 });
    expect(page.items.map((i) => i.metadata?.name)).toStrictEqual(["a", "b"]);
    expect(page.skipped).toHaveLength(1);
    expect(page.skipped[0]).toMatchObject({ name: "huge", namespace: "default", source: "list", capBytes: 10_000 });
    expect(page.skipped[0]!.bytes).toBeGreaterThan(50_000);
    expect(page.resourceVersion).toBe("10");
  });

  it("a LIST page over maxListPageBytes is asked again with half the limit until it fits", async () => {
    const all = Array.from({ length: 8 }, (_, i) => podItem(`p${i}`, "q".repeat(3_000)));
    const srv = await serve((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const limit = Number(url.searchParams.get("limit"));
      const from = Number(url.searchParams.get("continue") ?? "0");
      const items = all.slice(from, from + limit);
      const next = from + limit < all.length ? String(from + limit) : "";
      json(res, 200, { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "20", continue: next }, items });
    });
    const client = makeClient(srv.base, { maxObjectBytes: 4_000, maxListPageBytes: 7_000 });
    const first = await client.list("/api/v1/namespaces/default/pods", { limit: 8 });
    // 8 and 4 objects of ~3 KB pass 7 KB; 2 fit.
    expect(srv.requests.map((r) => r.url.searchParams.get("limit"))).toStrictEqual(["8", "4", "2"]);
    expect(first.limit).toBe(2);
    expect(first.items.map((i) => i.metadata?.name)).toStrictEqual(["p0", "p1"]);
    expect(first.continueToken).toBe("2");
    expect(first.skipped).toStrictEqual([]);
  });

  it("a watch line over maxObjectBytes becomes one OVERSIZED event naming the object; later events flow", async () => {
    const huge = line("MODIFIED", "huge", "31", { data: { blob: "w".repeat(100_000) } });
    const srv = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(line("ADDED", "small", "30"));
      // The big line in pieces, as the network delivers it.
      for (let at = 0; at < huge.length; at += 16_384) {
        res.write(huge.slice(at, at + 16_384));
        await sleep(2);
      }
      res.end(line("DELETED", "small", "32"));
    });
    const stream = await openWatch(makeClient(srv.base, { maxObjectBytes: 20_000 }));
    const events = [];
    for (let e = await stream.next(); e !== null; e = await stream.next()) events.push(e);
    expect(events.map((e) => e.type)).toStrictEqual(["ADDED", "OVERSIZED", "DELETED"]);
    const over = events[1] as Extract<(typeof events)[number], { type: "OVERSIZED" }>;
    expect(over.oversized).toMatchObject({
      source: "watch",
      eventType: "MODIFIED",
      kind: "Pod",
      name: "huge",
      namespace: "default",
      resourceVersion: "31",
      capBytes: 20_000,
    });
    expect(over.oversized.bytes).toBe(Buffer.byteLength(huge) - 1);
  });
});
