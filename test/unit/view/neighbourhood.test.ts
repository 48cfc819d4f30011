// What `graph view` draws: hops in both directions, a Volume in its Pod's hop, the cap, and
// every edge type (none filtered), read from a real embedded graph. The same reads on Neo4j
// and in a browser: test/integration/insight/graph-view.test.ts.
import { describe, expect, it } from "vitest";
import type { GraphEdge, GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { readView, TargetNotFoundError } from "../../../core/view/neighbourhood.js";
import { renderPage, viewJson } from "../../../core/view/page.js";
import { parseServeAddress } from "../../../core/view/serve.js";

const k = (kind: string, name: string): string => `c/ns/${kind}/${name}`;
const S = k("Secret", "db");
const P = k("Pod", "web");
const V = `${P}/volume/creds`;
const SA = k("ServiceAccount", "web");
const RB = k("RoleBinding", "web-secrets");
const R = k("Role", "secret-reader");
const Q = k("Pod", "reader");

function upsert(kind: string, key: string, edges: Omit<GraphEdge, "properties">[], owned: string[] = []): GraphOp {
  const name = key.split("/").pop()!;
  return {
    op: "upsert",
    node: { label: kind, key, properties: { name, namespace: "ns" }, scope: `c/ns/${kind}` },
    owned: owned.map((o) => ({ label: "Volume", key: o, properties: { name: o.split("/").pop()! } })),
    // What it points at, as placeholders (they exist already: left as they are).
    placeholders: edges
      .filter((e) => e.to !== key && !owned.includes(e.to))
      .map((e) => ({ label: e.to.split("/")[2]!, key: e.to, properties: { name: e.to.split("/").pop()!, namespace: "ns" } })),
    edges: edges.map((e) => ({ ...e, properties: e.type === "USES_SECRET" ? { via: "env", env: "DB_PASSWORD" } : {} })),
  };
}

async function graph(): Promise<SqliteGraphSink> {
  const sink = new SqliteGraphSink(":memory:");
  await sink.apply([
    upsert("Secret", S, []),
    upsert("ServiceAccount", SA, []),
    upsert("Role", R, []),
    upsert(
      "Pod",
      P,
      [
        { type: "USES_VOLUME", from: P, to: V },
        { type: "BACKED_BY", from: V, to: S },
        { type: "RUNS_AS", from: P, to: SA },
      ],
      [V],
    ),
    upsert("RoleBinding", RB, [
      { type: "SUBJECT", from: RB, to: SA },
      { type: "GRANTS", from: RB, to: R },
    ]),
    // A derived edge type no one told the view about: drawn like any other.
    upsert("Pod", Q, [{ type: "CAN_READ_SECRET", from: Q, to: S }]),
  ]);
  return sink;
}

const hops = (v: { nodes: { key: string; hop: number }[] }): Record<string, number> => Object.fromEntries(v.nodes.map((n) => [n.key, n.hop]));

describe("graph view's neighbourhood", () => {
  it("counts hops both ways, with a Volume in its Pod's hop", async () => {
    const sink = await graph();
    expect(hops(await readView(sink, S, { depth: 0, maxNodes: 300 }))).toEqual({ [S]: 0 });
    expect(hops(await readView(sink, S, { depth: 1, maxNodes: 300 }))).toEqual({ [S]: 0, [V]: 1, [P]: 1, [Q]: 1 });
    expect(hops(await readView(sink, S, { depth: 2, maxNodes: 300 }))).toEqual({ [S]: 0, [V]: 1, [P]: 1, [Q]: 1, [SA]: 2 });
    const three = await readView(sink, S, { depth: 3, maxNodes: 300 });
    expect(hops(three)).toEqual({ [S]: 0, [V]: 1, [P]: 1, [Q]: 1, [SA]: 2, [RB]: 3 });
    expect(three.capped).toBe(false);
    expect(three.edges.map((e) => `${e.from} ${e.rel} ${e.to}`).sort()).toEqual(
      [`${P} USES_VOLUME ${V}`, `${V} BACKED_BY ${S}`, `${P} RUNS_AS ${SA}`, `${RB} SUBJECT ${SA}`, `${Q} CAN_READ_SECRET ${S}`].sort(),
    );
    // From the other end, the same distances.
    expect(hops(await readView(sink, R, { depth: 4, maxNodes: 300 }))).toEqual({ [R]: 0, [RB]: 1, [SA]: 2, [P]: 3, [V]: 3, [S]: 4 });
    expect(three.nodes.find((n) => n.key === S)!.label).toBe("Secret ns/db");
    await sink.close();
  });

  it("keeps the nearest nodes when capped and says so; a missing object is an error", async () => {
    const sink = await graph();
    const capped = await readView(sink, S, { depth: 2, maxNodes: 3 });
    expect(capped.capped).toBe(true);
    expect(hops(capped)).toEqual({ [S]: 0, [P]: 1, [Q]: 1 });
    expect(capped.edges.every((e) => [S, P, Q].includes(e.from) && [S, P, Q].includes(e.to))).toBe(true);
    await expect(readView(sink, k("Secret", "nope"), { depth: 2, maxNodes: 3 })).rejects.toThrow(TargetNotFoundError);
    await sink.close();
  });

  it("puts nothing on the page that could end its script element", async () => {
    const sink = await graph();
    const view = await readView(sink, S, { depth: 1, maxNodes: 300 });
    view.nodes[0]!.properties.note = "</script><script>alert(1)</script>\u2028";
    expect(viewJson(view)).not.toContain("<");
    expect(JSON.parse(viewJson(view)).nodes[0].properties.note).toBe("</script><script>alert(1)</script>\u2028");
    const page = renderPage(view);
    expect(page).not.toContain("<script>alert(1)");
    expect(page).toContain("connect-src 'none'");
    expect(renderPage(view, { liveUrl: "/view.json" })).toContain("connect-src 'self'");
    await sink.close();
  });

  it("reads --serve's address", () => {
    expect(parseServeAddress("8080")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(parseServeAddress("0.0.0.0:9000")).toEqual({ host: "0.0.0.0", port: 9000 });
    expect(parseServeAddress("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
    expect(() => parseServeAddress("localhost:99999")).toThrow("--serve takes HOST:PORT");
    expect(() => parseServeAddress("http://x:1")).toThrow("--serve takes HOST:PORT");
  });
});
