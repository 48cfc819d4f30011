// The embedded graph's storage schema version (core/graph/sqlite-schema.ts): a new file is
// stamped; a file written before versions existed, with the tables of an earlier release,
// is migrated in place with its data intact; a newer file is refused untouched; read-only
// opens read only the current version; a file that cannot be migrated is rebuilt.
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BEFORE_SELECTORS } from "./old-schemas.js";
import type { ExportLine, GraphOp } from "../../../core/graph/model.js";
import { GRAPH_SCHEMA_VERSION, GraphSchemaError, type SchemaLog } from "../../../core/graph/schema-version.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-schema-"));
let files = 0;
const newPath = (): string => join(dir, `graph-${++files}.sqlite`);

const WITH_SELECTORS = `${BEFORE_SELECTORS}
  CREATE TABLE selectors (owner TEXT NOT NULL, from_key TEXT NOT NULL, type TEXT NOT NULL, scope TEXT NOT NULL, spec TEXT NOT NULL, props TEXT NOT NULL);
  CREATE INDEX selectors_owner ON selectors(owner);
  CREATE INDEX selectors_scope ON selectors(scope);
  ALTER TABLE edges ADD COLUMN selected INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX edges_selected_to ON edges(to_key) WHERE selected = 1;`;

function pod(name: string, labels: string[], secret: string): GraphOp {
  const key = `c/ns/Pod/${name}`;
  return {
    op: "upsert",
    node: { label: "Pod", key, scope: "c/ns/Pod", properties: { name, labels } },
    owned: [{ label: "Volume", key: `${key}/volume/v`, properties: { name: "v", type: "secret" } }],
    placeholders: [
      { label: "Secret", key: `c/ns/Secret/${secret}`, properties: { name: secret } },
      { label: "ContainerImage", key: "docker.io/library/nginx:1.27", properties: { reference: "docker.io/library/nginx:1.27" } },
      { label: "Registry", key: "docker.io", properties: { host: "docker.io" } },
    ],
    edges: [
      { type: "USES_VOLUME", from: key, to: `${key}/volume/v`, properties: { mounts: ["c:/s:ro"] } },
      { type: "BACKED_BY", from: `${key}/volume/v`, to: `c/ns/Secret/${secret}`, properties: { source: "secret" } },
      { type: "RUNS_IMAGE", from: key, to: "docker.io/library/nginx:1.27", properties: { container: "c" } },
    ],
    links: [{ type: "FROM_REGISTRY", from: "docker.io/library/nginx:1.27", to: "docker.io", properties: {} }],
  };
}

const service: GraphOp = {
  op: "upsert",
  node: { label: "Service", key: "c/ns/Service/web", scope: "c/ns/Service", properties: { name: "web" } },
  owned: [],
  placeholders: [],
  edges: [],
  selectors: [{ type: "SELECTS", from: "c/ns/Service/web", scope: "c/ns/Pod", matchLabels: { app: "web" }, requirements: [], properties: {} }],
};

async function exported(sink: SqliteGraphSink): Promise<ExportLine[]> {
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  return lines;
}

/** A file an earlier release wrote: its tables (ddl), holding the rows a current sink
 *  stores for ops (the row format has not changed), and no version. */
async function oldFile(ddl: string, ops: GraphOp[]): Promise<{ path: string; expected: ExportLine[] }> {
  const source = new SqliteGraphSink(":memory:");
  await source.apply(ops);
  const expected = await exported(source);
  const rows = (source as unknown as { db: Database.Database }).db;
  const path = newPath();
  const old = new Database(path);
  old.exec(ddl);
  const hasSelected = ddl.includes("selected");
  for (const n of rows.prepare("SELECT * FROM nodes").all()) old.prepare("INSERT INTO nodes VALUES (@key, @label, @owner, @observed, @scope, @props)").run(n);
  for (const e of rows.prepare("SELECT * FROM edges").all() as Array<{ selected: number }>) {
    if (!hasSelected && e.selected === 1) throw new Error("a graph from before selectors has no selected edges");
    old
      .prepare(
        `INSERT INTO edges (type, from_key, to_key, owner, props${hasSelected ? ", selected" : ""}) VALUES (@type, @from_key, @to_key, @owner, @props${hasSelected ? ", @selected" : ""})`,
      )
      .run(e);
  }
  if (hasSelected)
    for (const s of rows.prepare("SELECT * FROM selectors").all())
      old.prepare("INSERT INTO selectors VALUES (@owner, @from_key, @type, @scope, @spec, @props)").run(s);
  old.close();
  await source.close();
  return { path, expected };
}

function userVersion(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma("user_version", { simple: true }) as number;
  } finally {
    db.close();
  }
}

function recordingLog(): SchemaLog & { lines: Array<{ level: string; obj: object; msg: string }> } {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  return { lines, info: (obj, msg) => void lines.push({ level: "info", obj, msg }), warn: (obj, msg) => void lines.push({ level: "warn", obj, msg }) };
}

const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("embedded graph storage schema version", () => {
  it("stamps a new file with the current version, and keeps it on the next open", async () => {
    const path = newPath();
    const log = recordingLog();
    const sink = new SqliteGraphSink(path, { log });
    expect(await sink.storageSchema()).toEqual({ found: "empty", version: GRAPH_SCHEMA_VERSION, action: "create" });
    await sink.close();
    expect(userVersion(path)).toBe(GRAPH_SCHEMA_VERSION);
    const again = new SqliteGraphSink(path, { log });
    expect(await again.storageSchema()).toEqual({ found: GRAPH_SCHEMA_VERSION, version: GRAPH_SCHEMA_VERSION, action: "keep" });
    await again.close();
    expect(log.lines).toEqual([]); // nothing to say about a new or current file
  });

  const layouts = [
    { name: "before selectors (no selectors table, no selected column)", ddl: BEFORE_SELECTORS, ops: [pod("a", ["app=web"], "s"), pod("b", ["app=db"], "t")] },
    {
      name: "before the edge identity index (selectors and selected edges)",
      ddl: WITH_SELECTORS,
      ops: [pod("a", ["app=web"], "s"), pod("b", ["app=db"], "t"), service],
    },
  ];

  it("migrates a file of version 1 in place: the stamp columns added, its graph unchanged", async () => {
    const path = newPath();
    const ops = [pod("a", ["app=web"], "s"), pod("b", ["app=db"], "t"), service];
    const first = new SqliteGraphSink(path);
    await first.apply(ops);
    const expected = await exported(first);
    await first.close();
    // As version 1 left it: no stamp columns.
    const db = new Database(path);
    db.exec(`ALTER TABLE nodes DROP COLUMN h_ms; ALTER TABLE nodes DROP COLUMN h_rv; ALTER TABLE nodes DROP COLUMN h_kind;
      ALTER TABLE edges DROP COLUMN h_ms; ALTER TABLE edges DROP COLUMN h_rv; PRAGMA user_version = 1;`);
    db.close();
    const log = recordingLog();
    const sink = new SqliteGraphSink(path, { log });
    expect(await sink.storageSchema()).toEqual({ found: 1, version: GRAPH_SCHEMA_VERSION, action: "migrate" });
    expect(log.lines.map((l) => l.msg)).toEqual([expect.stringMatching(/migrated in place from version 1 to version 2/)]);
    expect(await exported(sink)).toEqual(expected);
    const columns = (table: string) =>
      sink.database
        .prepare<[], { name: string }>(`PRAGMA table_info(${table})`)
        .all()
        .map((c) => c.name);
    expect(columns("nodes")).toEqual(expect.arrayContaining(["h_ms", "h_rv", "h_kind"]));
    expect(columns("edges")).toEqual(expect.arrayContaining(["h_ms", "h_rv"]));
    await sink.apply([pod("c", ["app=web"], "s")]);
    await sink.close();
    expect(userVersion(path)).toBe(2);
  });

  for (const layout of layouts) {
    it(`migrates an unversioned file written ${layout.name} in place, its graph unchanged`, async () => {
      const { path, expected } = await oldFile(layout.ddl, layout.ops);
      expect(expected.some((l) => l.type === "edge" && l.rel === "SELECTS")).toBe(layout.ddl === WITH_SELECTORS);
      expect(userVersion(path)).toBe(0);

      const log = recordingLog();
      const sink = new SqliteGraphSink(path, { log });
      expect(await sink.storageSchema()).toEqual({ found: "unversioned", version: GRAPH_SCHEMA_VERSION, action: "migrate" });
      expect(log.lines).toEqual([
        {
          level: "info",
          obj: { store: `the embedded graph ${path}`, from: 0, to: GRAPH_SCHEMA_VERSION },
          msg: expect.stringMatching(/migrated in place from version 0 .* to version 2/),
        },
      ]);
      expect(await exported(sink)).toEqual(expected);

      // It keeps working as a current graph: the same ops give the same graph as in a new one.
      // (Pod a's new labels: the Service's selected edge into it must go, which only a
      // selected edge marked as one does.)
      const more: GraphOp[] = [{ op: "delete", key: "c/ns/Pod/b" }, pod("c", ["app=web"], "s"), pod("a", ["app=db"], "s")];
      await sink.apply(more);
      const fresh = new SqliteGraphSink(":memory:");
      await fresh.apply([...layout.ops, ...more]);
      const final = await exported(sink);
      expect(final).toEqual(await exported(fresh));
      await fresh.close();
      await sink.close();
      expect(userVersion(path)).toBe(GRAPH_SCHEMA_VERSION);

      // Read by a graph command after the migration: the same graph.
      const reader = new SqliteGraphSink(path, { access: "read" });
      expect(await exported(reader)).toEqual(final);
      await reader.close();
    });
  }

  it("refuses a file written by a newer kube-observer, naming it and both versions, and leaves it untouched", async () => {
    const path = newPath();
    const newer = new Database(path);
    newer.exec("CREATE TABLE nodes (key TEXT PRIMARY KEY, shape_of_the_future TEXT)");
    newer.pragma(`user_version = ${GRAPH_SCHEMA_VERSION + 1}`);
    newer.close();
    const before = sha(path);

    const error = (() => {
      try {
        new SqliteGraphSink(path);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(GraphSchemaError);
    expect((error as GraphSchemaError).exitCode).toBe(2);
    const message = (error as Error).message;
    expect(message).toContain(`the embedded graph ${path} has graph storage schema version ${GRAPH_SCHEMA_VERSION + 1}, written by a newer kube-observer`);
    expect(message).toContain(`knows versions up to ${GRAPH_SCHEMA_VERSION}`);
    expect(message).toContain("point sink.sqlitePath at a new file");
    expect(sha(path)).toBe(before);
    expect(existsSync(`${path}-wal`)).toBe(false);
    // The lock went with the refusal: the next open is refused for the version again, not the lock.
    expect(() => new SqliteGraphSink(path)).toThrow(GraphSchemaError);
    // Read-only commands refuse it too.
    expect(() => new SqliteGraphSink(path, { access: "read" })).toThrow(/use the kube-observer that wrote it/);
  });

  it("refuses to read an unversioned file (a read never migrates) and says how to migrate it", async () => {
    const { path } = await oldFile(BEFORE_SELECTORS, [pod("a", ["app=web"], "s")]);
    const before = sha(path);
    expect(() => new SqliteGraphSink(path, { access: "read" })).toThrow(
      `the embedded graph ${path} has graph storage version 0 (unversioned: written before kube-observer recorded storage versions); this kube-observer reads version ${GRAPH_SCHEMA_VERSION} only: run the agent`,
    );
    expect(sha(path)).toBe(before);
    expect(userVersion(path)).toBe(0);
  });

  it("says a file without graph tables holds no graph yet, when reading", () => {
    const path = newPath();
    new Database(path).close();
    expect(() => new SqliteGraphSink(path, { access: "read" })).toThrow(`the embedded graph ${path} holds no graph yet`);
  });

  it("rebuilds a graph it cannot migrate, with a warning, and keeps the file's meta table", async () => {
    const path = newPath();
    const odd = new Database(path);
    odd.exec("CREATE TABLE nodes (key TEXT PRIMARY KEY, body TEXT); INSERT INTO nodes VALUES ('k', '{}')");
    odd.exec("CREATE TABLE kube_observer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO kube_observer_meta VALUES ('id', 'kept')");
    odd.close();

    const log = recordingLog();
    const sink = new SqliteGraphSink(path, { log });
    expect(await sink.storageSchema()).toEqual({ found: "unversioned", version: GRAPH_SCHEMA_VERSION, action: "rebuild" });
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: "warn", obj: { from: 0, to: GRAPH_SCHEMA_VERSION } });
    expect(log.lines[0]!.msg).toContain("will be rebuilt from the relist");
    expect(await exported(sink)).toEqual([]);
    await sink.apply([pod("a", ["app=web"], "s")]);
    expect((await sink.stats()).nodes).toMatchObject({ Pod: 1 });
    const db = (sink as unknown as { db: Database.Database }).db;
    expect(db.prepare("SELECT value FROM kube_observer_meta WHERE key = 'id'").get()).toEqual({ value: "kept" });
    await sink.close();
    expect(userVersion(path)).toBe(GRAPH_SCHEMA_VERSION);
  });

  it("refuses a file that is some other database, untouched", () => {
    const path = newPath();
    const other = new Database(path);
    other.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)");
    other.close();
    const before = sha(path);
    expect(() => new SqliteGraphSink(path)).toThrow(`the embedded graph ${path} is not a kube-observer embedded graph: it has the tables invoices`);
    expect(sha(path)).toBe(before);
  });
});
