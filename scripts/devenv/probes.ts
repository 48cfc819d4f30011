// Readiness probes: each returns true only when the server answers as ready.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { existsSync, readFileSync } from "node:fs";

function get(url: string, options: { ca?: string; token?: string; insecure?: boolean } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const make = target.protocol === "https:" ? httpsRequest : httpRequest;
    const req = make(target, { method: "GET", headers, ca: options.ca, rejectUnauthorized: !options.insecure, timeout: 3000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolveGet({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

export async function etcdHealthy(clientUrl: string): Promise<boolean> {
  const res = await get(`${clientUrl}/health`);
  return res.status === 200 && JSON.parse(res.body).health === "true";
}

export async function apiserverReady(url: string, caFile: string, token: string): Promise<boolean> {
  const res = await get(`${url}/readyz`, { ca: readFileSync(caFile, "utf8"), token });
  return res.status === 200;
}

/** kube-controller-manager serves /healthz on its own self-signed certificate. */
export async function controllerManagerHealthy(port: number): Promise<boolean> {
  const res = await get(`https://127.0.0.1:${port}/healthz`, { insecure: true });
  return res.status === 200;
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(2000);
    socket.on("connect", () => {
      socket.destroy();
      resolveOpen(true);
    });
    socket.on("timeout", () => {
      socket.destroy();
      resolveOpen(false);
    });
    socket.on("error", () => resolveOpen(false));
  });
}

/** The Neo4j launcher prints its ready line once the database is available. */
export async function neo4jReady(log: string, port: number): Promise<boolean> {
  if (!existsSync(log) || !readFileSync(log, "utf8").includes(`NEO4J READY bolt://127.0.0.1:${port}`)) return false;
  return tcpOpen(port);
}
