// Credentials as plain data: what the main thread sends observer threads instead of a
// KubeConfig (so the threads never load client-node).
import { describe, expect, it } from "vitest";
import { KubeConfig } from "@kubernetes/client-node";
import { kubeConfigAuth, tlsValue } from "../../../core/kube/auth.js";

function config(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:6443", caData: Buffer.from("CA-PEM").toString("base64"), ...cluster }],
    users: [{ name: "u", ...user }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

describe("kubeConfigAuth", () => {
  it("turns a token user into the server, the CA and a bearer header", async () => {
    const options = await kubeConfigAuth(config({ token: "t0ken" })).options();
    expect(options.server).toBe("https://127.0.0.1:6443");
    expect(Buffer.from(options.ca as Uint8Array).toString()).toBe("CA-PEM");
    expect(options.headers?.Authorization).toBe("Bearer t0ken");
    expect(options.cert).toBeUndefined();
  });

  it("carries client certificates, skip-verify and the TLS server name", async () => {
    const pem = (s: string) => Buffer.from(s).toString("base64");
    const options = await kubeConfigAuth(
      config({ certData: pem("CERT"), keyData: pem("KEY") }, { skipTLSVerify: true, tlsServerName: "api.internal" }),
    ).options();
    expect(Buffer.from(options.cert as Uint8Array).toString()).toBe("CERT");
    expect(Buffer.from(options.key as Uint8Array).toString()).toBe("KEY");
    expect(options.rejectUnauthorized).toBe(false);
    expect(options.servername).toBe("api.internal");
  });

  it("survives a structured clone (a thread boundary) and gives TLS Buffers back", async () => {
    const cloned = structuredClone(await kubeConfigAuth(config({ token: "t" })).options());
    const ca = tlsValue(cloned.ca);
    expect(Buffer.isBuffer(ca)).toBe(true);
    expect(String(ca)).toBe("CA-PEM");
    expect(tlsValue("pem-text")).toBe("pem-text");
  });

  it("refuses a kubeconfig without a current cluster", () => {
    expect(() => kubeConfigAuth(new KubeConfig())).toThrow(/no current cluster/);
  });
});
