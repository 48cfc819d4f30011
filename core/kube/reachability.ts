// "Tell me when the apiserver is back." After an outage every observer sits in its own
// backoff, grown to tens of seconds by the failures meanwhile; without this they would
// come back one by one, up to a whole backoff after the server did. One probe loop per
// client (so per worker thread and cluster), whatever the number of observers waiting on
// it: a cheap GET every interval while anyone waits, nothing otherwise.

export class ReachabilityProbe {
  private waiting: Promise<boolean> | undefined;

  constructor(
    /** Resolves true when the server gave any answer that is not a server error. */
    private readonly probe: () => Promise<boolean>,
    private readonly intervalMs = 1_000,
  ) {}

  /** True once the server answers after at least one probe found it down; false when the
   *  first probe already finds it up (the failure was not an outage: a slow LIST, a bad
   *  answer), so that the caller keeps its backoff. */
  whenBack(): Promise<boolean> {
    this.waiting ??= this.loop().finally(() => {
      this.waiting = undefined;
    });
    return this.waiting;
  }

  private async loop(): Promise<boolean> {
    for (let probes = 0; ; probes++) {
      await new Promise<void>((resolve) => setTimeout(resolve, this.intervalMs).unref());
      if (await this.probe().catch(() => false)) return probes > 0;
    }
  }
}
