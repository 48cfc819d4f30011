import { describe, expect, it } from "vitest";
import type { KubeMessage } from "../../../core/messages.js";
import { Batcher } from "../../../core/observer/batcher.js";

const msg = (name: string): KubeMessage =>
  ({
    cluster: "c",
    namespace: "n",
    resource: "r",
    kind: "K",
    action: "Applied",
    objectNamespace: "n",
    uid: name,
    name,
    resourceVersion: "1",
    observedAt: "",
    object: null,
  }) as KubeMessage;

describe("Batcher", () => {
  it("sends a full batch at once and a partial one after maxDelayMs", async () => {
    const sent: string[][] = [];
    const b = new Batcher(async (batch) => void sent.push(batch.map((m) => m.name!)), 2, 20);
    b.push(msg("a"));
    b.push(msg("b"));
    expect(sent).toStrictEqual([["a", "b"]]);
    b.push(msg("c"));
    expect(sent).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 40));
    expect(sent).toStrictEqual([["a", "b"], ["c"]]);
    b.close();
  });

  it("counts unacknowledged batches, waits below a bound, and drains", async () => {
    const acks: Array<() => void> = [];
    const b = new Batcher(() => new Promise<void>((resolve) => acks.push(resolve)), 1, 1000);
    b.push(msg("a"));
    b.push(msg("b"));
    expect(b.unacknowledged).toBe(2);
    let below = false;
    const waiting = b.waitBelow(2, () => false).then(() => (below = true));
    await Promise.resolve();
    expect(below).toBe(false);
    acks.shift()!();
    await waiting;
    expect(b.unacknowledged).toBe(1);
    const drained = b.drain();
    acks.shift()!();
    await drained;
    expect(b.unacknowledged).toBe(0);
  });

  it("remembers the first refused batch until taken", async () => {
    let n = 0;
    const b = new Batcher(() => Promise.reject(new Error(`refused ${++n}`)), 1, 1000);
    b.push(msg("a"));
    b.push(msg("b"));
    await b.drain();
    expect(b.takeFailure()?.message).toBe("refused 1");
    expect(b.takeFailure()).toBeUndefined();
  });
});
