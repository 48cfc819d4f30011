// What only the Neo4j sink has: connection errors that name the server (never the
// password), the constraints and indexes init() creates, and refusing bad ops before
// anything is written. The shared semantics are in sink-contract.test.ts.
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { int as neo4jInt, type Driver } from "neo4j-driver";
import type { GraphOp, GraphSchema } from "../../../core/graph/model.js";
import { GraphContractError, Neo4jSink, Neo4jSinkError } from "../../../core/graph/neo4j-sink.js";
import { devEnv, neo4jDriver } from "../../support/cluster.js";

const SCHEMA: GraphSchema = { labels: ["Pod", "Secret"], relationships: ["USES_SECRET"] };

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const pod: GraphOp = {
  op: "upsert",
  node: { label: "Pod", key: "c/ns/Pod/a", scope: "c/ns/Pod", properties: { name: "a" } },
  owned: [],
  placeholders: [{ label: "Secret", key: "c/ns/Secret/s", properties: { name: "s" } }],
  edges: [{ type: "USES_SECRET", from: "c/ns/Pod/a", to: "c/ns/Secret/s", properties: { key: "password" } }],
};

describe("Neo4j sink: connecting", () => {
  it("names the URI and the user, never the password, when the credentials are wrong", async () => {
    const { boltUrl, user } = devEnv().neo4j;
    const password = "not-the-password-1234";
    const error = await Neo4jSink.connect({ uri: boltUrl, username: user, password }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Neo4jSinkError);
    const message = (error as Error).message;
    expect(message).toContain(`Neo4j at ${boltUrl} refused the credentials of user "${user}"`);
    expect(message).not.toContain(password);
  });

  it("says the server is unavailable when nothing listens, and ping answers false without throwing", async () => {
    const uri = `bolt://127.0.0.1:${await closedPort()}`;
    const error = await Neo4jSink.connect({ uri, username: "neo4j", password: "secret-password" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Neo4jSinkError);
    expect((error as Error).message).toMatch(new RegExp(`^Neo4j at ${uri.replace(/[./]/g, "\\$&")} is unavailable \\(connecting\\)`));

    const warnings: string[] = [];
    const sink = new Neo4jSink({ uri, username: "neo4j", password: "secret-password", log: { warn: (_obj, msg) => void warnings.push(msg) } });
    try {
      expect(await sink.ping()).toBe(false);
      expect(await sink.ping()).toBe(false);
      expect(warnings).toEqual(["Neo4j does not answer"]); // once per outage, not per probe
    } finally {
      await sink.close();
    }
  });

  it("keeps credentials in the URI out of messages", async () => {
    const uri = `bolt://someone:hunter2-in-uri@127.0.0.1:${await closedPort()}`;
    const error = await Neo4jSink.connect({ uri, username: "neo4j", password: "x" }).catch((e: unknown) => e);
    expect((error as Error).message).not.toContain("hunter2");
    expect((error as Error).message).toContain("bolt://127.0.0.1:");
  });
});

/** A connected sink (init()ed when asked) on the dev Neo4j, and an admin driver; the
 *  graph is emptied before and after the describe block that calls this. */
function sinkOnEmptyGraph(options: { init: boolean }): { readonly sink: Neo4jSink; readonly admin: Driver } {
  const held = {} as { sink: Neo4jSink; admin: Driver };
  beforeAll(async () => {
    const { boltUrl, user, password } = devEnv().neo4j;
    held.admin = neo4jDriver();
    await held.admin.executeQuery("MATCH (n) DETACH DELETE n");
    held.sink = await Neo4jSink.connect({ uri: boltUrl, username: user, password });
    if (options.init) await held.sink.init(SCHEMA);
  });
  afterAll(async () => {
    await held.admin.executeQuery("MATCH (n) DETACH DELETE n");
    await held.sink.close();
    await held.admin.close();
  });
  return held;
}

describe("Neo4j sink: schema and refusals", () => {
  const graph = sinkOnEmptyGraph({ init: false });

  it("refuses apply() before init()", async () => {
    await expect(graph.sink.apply([pod])).rejects.toThrow(/needs init\(schema\) before apply\(\)/);
  });

  it("refuses labels that are not labels, and Entity as a primary label", async () => {
    await expect(graph.sink.init({ labels: ["Pod`) DETACH DELETE n //"], relationships: [] })).rejects.toThrow(GraphContractError);
    await expect(graph.sink.init({ labels: ["Entity"], relationships: [] })).rejects.toThrow(/"Entity" is a label the sink itself uses/);
    await expect(graph.sink.init({ labels: [], relationships: ["uses-secret"] })).rejects.toThrow(/not a valid relationship type/);
  });

  it("creates the key constraint and owner/scope indexes the queries use, idempotently, and drops the unused ones earlier releases made", async () => {
    // What an earlier release made per label and per type, and an index of the user's own.
    await graph.admin.executeQuery("CREATE CONSTRAINT ko_Pod_key IF NOT EXISTS FOR (n:Pod) REQUIRE n.key IS UNIQUE");
    await graph.admin.executeQuery("CREATE INDEX ko_USES_SECRET_owner IF NOT EXISTS FOR ()-[r:USES_SECRET]-() ON (r.owner)");
    await graph.admin.executeQuery("CREATE INDEX users_pod_name IF NOT EXISTS FOR (n:Pod) ON (n.name)");
    await graph.sink.init(SCHEMA);
    await graph.sink.init(SCHEMA);
    const constraints = await graph.admin.executeQuery(
      "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties RETURN type, labelsOrTypes[0] AS on, properties[0] AS property",
    );
    const have = constraints.records.map((r) => `${r.get("type")} ${r.get("on")}.${r.get("property")}`);
    expect(have).toContain("UNIQUENESS Entity.key");
    expect(have).not.toContain("UNIQUENESS Pod.key");
    const indexes = await graph.admin.executeQuery(
      "SHOW INDEXES YIELD name, entityType, labelsOrTypes, properties, state RETURN name, entityType, labelsOrTypes[0] AS on, properties[0] AS property, state",
    );
    const online = indexes.records.filter((r) => r.get("state") === "ONLINE").map((r) => `${r.get("entityType")} ${r.get("on")}.${r.get("property")}`);
    expect(online).toEqual(expect.arrayContaining(["NODE Entity.owner", "NODE Entity.scope", "NODE Pod.name"]));
    expect(online).not.toContain("RELATIONSHIP USES_SECRET.owner");
    await graph.admin.executeQuery("DROP INDEX users_pod_name IF EXISTS");
  });

  it("refuses a batch with an undeclared label before writing any of it", async () => {
    await graph.sink.init(SCHEMA);
    const deployment: GraphOp = {
      op: "upsert",
      node: { label: "Deployment", key: "c/ns/Deployment/d", properties: {} },
      owned: [],
      placeholders: [],
      edges: [],
    };
    await expect(graph.sink.apply([pod, deployment])).rejects.toThrow(/graph op #1 \(upsert "c\/ns\/Deployment\/d"\) node: label "Deployment" is not declared/);
    // Every node but init()'s storage version (:KoMeta).
    const count = await graph.admin.executeQuery("MATCH (n) WHERE NOT n:KoMeta RETURN count(n) AS n");
    expect(count.records[0]?.get("n").toNumber()).toBe(0);
  });

  it("stores numbers as floats and reads them back as JS numbers", async () => {
    await graph.sink.init(SCHEMA);
    const op: GraphOp = {
      op: "upsert",
      node: { label: "Pod", key: "c/ns/Pod/n", properties: { int: 3, list: [1, 2] } },
      owned: [],
      placeholders: [],
      edges: [],
    };
    await graph.sink.apply([op]);
    const stored = await graph.admin.executeQuery("MATCH (n:Pod {key: 'c/ns/Pod/n'}) RETURN valueType(n.int) AS t");
    expect(stored.records[0]?.get("t")).toBe("FLOAT NOT NULL");
    const lines = [];
    for await (const line of graph.sink.export()) lines.push(line);
    expect(lines[0]?.properties).toMatchObject({ int: 3, list: [1, 2] });
    expect((await graph.sink.stats()).nodes).toEqual({ Pod: 1 });
  });
});

describe("Neo4j sink: reading while another transaction deletes", () => {
  const graph = sinkOnEmptyGraph({ init: true });

  // Neo4j reads at READ COMMITTED: a node deleted while the export's scan passes it came
  // back with a null key, and the export (verify's read of the graph) threw a TypeError.
  it("export and incoming skip nodes and edges deleted mid-read, and never throw", async () => {
    const total = 6000;
    await graph.admin.executeQuery(
      `UNWIND range(1, $n) AS i
       CREATE (p:Entity:Pod {key: 'c/ns/Pod/p' + i, name: 'p' + i})-[:USES_SECRET {key: 'k'}]->(:Entity:Secret {key: 'c/ns/Secret/s' + i, name: 's' + i})`,
      { n: neo4jInt(total) },
    );
    let deleting = true;
    const deleter = (async () => {
      // Small transactions, so that many commit while one export scans.
      for (let i = 1; i <= total; i += 25) {
        await graph.admin.executeQuery("MATCH (n:Entity) WHERE n.key IN $keys DETACH DELETE n", {
          keys: Array.from({ length: 25 }, (_, j) => [`c/ns/Pod/p${i + j}`, `c/ns/Secret/s${i + j}`]).flat(),
        });
      }
      deleting = false;
    })();
    let exports = 0;
    let partial = 0;
    try {
      while (deleting) {
        const lines = [];
        for await (const line of graph.sink.export()) lines.push(line);
        for (const line of lines) {
          if (line.type === "node") expect(typeof line.key).toBe("string");
          else expect([typeof line.from, typeof line.to]).toEqual(["string", "string"]);
        }
        await graph.sink.incoming(`c/ns/Secret/s${total}`);
        exports += 1;
        if (lines.length > 0 && lines.length < total * 3) partial += 1;
      }
    } finally {
      await deleter; // before afterAll closes the driver it uses
    }
    expect(exports).toBeGreaterThan(0);
    expect(partial).toBeGreaterThan(0); // the exports did overlap the deletes
    const after = [];
    for await (const line of graph.sink.export()) after.push(line);
    expect(after).toEqual([]);
  });
});
