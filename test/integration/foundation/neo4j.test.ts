// The local Neo4j is real: authentication is on, uniqueness constraints are enforced,
// and writes round-trip through neo4j-driver over Bolt.
import { afterAll, describe, expect, it } from "vitest";
import neo4j from "neo4j-driver";
import { devEnv, neo4jDriver, uniqueName } from "../../support/cluster.js";

const driver = neo4jDriver();
const label = `Foundation_${uniqueName("t").replace("-", "_")}`;

afterAll(async () => {
  await driver.executeQuery(`MATCH (n:${label}) DETACH DELETE n`).catch(() => undefined);
  await driver.executeQuery(`DROP CONSTRAINT ${label}_key IF EXISTS`).catch(() => undefined);
  await driver.close();
});

describe("Neo4j over Bolt", () => {
  it("refuses a wrong password", async () => {
    const wrong = neo4j.driver(devEnv().neo4j.boltUrl, neo4j.auth.basic("neo4j", "not-the-password"));
    try {
      await expect(wrong.verifyConnectivity()).rejects.toThrow(/unauthorized|authentication/i);
    } finally {
      await wrong.close();
    }
  });

  it("creates a uniqueness constraint, round-trips a write and rejects a duplicate key", async () => {
    await driver.executeQuery(`CREATE CONSTRAINT ${label}_key IF NOT EXISTS FOR (n:${label}) REQUIRE n.key IS UNIQUE`);
    const constraints = await driver.executeQuery("SHOW CONSTRAINTS YIELD name, type RETURN name, type");
    expect(constraints.records.map((r) => [r.get("name"), r.get("type")])).toContainEqual([`${label}_key`, "UNIQUENESS"]);

    await driver.executeQuery(`CREATE (n:${label} {key: $key, name: $name})`, { key: "c/ns/Pod/a", name: "a" });
    const read = await driver.executeQuery(`MATCH (n:${label} {key: $key}) RETURN n.name AS name`, { key: "c/ns/Pod/a" });
    expect(read.records.map((r) => r.get("name"))).toEqual(["a"]);

    await expect(driver.executeQuery(`CREATE (n:${label} {key: $key, name: $name})`, { key: "c/ns/Pod/a", name: "again" })).rejects.toMatchObject({
      code: "Neo.ClientError.Schema.ConstraintValidationFailed",
    });

    const count = await driver.executeQuery(`MATCH (n:${label}) RETURN count(n) AS n`);
    expect(count.records[0]?.get("n").toNumber()).toBe(1);
  });
});
