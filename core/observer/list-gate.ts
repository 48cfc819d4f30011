// Caps how many LISTs run at once (per worker thread and cluster): at start-up in
// per-namespace mode thousands of observers would otherwise list together, holding every
// page in memory at once and loading the apiserver. A LIST holds its slot from its first
// page to its last (or its error); watches need none.

export type ReleaseSlot = () => void;

export class ListGate {
  private active = 0;
  private readonly waiting: Array<{ grant: (release: ReleaseSlot) => void; reject: (error: Error) => void }> = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`list gate capacity must be a positive integer, not ${capacity}`);
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with the function that gives the slot back; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(new Error("list slot wait aborted"));
    if (this.active < this.capacity) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise<ReleaseSlot>((grant, reject) => {
      const waiter = { grant, reject };
      this.waiting.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const at = this.waiting.indexOf(waiter);
          if (at === -1) return;
          this.waiting.splice(at, 1);
          reject(new Error("list slot wait aborted"));
        },
        { once: true },
      );
    });
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter; active stays the same.
      if (next) next.grant(this.releaser());
      else this.active -= 1;
    };
  }
}
