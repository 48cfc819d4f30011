// Jittered exponential backoff (list-watch.md case 10): growth, cap, jitter bounds,
// reset after a healthy stretch, and Retry-After as a floor. Clock and randomness are
// injected.
import { describe, expect, it } from "vitest";
import type { BackoffConfig } from "../../../core/config/model.js";
import { Backoff, MAX_TIMER_MS, retryAfterFloorMs, timerDelay } from "../../../core/observer/backoff.js";

const caseTen: BackoffConfig = { initialMs: 800, factor: 2, maxMs: 30_000, resetAfterMs: 120_000, jitter: 0.2, maxRetryAfterMs: 300_000 };

function clock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** random() = 0.5 puts the jitter exactly in the middle: the delay is the base. */
const middle = (): number => 0.5;

describe("Backoff", () => {
  it("grows ×factor from initialMs and stops at maxMs", () => {
    const c = clock();
    const backoff = new Backoff(caseTen, c.now, middle);
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      delays.push(backoff.next());
      c.advance(10);
    }
    expect(delays).toStrictEqual([800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000, 30_000]);
    expect(backoff.failures).toBe(9);
  });

  it("works with other factors and a cap that is not a power of the factor", () => {
    const c = clock();
    const backoff = new Backoff({ initialMs: 100, factor: 3, maxMs: 1_000, resetAfterMs: 60_000, jitter: 0, maxRetryAfterMs: 300_000 }, c.now, () => 0.123);
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toStrictEqual([100, 300, 900, 1_000]);
  });

  it("keeps every delay within ±jitter of its base, reaching both ends", () => {
    const randoms = [0, 0.25, 0.5, 0.75, 0.999_999];
    for (let attempt = 0; attempt < 8; attempt++) {
      const base = Math.min(caseTen.maxMs, caseTen.initialMs * 2 ** attempt);
      for (const r of randoms) {
        const c = clock();
        const backoff = new Backoff(caseTen, c.now, () => r);
        for (let i = 0; i < attempt; i++) backoff.next();
        const delay = backoff.next();
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      }
    }
    const low = new Backoff(caseTen, clock().now, () => 0);
    const high = new Backoff(caseTen, clock().now, () => 0.999_999);
    expect(low.next()).toBe(640);
    expect(high.next()).toBe(960);
  });

  it("actually randomises: different random draws give different delays", () => {
    const draws = [0.1, 0.9];
    const delays = draws.map((r) => new Backoff(caseTen, clock().now, () => r).next());
    expect(delays[0]).toBeLessThan(delays[1]!);
  });

  it("starts again from initialMs after resetAfterMs without a failure", () => {
    const c = clock();
    const backoff = new Backoff(caseTen, c.now, middle);
    backoff.next();
    backoff.next();
    backoff.next(); // 3 200
    c.advance(caseTen.resetAfterMs - 1);
    expect(backoff.next()).toBe(6_400); // not yet healthy long enough
    c.advance(caseTen.resetAfterMs);
    expect(backoff.next()).toBe(800);
    expect(backoff.failures).toBe(1);
    expect(backoff.next()).toBe(1_600);
  });

  it("reset() after a success starts from initialMs again", () => {
    const backoff = new Backoff(caseTen, clock().now, middle);
    backoff.next();
    backoff.next();
    expect(backoff.failures).toBe(2);
    backoff.reset();
    expect(backoff.failures).toBe(0);
    expect(backoff.next()).toBe(800);
  });

  it("never waits less than a Retry-After, even past maxMs", () => {
    const backoff = new Backoff(caseTen, clock().now, middle);
    expect(backoff.next(5)).toBe(5_000);
    expect(backoff.next(60)).toBe(60_000);
  });

  it("a Retry-After shorter than the backoff does not shorten it; 0 or absent is no floor", () => {
    const c = clock();
    const backoff = new Backoff(caseTen, c.now, () => 0);
    expect(backoff.next(0.1)).toBe(640);
    expect(backoff.next(0)).toBe(1_280);
    expect(backoff.next(undefined)).toBe(2_560);
  });

  it("honours a Retry-After only up to maxRetryAfterMs: 10^12 s waits the cap, not for ever and not at once", () => {
    const backoff = new Backoff({ ...caseTen, maxRetryAfterMs: 120_000 }, clock().now, middle);
    expect(backoff.next(1e12)).toBe(120_000);
    expect(backoff.next(99_999_999_999)).toBe(120_000);
    expect(backoff.nextSlow(1e12)).toBe(120_000);
    expect(backoff.next(Number.MAX_VALUE)).toBe(120_000);
    expect(backoff.next(Infinity)).toBe(120_000);
    // Within the cap it is honoured exactly.
    expect(backoff.next(90)).toBe(90_000);
  });

  it("a garbage Retry-After (NaN, negative, not a number) is no floor at all", () => {
    const c = clock();
    const backoff = new Backoff(caseTen, c.now, middle);
    expect(backoff.next(NaN)).toBe(800);
    expect(backoff.next(-5)).toBe(1_600);
    expect(backoff.next(-Infinity)).toBe(3_200);
    expect(backoff.next("600" as unknown as number)).toBe(6_400);
  });

  it("never returns more than a timer can hold, whatever the configuration", () => {
    const huge: BackoffConfig = { initialMs: 1e15, factor: 1e6, maxMs: 1e18, resetAfterMs: 1, jitter: 1, maxRetryAfterMs: 1e18 };
    const backoff = new Backoff(huge, clock().now, () => 0.999);
    for (let i = 0; i < 5; i++) expect(backoff.next(1e12)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(backoff.capMs).toBe(MAX_TIMER_MS);
  });

  it("after thousands of failures (factor ** attempt is Infinity) the delay stays at maxMs", () => {
    const c = clock();
    const backoff = new Backoff(caseTen, c.now, middle);
    let last = 0;
    for (let i = 0; i < 5_000; i++) last = backoff.next();
    expect(last).toBe(30_000);
  });

  it("capMs is the longest delay: maxMs plus its jitter, or the Retry-After cap", () => {
    expect(new Backoff(caseTen).capMs).toBe(300_000);
    expect(new Backoff({ ...caseTen, maxRetryAfterMs: 1_000 }).capMs).toBe(36_000);
  });
});

describe("timerDelay and retryAfterFloorMs", () => {
  it("clamps to [0, cap] and to what setTimeout can hold", () => {
    expect(timerDelay(1_500.4, 10_000)).toBe(1_500);
    expect(timerDelay(-3, 10_000)).toBe(0);
    expect(timerDelay(1e12, 10_000)).toBe(10_000);
    expect(timerDelay(1e12)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Infinity)).toBe(MAX_TIMER_MS);
    expect(timerDelay(5, Infinity)).toBe(5);
    expect(timerDelay(5, 1e20)).toBe(5);
  });

  it("a NaN delay waits the cap (a broken computation slows a retry loop, never speeds it up)", () => {
    expect(timerDelay(NaN, 10_000)).toBe(10_000);
    expect(timerDelay(NaN)).toBe(MAX_TIMER_MS);
    expect(timerDelay(undefined as unknown as number, 7)).toBe(7);
  });

  it("turns Retry-After seconds into a capped floor; nothing usable is 0", () => {
    expect(retryAfterFloorMs(3, 10_000)).toBe(3_000);
    expect(retryAfterFloorMs(1e12, 10_000)).toBe(10_000);
    for (const garbage of [undefined, 0, -1, NaN, -Infinity, "5" as unknown as number, null as unknown as number])
      expect(retryAfterFloorMs(garbage, 10_000)).toBe(0);
  });
});
