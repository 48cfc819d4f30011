import { describe, expect, it } from "vitest";
import { ListGate } from "../../../core/observer/list-gate.js";

describe("ListGate", () => {
  it("grants up to its capacity at once, then in arrival order as slots come back", async () => {
    const gate = new ListGate(2);
    const a = await gate.acquire();
    const b = await gate.acquire();
    const order: string[] = [];
    const c = gate.acquire().then((release) => (order.push("c"), release));
    const d = gate.acquire().then((release) => (order.push("d"), release));
    await Promise.resolve();
    expect(order).toStrictEqual([]);
    expect(gate.inUse).toBe(2);
    expect(gate.queued).toBe(2);
    a();
    const releaseC = await c;
    expect(order).toStrictEqual(["c"]);
    b();
    const releaseD = await d;
    expect(order).toStrictEqual(["c", "d"]);
    releaseC();
    releaseD();
    expect(gate.inUse).toBe(0);
  });

  it("releasing twice gives back one slot only", async () => {
    const gate = new ListGate(1);
    const a = await gate.acquire();
    a();
    a();
    expect(gate.inUse).toBe(0);
    await gate.acquire();
    expect(gate.inUse).toBe(1);
  });

  it("an aborted wait leaves the queue and never takes a slot", async () => {
    const gate = new ListGate(1);
    const held = await gate.acquire();
    const controller = new AbortController();
    const waiting = gate.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toThrow(/aborted/);
    expect(gate.queued).toBe(0);
    held();
    expect(gate.inUse).toBe(0);
  });

  it("refuses a capacity below one", () => {
    expect(() => new ListGate(0)).toThrow(RangeError);
  });
});
