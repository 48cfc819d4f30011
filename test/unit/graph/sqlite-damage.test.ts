// A damaged embedded graph: the agent's open moves it aside and starts an empty graph at the
// current storage version (rebuilt by the relist); a damaged page met by an apply while
// running is handled the same way, the batch applied to the fresh graph and the agent told
// to relist; readers and tools report it (CorruptFileError) and leave it in place.
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ExportLine } from "../../../core/graph/model.js";
import { GRAPH_SCHEMA_VERSION } from "../../../core/graph/schema-version.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { CorruptFileError, type DamageRecovery } from "../../../core/storage/damaged-file.js";
import { damageMiddlePage, digest, writeGarbage } from "../../support/damage.js";
import { pod } from "./ops.js";

const root = mkdtempSync(join(tmpdir(), "kube-observer-graph-damage-"));
let n = 0;
const graphPath = (): string => join(mkdtempSync(join(root, `case-${++n}-`)), "graph.sqlite");
const SCHEMA = { labels: ["Pod", "Secret"], relationships: ["USES_SECRET"] };
const PAD = "q".repeat(600);

afterEach(() => {
  delete process.env.KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES;
});

function recovery(): DamageRecovery & { errors: Array<Record<string, unknown>>; moved: number; replaced: number } {
  const r = {
    errors: [] as Array<Record<string, unknown>>,
    moved: 0,
    replaced: 0,
    log: { error: (obj: object) => void r.errors.push(obj as Record<string, unknown>), warn: () => undefined },
    onMovedAside: () => {
      r.moved += 1;
    },
    onReplaced: () => {
      r.replaced += 1;
    },
  };
  return r;
}

const pods = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => pod(`p-${from + i}`, [`s-${(from + i) % 7}`], { pad: PAD }));

/** A closed graph of `count` pods (many leaf pages in `nodes`). */
async function filledGraph(path: string, count: number): Promise<void> {
  const sink = new SqliteGraphSink(path);
  await sink.init(SCHEMA);
  await sink.apply(pods(0, count));
  await sink.close();
}

async function exportOf(sink: SqliteGraphSink): Promise<ExportLine[]> {
  const lines: ExportLine[] = [];
  for await (const line of sink.export()) lines.push(line);
  return lines;
}

const asides = (path: string): string[] => readdirSync(join(path, "..")).filter((f) => f.includes(".corrupt-") && !f.endsWith("-wal") && !f.endsWith("-shm"));

describe("a damaged embedded graph", () => {
  it("a damaged page in the middle: quick_check at the agent's open finds it; the graph starts empty at the current version, with its holder", async () => {
    const path = graphPath();
    await filledGraph(path, 600);
    damageMiddlePage(path, "nodes");
    const r = recovery();
    const sink = new SqliteGraphSink(path, { recovery: r });
    try {
      expect(r.moved).toBe(1);
      expect(r.errors[0]).toMatchObject({ store: "embedded graph", file: path, when: "start-up" });
      expect(await sink.stats()).toEqual({ nodes: {}, edges: {} });
      expect(await sink.storageSchema()).toMatchObject({ version: GRAPH_SCHEMA_VERSION, action: "create" });
    } finally {
      await sink.close();
    }
    expect(asides(path)).toHaveLength(1);
    const db = new Database(path, { readonly: true });
    try {
      const holder = db.prepare<[], { value: string }>("SELECT value FROM kube_observer_meta WHERE key = 'holder'").get();
      expect(JSON.parse(holder!.value)).toMatchObject({ pid: process.pid });
    } finally {
      db.close();
    }
  });

  it("a damaged page met by an apply while running: replaced, the batch applied to the fresh graph, the agent told to relist", async () => {
    const path = graphPath();
    await filledGraph(path, 600);
    damageMiddlePage(path, "nodes");
    // Only the cheap probe at open (as for a graph over the quick_check bound).
    process.env.KUBE_OBSERVER_QUICK_CHECK_MAX_BYTES = "0";
    const r = recovery();
    const sink = new SqliteGraphSink(path, { recovery: r });
    try {
      await sink.init(SCHEMA);
      expect(r.moved).toBe(0);
      // The relist upserts every pod again: one of them lives on the damaged page.
      await sink.apply(pods(0, 600));
      expect(r.moved).toBe(1);
      expect(r.replaced).toBe(1);
      expect(r.errors[0]).toMatchObject({ store: "embedded graph", when: "running" });
      expect(String(r.errors[0]!.found)).toMatch(/SQLITE_CORRUPT/);
      expect((await sink.stats()).nodes.Pod).toBe(600);
      await sink.apply(pods(600, 610));
      expect((await sink.stats()).nodes.Pod).toBe(610);
    } finally {
      await sink.close();
    }
    expect(asides(path)).toHaveLength(1);
  });

  it("readers report it and leave it in place: at open (garbage) or when the export meets the page", async () => {
    const path = graphPath();
    await filledGraph(path, 600);
    damageMiddlePage(path, "nodes");
    const before = digest(path);
    const reader = new SqliteGraphSink(path, { access: "read" });
    try {
      await expect(exportOf(reader)).rejects.toThrow(CorruptFileError);
      await expect(exportOf(reader)).rejects.toThrow(new RegExp(`^the embedded graph ${path} is damaged \\(SQLITE_CORRUPT`));
    } finally {
      await reader.close();
    }
    // A writer without recovery (tools, benchmarks) does not move it either.
    expect(() => new SqliteGraphSink(path)).toThrow(CorruptFileError);
    expect(digest(path)).toBe(before);
    expect(asides(path)).toEqual([]);

    const garbage = graphPath();
    await filledGraph(garbage, 5);
    writeGarbage(garbage);
    expect(() => new SqliteGraphSink(garbage, { access: "read" })).toThrow(
      /the embedded graph .* is damaged \(SQLITE_NOTADB: file is not a database\)\. This command leaves it as it is/,
    );
    expect(existsSync(garbage)).toBe(true);
  });
});
