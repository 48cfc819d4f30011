// The operational HTTP endpoint behind `run --listen`: /healthz, /readyz (initial sync
// and sink ping), extra routes, and the --listen address syntax.
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../../core/log/logger.js";
import { addHealthRoutes, OpsServer, parseListen } from "../../../core/ops/http-server.js";

const log = createLogger({ level: "fatal" });
const servers: OpsServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(server: OpsServer): Promise<string> {
  servers.push(server);
  const { port } = await server.listen({ host: "127.0.0.1", port: 0 });
  return `http://127.0.0.1:${port}`;
}

async function get(url: string, method = "GET"): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, body: await res.text() };
}

describe("parseListen", () => {
  it("reads HOST:PORT, :PORT, PORT and [IPv6]:PORT; without a host, loopback only", () => {
    expect(parseListen("0.0.0.0:8080")).toStrictEqual({ host: "0.0.0.0", port: 8080 });
    expect(parseListen(":9090")).toStrictEqual({ host: "127.0.0.1", port: 9090 });
    expect(parseListen("9090")).toStrictEqual({ host: "127.0.0.1", port: 9090 });
    expect(parseListen("127.0.0.1:0")).toStrictEqual({ host: "127.0.0.1", port: 0 });
    expect(parseListen("[::1]:8080")).toStrictEqual({ host: "::1", port: 8080 });
    expect(parseListen("localhost:80")).toStrictEqual({ host: "localhost", port: 80 });
  });

  it("refuses anything else", () => {
    for (const bad of ["0.0.0.0", "host:port", "1.2.3.4:70000", "::1:80", "", "70000", "80a"]) {
      expect(() => parseListen(bad), bad).toThrow(/is not HOST:PORT or PORT/);
    }
  });
});

describe("health routes", () => {
  it("/healthz answers 200 while the process runs; /readyz waits for the initial sync and the sink", async () => {
    let synced = false;
    let sinkAnswers = false;
    const url = await start(addHealthRoutes(new OpsServer(log), { synced: () => synced, sinkPing: async () => sinkAnswers, sinkCheckMaxAgeMs: 0 }));

    expect(await get(`${url}/healthz`)).toStrictEqual({ status: 200, body: "ok\n" });
    expect(await get(`${url}/readyz`)).toStrictEqual({ status: 503, body: "not ready: initial sync not complete; the graph sink does not answer\n" });
    synced = true;
    expect(await get(`${url}/readyz`)).toStrictEqual({ status: 503, body: "not ready: the graph sink does not answer\n" });
    sinkAnswers = true;
    expect(await get(`${url}/readyz`)).toStrictEqual({ status: 200, body: "ok\n" });
    expect(await get(`${url}/readyz?verbose=1`)).toStrictEqual({ status: 200, body: "ok\n" });
    expect((await get(`${url}/readyz`, "HEAD")).status).toBe(200);
  });

  it("a sink ping that hangs or throws makes it not ready, within the ping timeout", async () => {
    const hanging = await start(addHealthRoutes(new OpsServer(log), { synced: () => true, sinkPing: () => new Promise(() => undefined), pingTimeoutMs: 100 }));
    expect(await get(`${hanging}/readyz`)).toStrictEqual({ status: 503, body: "not ready: the graph sink does not answer\n" });
    const throwing = await start(addHealthRoutes(new OpsServer(log), { synced: () => true, sinkPing: () => Promise.reject(new Error("down")) }));
    expect((await get(`${throwing}/readyz`)).status).toBe(503);
  });

  it("reuses a sink check for up to its max age, with one check in flight at a time", async () => {
    let pings = 0;
    let answers = true;
    const sinkPing = async (): Promise<boolean> => {
      pings += 1;
      await new Promise((r) => setTimeout(r, 20));
      return answers;
    };
    const url = await start(addHealthRoutes(new OpsServer(log), { synced: () => true, sinkPing, sinkCheckMaxAgeMs: 300 }));
    const replies = await Promise.all(Array.from({ length: 10 }, () => get(`${url}/readyz`)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    for (let i = 0; i < 5; i++) expect((await get(`${url}/readyz`)).status).toBe(200);
    expect(pings).toBe(1);
    answers = false;
    await new Promise((r) => setTimeout(r, 350));
    expect((await get(`${url}/readyz`)).status).toBe(503);
    expect(pings).toBe(2);
  });

  it("without a sink (--output jsonl) readiness is the initial sync alone", async () => {
    const url = await start(addHealthRoutes(new OpsServer(log), { synced: () => true }));
    expect(await get(`${url}/readyz`)).toStrictEqual({ status: 200, body: "ok\n" });
  });

  it("further problems (namespace discovery forbidden) keep it not ready, each named, until they clear", async () => {
    let problems = ['cluster "local": namespace discovery forbidden (the agent may not list and watch namespaces): namespaces is forbidden'];
    let synced = false;
    const url = await start(addHealthRoutes(new OpsServer(log), { synced: () => synced, problems: () => problems }));
    expect(await get(`${url}/readyz`)).toStrictEqual({
      status: 503,
      body: 'not ready: initial sync not complete; cluster "local": namespace discovery forbidden (the agent may not list and watch namespaces): namespaces is forbidden\n',
    });
    synced = true;
    problems = [];
    expect(await get(`${url}/readyz`)).toStrictEqual({ status: 200, body: "ok\n" });
  });

  it("takes more routes; unknown paths are 404, other methods 405, a failing handler 500", async () => {
    const server = addHealthRoutes(new OpsServer(log), { synced: () => true })
      .route("/metrics", () => ({ status: 200, body: "# HELP x\n", contentType: "text/plain; version=0.0.4" }))
      .route("/boom", () => {
        throw new Error("boom");
      });
    const url = await start(server);
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4");
    expect(await get(`${url}/nope`)).toStrictEqual({ status: 404, body: "not found; try /boom, /healthz, /metrics, /readyz\n" });
    expect((await get(`${url}/healthz`, "POST")).status).toBe(405);
    expect(await get(`${url}/boom`)).toStrictEqual({ status: 500, body: "internal error\n" });
  });

  it("close() ends the server; listening on a taken port fails", async () => {
    const first = new OpsServer(log);
    const url = await start(first);
    const port = Number(new URL(url).port);
    await expect(new OpsServer(log).listen({ host: "127.0.0.1", port })).rejects.toThrow(/EADDRINUSE/);
    await first.close();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
