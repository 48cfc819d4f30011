// Jittered exponential backoff for the observer loop (list-watch.md case 10): 0.8 s ×2
// up to 30 s by default, reset after a healthy stretch, and never shorter than a
// Retry-After the server asked for — up to `maxRetryAfterMs` (5 min by default): a
// server (or a middlebox) asking for 10^12 s must not park an observer for ever, nor
// overflow Node's timer, which fires at once past 2^31-1 ms (a hot loop against the
// apiserver). (A delay source, not a retry wrapper: the reflector's state machine decides
// what to retry.)
import type { BackoffConfig } from "../config/model.js";

/** The longest delay setTimeout takes; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A computed delay made safe for setTimeout: a whole number of ms from 0 to `capMs`
 *  (never past MAX_TIMER_MS). Garbage (NaN, a non-number) waits the cap: a delay that
 *  went wrong must slow a retry loop down, never turn it into a hot one. */
export function timerDelay(ms: number, capMs: number = MAX_TIMER_MS): number {
  const cap = Number.isFinite(capMs) ? Math.min(Math.max(0, capMs), MAX_TIMER_MS) : MAX_TIMER_MS;
  if (typeof ms !== "number" || Number.isNaN(ms)) return Math.round(cap);
  return Math.round(Math.min(Math.max(0, ms), cap));
}

/** A server's Retry-After (seconds) as a floor in ms: at most `capMs`; absent, zero,
 *  negative or not a number: no floor. */
export function retryAfterFloorMs(retryAfterSeconds: number | undefined, capMs: number): number {
  if (typeof retryAfterSeconds !== "number" || !(retryAfterSeconds > 0)) return 0;
  return timerDelay(retryAfterSeconds * 1000, capMs);
}

export class Backoff {
  private attempt = 0;
  private lastFailureAt: number | undefined;

  constructor(
    private readonly config: BackoffConfig,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** The longest delay this backoff ever returns: maxMs plus its jitter, or a
   *  Retry-After up to maxRetryAfterMs. */
  get capMs(): number {
    return timerDelay(Math.max(this.config.maxMs * (1 + this.config.jitter), this.config.maxRetryAfterMs));
  }

  /** The delay before the next attempt after a failure. */
  next(retryAfterSeconds?: number): number {
    const now = this.now();
    if (this.lastFailureAt !== undefined && now - this.lastFailureAt >= this.config.resetAfterMs) this.attempt = 0;
    this.lastFailureAt = now;
    // factor ** attempt reaches Infinity after enough failures: min() keeps maxMs.
    const base = Math.min(this.config.maxMs, this.config.initialMs * this.config.factor ** this.attempt);
    this.attempt += 1;
    return this.withFloor(base, retryAfterSeconds);
  }

  /** The delay before the next attempt after a failure no quick retry fixes (a resource
   *  the server does not serve): the maximum delay, jittered; counts as a failure. */
  nextSlow(retryAfterSeconds?: number): number {
    this.lastFailureAt = this.now();
    this.attempt += 1;
    return this.withFloor(this.config.maxMs, retryAfterSeconds);
  }

  /** Called after a success that proves health (e.g. a completed list). */
  reset(): void {
    this.attempt = 0;
    this.lastFailureAt = undefined;
  }

  get failures(): number {
    return this.attempt;
  }

  /** base ± jitter, raised to the server's Retry-After (itself capped), within capMs. */
  private withFloor(base: number, retryAfterSeconds: number | undefined): number {
    const jittered = base * (1 - this.config.jitter + 2 * this.config.jitter * this.random());
    const floor = retryAfterFloorMs(retryAfterSeconds, this.config.maxRetryAfterMs);
    return timerDelay(Math.max(jittered, floor), this.capMs);
  }
}
