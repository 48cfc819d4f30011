// Jittered exponential backoff for the observer loop (list-watch.md case 10): 0.8 s ×2
// up to 30 s by default, reset after a healthy stretch, and never shorter than a
// Retry-After the server asked for. (A delay source, not a retry wrapper: the reflector's
// state machine decides what to retry.)
import type { BackoffConfig } from "../config/model.js";

export class Backoff {
  private attempt = 0;
  private lastFailureAt: number | undefined;

  constructor(
    private readonly config: BackoffConfig,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt after a failure. */
  next(retryAfterSeconds?: number): number {
    const now = this.now();
    if (this.lastFailureAt !== undefined && now - this.lastFailureAt >= this.config.resetAfterMs) this.attempt = 0;
    this.lastFailureAt = now;
    const base = Math.min(this.config.maxMs, this.config.initialMs * this.config.factor ** this.attempt);
    this.attempt += 1;
    const jittered = base * (1 - this.config.jitter + 2 * this.config.jitter * this.random());
    const floor = retryAfterSeconds !== undefined && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : 0;
    return Math.round(Math.max(jittered, floor));
  }

  /** The delay before the next attempt after a failure no quick retry fixes (a resource
   *  the server does not serve): the maximum delay, jittered; counts as a failure. */
  nextSlow(retryAfterSeconds?: number): number {
    this.lastFailureAt = this.now();
    this.attempt += 1;
    const jittered = this.config.maxMs * (1 - this.config.jitter + 2 * this.config.jitter * this.random());
    const floor = retryAfterSeconds !== undefined && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : 0;
    return Math.round(Math.max(jittered, floor));
  }

  /** Called after a success that proves health (e.g. a completed list). */
  reset(): void {
    this.attempt = 0;
    this.lastFailureAt = undefined;
  }

  get failures(): number {
    return this.attempt;
  }
}
