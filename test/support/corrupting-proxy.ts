// A TLS proxy in front of the local kube-apiserver that can damage what it relays: a
// LIST body rewritten whole, or one line of a watch stream; or it answers a request
// itself (a 429 with a Retry-After, as an overloaded gateway would). The real apiserver
// serves the real objects; only the bytes on the way to the agent are changed, as a
// broken middlebox or a cut connection would. It serves the apiserver's own certificate, so the
// dev kubeconfig's CA trusts it.
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { devEnv } from "./cluster.js";

/** A reply the proxy sends itself, without asking the apiserver. */
export interface ProxyReply {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface Corruption {
  /** Any request: a reply to send instead of relaying it, or undefined. */
  answer?(method: string, path: string): ProxyReply | undefined;
  /** A whole LIST body (not a watch): return the body to send instead, or undefined. */
  list?(path: string, body: string): string | undefined;
  /** One line of a watch stream: return the line to send instead, or undefined. */
  watchLine?(path: string, line: string): string | undefined;
}

export interface CorruptingProxy {
  readonly url: string;
  /** Bodies and lines changed so far. */
  readonly corrupted: string[];
  /** Requests the apiserver could not be asked (the agent saw its connection close). */
  readonly errors: string[];
  /** Every request received ("GET /api/v1/..."), in order, answered by the proxy or not. */
  readonly requests: string[];
  /** A kubeconfig (admin token) that talks to the apiserver through the proxy. */
  kubeconfig(dir: string): string;
  close(): Promise<void>;
}

export async function startCorruptingProxy(corruption: Corruption): Promise<CorruptingProxy> {
  const env = devEnv();
  const upstream = new URL(env.apiserverUrl);
  const ca = readFileSync(env.caFile);
  const corrupted: string[] = [];
  const errors: string[] = [];
  const requests: string[] = [];
  const server: Server = createServer({ cert: readFileSync(env.layout.pki.servingCert), key: readFileSync(env.layout.pki.servingKey) }, (req, res) => {
    const path = req.url ?? "/";
    const watching = /[?&]watch=(true|1)\b/.test(path);
    requests.push(`${req.method} ${path}`);
    const reply = corruption.answer?.(req.method ?? "GET", path);
    if (reply) {
      const out = Buffer.from(reply.body, "utf8");
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers, "content-length": String(out.length) });
      res.end(out);
      req.resume();
      return;
    }
    const headers = { ...req.headers, host: upstream.host, "accept-encoding": "identity" };
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers, ca }, (up) => {
      const status = up.statusCode ?? 502;
      const outHeaders = { ...up.headers };
      if (watching && corruption.watchLine) {
        res.writeHead(status, outHeaders);
        // As the apiserver does: a quiet watch is open (headers sent) before any event.
        res.flushHeaders();
        let partial = "";
        up.setEncoding("utf8");
        up.on("data", (chunk: string) => {
          partial += chunk;
          const lines = partial.split("\n");
          partial = lines.pop()!;
          for (const line of lines) {
            const changed = corruption.watchLine!(path, line);
            if (changed !== undefined) corrupted.push(`watch ${path}`);
            res.write(`${changed ?? line}\n`);
          }
        });
        up.on("end", () => res.end(partial));
        return;
      }
      if (watching || !corruption.list || req.method !== "GET") {
        res.writeHead(status, outHeaders);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on("data", (c: Buffer) => chunks.push(c));
      up.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const changed = status === 200 ? corruption.list!(path, body) : undefined;
        if (changed !== undefined) corrupted.push(`list ${path}`);
        const out = Buffer.from(changed ?? body, "utf8");
        delete outHeaders["transfer-encoding"];
        outHeaders["content-length"] = String(out.length);
        res.writeHead(status, outHeaders);
        res.end(out);
      });
    });
    forward.on("error", (error) => {
      errors.push(`${req.method} ${path}: ${error.message}`);
      res.destroy();
    });
    // The agent went away (a watch it gave up on): stop asking the apiserver.
    res.on("close", () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    corrupted,
    errors,
    requests,
    kubeconfig(dir: string): string {
      const file = join(dir, "kubeconfig-proxy");
      const yaml = [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: proxied\n  cluster:\n    server: ${url}\n    certificate-authority: ${env.caFile}`,
        "users:",
        `- name: admin\n  user:\n    token: ${env.adminToken}`,
        "contexts:",
        "- name: proxied\n  context:\n    cluster: proxied\n    user: admin",
        "current-context: proxied",
        "",
      ].join("\n");
      writeFileSync(file, yaml, { mode: 0o600 });
      return file;
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
