// One writer per file: the WAL and the embedded graph each take an OS lock that a second
// writer (in this process or another) cannot get, that readers do not need, and that
// closing (or the process ending) gives back. Cross-process refusal and SIGKILL are
// proven with real agents in test/integration/graph/ownership.test.ts.
import { mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { ExclusiveFile, FileInUseError } from "../../../core/lock/exclusive-file.js";
import { Wal } from "../../../core/wal/wal.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-lock-"));
let n = 0;
const file = (name: string): string => join(dir, `${name}-${++n}.sqlite`);

function refusal(open: () => unknown): FileInUseError {
  try {
    open();
  } catch (error) {
    expect(error).toBeInstanceOf(FileInUseError);
    return error as FileInUseError;
  }
  throw new Error("the second writer was admitted");
}

describe("WAL ownership", () => {
  it("refuses a second writer, naming the file, the holder's pid and host, and what to do", () => {
    const path = file("wal");
    const wal = new Wal(path);
    const error = refusal(() => new Wal(path));
    expect(error.exitCode).toBe(2);
    expect(error.file).toBe(path);
    expect(error.holder).toMatchObject({ pid: process.pid, host: hostname() });
    expect(error.message).toContain(`the WAL ${path} is in use by kube-observer agent pid ${process.pid} on host ${hostname()}`);
    expect(error.message).toContain("wal.path");
    wal.close();
  });

  it("lets readers in beside the writer and reports the holder as live until it closes", () => {
    const path = file("wal");
    const wal = new Wal(path);
    const reader = new Wal(path, { readonly: true });
    expect(reader.status().holder).toMatchObject({ pid: process.pid, live: true });
    expect(ExclusiveFile.isHeld(path)).toBe(true);
    wal.close();
    expect(ExclusiveFile.isHeld(path)).toBe(false);
    expect(reader.status().holder).toMatchObject({ pid: process.pid, live: false });
    reader.close();
    const again = new Wal(path);
    again.close();
  });

  it("keeps one identity across restarts", () => {
    const path = file("wal");
    const first = new Wal(path);
    const id = first.id;
    first.close();
    const second = new Wal(path);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.id).toBe(id);
    second.close();
    const other = new Wal(file("wal"));
    expect(other.id).not.toBe(id);
    other.close();
  });
});

describe("embedded graph ownership", () => {
  it("refuses a second writer of the graph file and admits readers", async () => {
    const path = file("graph");
    const writer = new SqliteGraphSink(path);
    const error = refusal(() => new SqliteGraphSink(path));
    expect(error.message).toContain(`the embedded graph ${path} is in use`);
    expect(error.message).toContain("sink.sqlitePath");
    const reader = new SqliteGraphSink(path, { access: "read" });
    expect(await reader.stats()).toEqual({ nodes: {}, edges: {} });
    await reader.close();
    await writer.close();
    const next = new SqliteGraphSink(path);
    await next.close();
  });

  it("a reader of a graph that does not exist says so instead of creating it", () => {
    const path = file("graph");
    expect(() => new SqliteGraphSink(path, { access: "read" })).toThrow(`no embedded graph at ${path}`);
  });

  it("in-memory graphs take no lock", async () => {
    const a = new SqliteGraphSink(":memory:");
    const b = new SqliteGraphSink(":memory:");
    await a.close();
    await b.close();
  });
});
