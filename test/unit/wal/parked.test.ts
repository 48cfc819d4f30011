// Parked messages: superseded by a later message for the same object, replayed after a
// fix (only the latest word on each object; relist boundaries stay), dropped on request.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { KubeMessage } from "../../../core/messages.js";
import { Wal } from "../../../core/wal/wal.js";
import { configMapMessage } from "../../support/messages.js";

const dir = mkdtempSync(join(tmpdir(), "kube-observer-parked-"));
let n = 0;

const cm = configMapMessage;

const restarted: KubeMessage = { ...cm("x", "9"), action: "Restarted", name: null, uid: null, objectNamespace: null, present: [] } as unknown as KubeMessage;

/** Parks the messages `park` names, acknowledges the rest. */
function deliver(wal: Wal, park: (m: KubeMessage) => boolean): void {
  for (const r of wal.next(100)) {
    if (park(r.message)) wal.park(r, "configmap", "sqlite sink refused it: too large");
    else wal.ack([r.seq]);
  }
}

describe("parked messages", () => {
  it("replays the latest parked state of each object; superseded ones and relist boundaries are not replayed", () => {
    const wal = new Wal(join(dir, `wal-${++n}.sqlite`));
    wal.append([cm("a", "1")]);
    deliver(wal, () => true);
    wal.append([cm("a", "2"), cm("b", "1"), cm("c", "1"), restarted]);
    // a@2 is parked again (supersedes a@1); b is parked; c delivered; the boundary parked.
    deliver(wal, (m) => m.name !== "c");
    wal.append([cm("b", "2")]);
    deliver(wal, () => false); // b@2 delivered: b@1 is stale now
    expect(wal.status().parked).toBe(4);
    const listed = wal.parked();
    expect(listed.find((p) => p.name === "a" && p.supersededBy === null)).toBeDefined();
    expect(
      listed
        .filter((p) => p.supersededBy !== null)
        .map((p) => p.name)
        .sort(),
    ).toEqual(["a", "b"]);

    const result = wal.replay();
    expect(result.replayed.map((p) => `${p.name}`)).toEqual(["a"]);
    expect(result.superseded.map((p) => p.name).sort()).toEqual(["a", "b"]);
    expect(result.kept.map((p) => p.action)).toEqual(["Restarted"]);
    expect(wal.status()).toMatchObject({ parked: 1, depth: 1 });
    const [again] = wal.next(10);
    expect(again!.message).toMatchObject({ name: "a", resourceVersion: "2" });
    wal.close();
  });

  it("replay skips a parked message when a later one for the same object is still waiting", () => {
    const path = join(dir, `wal-${++n}.sqlite`);
    const wal = new Wal(path);
    wal.append([cm("a", "1")]);
    deliver(wal, () => true);
    wal.append([cm("a", "2")]);
    wal.close();
    // The agent stopped before delivering a@2; the CLI replays.
    const cli = new Wal(path);
    const result = cli.replay();
    expect(result.replayed).toHaveLength(0);
    expect(result.superseded.map((p) => p.name)).toEqual(["a"]);
    expect(cli.next(10).map((r) => r.message.resourceVersion)).toEqual(["2"]);
    cli.close();
  });

  it("drops the parked messages named, or all, and says which", () => {
    const wal = new Wal(join(dir, `wal-${++n}.sqlite`));
    wal.append([cm("a", "1"), cm("b", "1"), cm("c", "1")]);
    deliver(wal, () => true);
    const [first] = wal.parked().sort((x, y) => x.seq - y.seq);
    expect(wal.drop([first!.seq]).map((p) => p.name)).toEqual(["a"]);
    expect(wal.status().parked).toBe(2);
    expect(wal.drop().map((p) => p.name)).toEqual(["b", "c"]);
    expect(wal.status().parked).toBe(0);
    wal.close();
  });

  it("remembers across a restart which objects have a live parked message", () => {
    const path = join(dir, `wal-${++n}.sqlite`);
    const wal = new Wal(path);
    wal.append([cm("a", "1")]);
    deliver(wal, () => true);
    wal.close();
    const again = new Wal(path);
    again.append([cm("a", "2")]);
    deliver(again, () => false);
    expect(again.parked()[0]!.supersededBy).not.toBeNull();
    again.close();
  });
});
