// One-off JSON requests to an API server with a KubeConfig's credentials (tokens, client
// certificates, exec plugins: client-node's applyToHTTPSOptions), for operational
// commands such as `doctor`. The observers use core/kube/client.ts instead.
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

export interface KubeResponse {
  status: number;
  body: unknown;
}

export class KubeRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeRequestError";
  }
}

/** Sends one request and resolves with the status and parsed JSON body (any status). */
export async function kubeJson(kc: KubeConfig, method: "GET" | "POST", path: string, body?: unknown, timeoutMs = 10_000): Promise<KubeResponse> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new KubeRequestError("the kubeconfig has no current cluster");
  const url = new URL(server);
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const secure = url.protocol === "https:";
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const make = secure ? httpsRequest : httpRequest;
  return new Promise<KubeResponse>((resolve, reject) => {
    const req = make({
      ...(secure
        ? {
            ca: options.ca,
            cert: options.cert,
            key: options.key,
            pfx: options.pfx,
            passphrase: options.passphrase,
            rejectUnauthorized: options.rejectUnauthorized,
            servername: options.servername,
          }
        : {}),
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port || (secure ? 443 : 80),
      path: `${url.pathname.replace(/\/$/, "")}${path}`,
      method,
      auth: options.auth,
      headers: {
        ...(options.headers as Record<string, string> | undefined),
        accept: "application/json",
        "user-agent": "kube-observer/doctor",
        ...(payload ? { "content-type": "application/json", "content-length": String(payload.length) } : {}),
      },
    });
    const timer = setTimeout(() => req.destroy(new KubeRequestError(`no answer to ${method} ${path} within ${timeoutMs / 1000} s`)), timeoutMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error instanceof KubeRequestError ? error : new KubeRequestError(`${method} ${path}: ${error.message}`));
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", (error) => {
        clearTimeout(timer);
        reject(new KubeRequestError(`${method} ${path}: ${error.message}`));
      });
      res.on("end", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* not JSON: keep the text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.end(payload);
  });
}

/** The message of a metav1.Status body, or a short form of whatever came back. */
export function statusMessage(response: KubeResponse): string {
  const body = response.body as { message?: unknown } | string | undefined;
  if (body && typeof body === "object" && typeof body.message === "string") return body.message;
  // Not a Status: a proxy's page or a body cut short. Its text is not repeated (errors
  // never quote a response), its size is.
  if (typeof body === "string" && body)
    return `HTTP ${response.status} with a body that is not a Kubernetes Status (${Buffer.byteLength(body)} bytes, not shown)`;
  return `HTTP ${response.status}`;
}
