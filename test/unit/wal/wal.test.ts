// The WAL: durable append with increasing seq, coalescing of pending messages for the
// same object (never of ones already handed to the dispatcher), ack, park, replay.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { KubeMessage } from "../../../core/messages.js";
import { Wal } from "../../../core/wal/wal.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-wal-"));
let n = 0;
const file = (): string => join(dir, `wal-${++n}.sqlite`);

function msg(name: string | null, action: KubeMessage["action"] = "Applied", extra: Partial<KubeMessage> = {}): KubeMessage {
  return {
    cluster: "c",
    namespace: "ns",
    resource: "configmap",
    kind: "ConfigMap",
    action,
    objectNamespace: name ? "ns" : null,
    uid: name ? `uid-${name}` : null,
    name,
    resourceVersion: "1",
    observedAt: new Date(2026, 0, 1).toISOString(),
    object: name ? { v: name } : null,
    ...extra,
  };
}

describe("Wal", () => {
  it("hands out messages in seq order and removes acknowledged ones", () => {
    const wal = new Wal(file());
    wal.append([msg("a"), msg("b")]);
    wal.append([msg("c")]);
    const first = wal.next(2);
    expect(first.map((r) => r.message.name)).toEqual(["a", "b"]);
    expect(first[1]!.seq).toBeGreaterThan(first[0]!.seq);
    expect(wal.next(10).map((r) => r.message.name)).toEqual(["c"]);
    wal.ack(first.map((r) => r.seq));
    expect(wal.status().depth).toBe(1);
    wal.close();
  });

  it("coalesces pending messages for the same object into the latest", () => {
    const wal = new Wal(file());
    wal.append([msg("a", "Applied", { resourceVersion: "1" }), msg("b")]);
    wal.append([msg("a", "Applied", { resourceVersion: "2" }), msg(null, "Restarted", { present: [] })]);
    wal.append([msg("a", "Deleted", { resourceVersion: "3" })]);
    const records = wal.next(10);
    expect(records.map((r) => `${r.message.action} ${r.message.name} ${r.message.resourceVersion}`)).toEqual([
      "Applied b 1",
      "Restarted null 1",
      "Deleted a 3",
    ]);
    expect(wal.bytes).toBe(records.reduce((sum, r) => sum + JSON.stringify(r.message).length, 0));
    wal.close();
  });

  it("never coalesces away a message already handed to the dispatcher", () => {
    const wal = new Wal(file());
    wal.append([msg("a", "Applied", { resourceVersion: "1" })]);
    const inFlight = wal.next(10);
    wal.append([msg("a", "Applied", { resourceVersion: "2" })]);
    expect(wal.next(10).map((r) => r.message.resourceVersion)).toEqual(["2"]);
    wal.ack(inFlight.map((r) => r.seq));
    expect(wal.status().depth).toBe(1);
    wal.close();
  });

  it("replays what was not acknowledged after a restart, with seq continuing upwards", () => {
    const path = file();
    const wal = new Wal(path);
    wal.append([msg("a"), msg("b"), msg("c")]);
    const read = wal.next(10);
    wal.ack([read[0]!.seq]);
    const lastSeq = wal.status().lastSeq;
    wal.close(); // as if the process died after this point

    const again = new Wal(path);
    expect(again.next(10).map((r) => r.message.name)).toEqual(["b", "c"]);
    again.append([msg("d")]);
    const d = again.next(10);
    expect(d[0]!.seq).toBeGreaterThan(lastSeq);
    again.close();
  });

  it("parks a message with the plugin and reason, out of the queue", () => {
    const wal = new Wal(file());
    wal.append([msg("bad"), msg("good")]);
    const [bad, good] = wal.next(10);
    wal.park(bad!, "configmap", "toGraph threw: boom");
    wal.ack([good!.seq]);
    const status = wal.status();
    expect(status.depth).toBe(0);
    expect(status.parked).toBe(1);
    expect(wal.parked()).toEqual([
      expect.objectContaining({ seq: bad!.seq, plugin: "configmap", error: "toGraph threw: boom", name: "bad", resource: "configmap", action: "Applied" }),
    ]);
    wal.close();
  });

  it("remembers the graph scopes written across restarts, until forgotten", () => {
    const path = file();
    const wal = new Wal(path);
    wal.rememberScopes(["c/ns/Pod", "c/ns/Secret", "c/ns/Pod"]);
    wal.close();
    const again = new Wal(path);
    expect(again.writtenScopes()).toStrictEqual(["c/ns/Pod", "c/ns/Secret"]);
    again.forgetScopes(["c/ns/Pod"]);
    again.close();
    const third = new Wal(path);
    expect(third.writtenScopes()).toStrictEqual(["c/ns/Secret"]);
    third.close();
  });

  it("can be read by a second, read-only connection while open (wal status)", () => {
    const path = file();
    const wal = new Wal(path);
    wal.append([msg("a")]);
    const reader = new Wal(path, { readonly: true });
    expect(reader.status().depth).toBe(1);
    reader.close();
    wal.close();
  });
});

describe("status() without counting the tables", () => {
  it("keeps depth, bytes and parked equal to a fresh count through appends, coalescing, acks, parks, replays, drops and a failed append", () => {
    const path = file();
    const wal = new Wal(path);
    const fresh = (): { depth: number; bytes: number; parked: number } => {
      // A second, read-only instance counts the tables when it opens.
      const reader = new Wal(path, { readonly: true });
      try {
        const { depth, bytes, parked } = reader.status();
        return { depth, bytes, parked };
      } finally {
        reader.close();
      }
    };
    const kept = (): { depth: number; bytes: number; parked: number } => {
      const { depth, bytes, parked } = wal.status();
      return { depth, bytes, parked };
    };
    wal.append([msg("a"), msg("b"), msg("c"), msg(null, "Restarted")]);
    expect(kept()).toStrictEqual(fresh());
    wal.append([msg("a", "Applied", { resourceVersion: "2" })]); // coalesces the pending "a"
    expect(kept()).toStrictEqual(fresh());
    expect(kept().depth).toBe(4);
    const batch = wal.next(2);
    wal.ack([batch[0]!.seq]);
    wal.park(batch[1]!, "configmap", "refused");
    expect(kept()).toStrictEqual(fresh());
    expect(kept()).toMatchObject({ depth: 2, parked: 1 });
    wal.replay();
    expect(kept()).toStrictEqual(fresh());
    wal.park(wal.next(10)[0]!, "configmap", "refused again");
    wal.drop();
    expect(kept()).toStrictEqual(fresh());
    // A batch that cannot be stored changes nothing, counts included.
    const bad = msg("d");
    (bad as { observedAt: unknown }).observedAt = undefined;
    expect(() => wal.append([msg("e"), bad])).toThrow();
    expect(kept()).toStrictEqual(fresh());
    expect(wal.status().oldestObservedAt).toBe(new Date(2026, 0, 1).toISOString());
    wal.close();
  });
});
