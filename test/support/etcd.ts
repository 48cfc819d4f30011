// Direct access to the local etcd through its HTTP/JSON gateway: for changing the
// cluster's state while kube-apiserver is down (deletes "while disconnected").
import { devEnv } from "./cluster.js";

const b64 = (text: string): string => Buffer.from(text).toString("base64");

async function call(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${devEnv().etcdUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

export async function etcdDelete(key: string): Promise<number> {
  const result = await call("/v3/kv/deleterange", { key: b64(key) });
  return Number(result.deleted ?? 0);
}

export async function etcdPut(key: string, value: string): Promise<void> {
  await call("/v3/kv/put", { key: b64(key), value: b64(value) });
}

export async function etcdRevision(): Promise<number> {
  const result = await call("/v3/kv/range", { key: b64("/registry/health-probe-none") });
  return Number((result.header as { revision: string }).revision);
}

export async function etcdCompact(revision: number): Promise<void> {
  await call("/v3/kv/compaction", { revision: String(revision), physical: true });
}
