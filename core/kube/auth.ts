// What one request to the API server needs to authenticate, as plain data. The main
// thread computes it with client-node's KubeConfig (tokens, client certificates, exec
// plugins, rotated in-cluster tokens); observer threads ask for it over their port, so
// they never load client-node (about 65 MB and 2.3 s per thread; bench/README.md).
import type { RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

export interface AuthOptions {
  /** The API server URL. */
  server: string;
  ca?: Uint8Array | string;
  cert?: Uint8Array | string;
  key?: Uint8Array | string;
  pfx?: Uint8Array | string;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
  headers?: Record<string, string>;
  /** user:password, for basic authentication. */
  auth?: string;
}

/** Fresh options for each request (a token may have been rotated or refreshed). */
export interface RequestAuth {
  options(): Promise<AuthOptions>;
}

const TLS_FIELDS = ["ca", "cert", "key", "pfx"] as const;

/** Authentication from a KubeConfig (main thread; tests). Throws without a current cluster. */
export function kubeConfigAuth(kc: KubeConfig): RequestAuth {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig has no current cluster");
  return {
    async options() {
      const applied: RequestOptions = {};
      await kc.applyToHTTPSOptions(applied);
      const out: AuthOptions = { server };
      for (const field of TLS_FIELDS) {
        const value = applied[field];
        // One value each in practice (client-node sets a single Buffer or string).
        if (typeof value === "string" || value instanceof Uint8Array) out[field] = value;
      }
      if (typeof applied.passphrase === "string") out.passphrase = applied.passphrase;
      if (applied.rejectUnauthorized !== undefined) out.rejectUnauthorized = applied.rejectUnauthorized;
      if (typeof applied.servername === "string") out.servername = applied.servername;
      if (typeof applied.auth === "string") out.auth = applied.auth;
      const headers = applied.headers as Record<string, unknown> | undefined;
      if (headers) out.headers = Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => typeof e[1] === "string"));
      return out;
    },
  };
}

/** Values that crossed a thread boundary arrive as Uint8Array: TLS wants Buffers. */
export function tlsValue(value: Uint8Array | string | undefined): Buffer | string | undefined {
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}
