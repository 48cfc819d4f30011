// One probe loop however many wait; "back" only after it found the server down.
import { describe, expect, it } from "vitest";
import { ReachabilityProbe } from "../../../core/kube/reachability.js";

describe("ReachabilityProbe", () => {
  it("is back once a probe succeeds after failures, with one loop for every waiter", async () => {
    const answers = [false, false, true];
    let probes = 0;
    const probe = new ReachabilityProbe(async () => answers[probes++] ?? true, 5);
    const waiters = [probe.whenBack(), probe.whenBack(), probe.whenBack()];
    expect(await Promise.all(waiters)).toStrictEqual([true, true, true]);
    expect(probes).toBe(3);
  });

  it("says false when the first probe finds the server up (not an outage)", async () => {
    let probes = 0;
    const probe = new ReachabilityProbe(async () => {
      probes += 1;
      return true;
    }, 5);
    expect(await probe.whenBack()).toBe(false);
    expect(probes).toBe(1);
  });

  it("counts a probe that throws as down, and starts a new loop for later waiters", async () => {
    let probes = 0;
    const probe = new ReachabilityProbe(async () => {
      probes += 1;
      if (probes === 1) throw new Error("ECONNREFUSED");
      return true;
    }, 5);
    expect(await probe.whenBack()).toBe(true);
    expect(await probe.whenBack()).toBe(false);
    expect(probes).toBe(3);
  });
});
