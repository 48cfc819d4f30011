// The local etcd through its HTTP/JSON gateway: for changing the cluster's state while
// kube-apiserver is down (deletes "while disconnected") and for compacting its history
// (which makes the apiserver answer old resourceVersions with 410 Gone).
const b64 = (text: string): string => Buffer.from(text).toString("base64");

async function call(etcdUrl: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${etcdUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

export async function etcdDelete(etcdUrl: string, key: string): Promise<number> {
  const result = await call(etcdUrl, "/v3/kv/deleterange", { key: b64(key) });
  return Number(result.deleted ?? 0);
}

export async function etcdPut(etcdUrl: string, key: string, value: string): Promise<void> {
  await call(etcdUrl, "/v3/kv/put", { key: b64(key), value: b64(value) });
}

export async function etcdRevision(etcdUrl: string): Promise<number> {
  const result = await call(etcdUrl, "/v3/kv/range", { key: b64("/registry/health-probe-none") });
  return Number((result.header as { revision: string }).revision);
}

export async function etcdCompact(etcdUrl: string, revision: number): Promise<void> {
  await call(etcdUrl, "/v3/kv/compaction", { revision: String(revision), physical: true });
}
