// Groups an observer's messages into batches for its outlet: a batch goes when it is full
// or when its first message has waited maxDelayMs. Tracks the batches not yet
// acknowledged, for backpressure (the observer stops reading while too many are in
// flight) and for draining at stop; remembers the first batch the outlet refused, and
// tells its owner of every outcome (a refusal must not wait for the next watch event to
// be noticed).
import type { KubeMessage } from "../messages.js";

export class Batcher {
  private batch: KubeMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(
    private readonly send: (batch: KubeMessage[]) => Promise<void>,
    private readonly maxMessages: number,
    private readonly maxDelayMs: number,
    /** Each batch's outcome: accepted (acknowledged) or refused. */
    private readonly onOutcome: (accepted: boolean) => void = () => undefined,
  ) {}

  push(message: KubeMessage): void {
    this.batch.push(message);
    if (this.batch.length >= this.maxMessages) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
  }

  /** Sends what is waiting now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const sent: Promise<void> = this.send(batch)
      .then(
        () => this.onOutcome(true),
        (error: unknown) => {
          this.failure ??= error instanceof Error ? error : new Error(String(error));
          this.onOutcome(false);
        },
      )
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  get unacknowledged(): number {
    return this.inFlight.size;
  }

  /** Whether a refusal waits to be taken. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** The first batch the outlet refused since the last call, if any. */
  takeFailure(): Error | undefined {
    const failure = this.failure;
    this.failure = undefined;
    return failure;
  }

  /** Resolves once fewer than `max` batches wait for acknowledgement (or `stop` says so). */
  async waitBelow(max: number, stop: () => boolean): Promise<void> {
    while (this.inFlight.size >= max && !stop()) await Promise.race(this.inFlight);
  }

  /** Sends what is waiting and resolves once every batch is acknowledged or refused. */
  async drain(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.race(this.inFlight).catch(() => undefined);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
