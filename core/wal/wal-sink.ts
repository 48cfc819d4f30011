// The observers' MessageSink when a graph sink is configured: append to the WAL (durable),
// wake the dispatcher, and only then acknowledge. Past the WAL's size bound, the
// acknowledgement waits until the dispatcher has brought it under 80 % of the bound:
// observers stop reading their watches (and relist if the server drops them), so a sink
// outage costs disk up to the bound, not memory, and loses nothing.
import { failpoint } from "../faults.js";
import type { Logger } from "../log/logger.js";
import type { KubeMessage } from "../messages.js";
import type { MessageSink } from "../supervisor/cluster-supervisor.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import type { Wal } from "./wal.js";

export class WalSink implements MessageSink {
  delivered = 0;
  /** Batches the WAL could not take. */
  appendFailures = 0;
  private waiting: Array<() => void> = [];
  private full = false;

  constructor(
    private readonly wal: Wal,
    private readonly dispatcher: Dispatcher,
    private readonly maxBytes: number,
    private readonly log: Logger,
    /** Metrics hook: a WAL append failed. */
    private readonly onAppendFailed?: () => void,
  ) {
    dispatcher.onProgress = () => this.release();
  }

  async deliver(messages: KubeMessage[]): Promise<void> {
    try {
      failpoint("wal.before-append");
      this.wal.append(messages);
    } catch (error) {
      // Never swallowed: logged, counted, and the observer is told (it relists), so a
      // batch that did not reach the disk is read again rather than lost.
      this.appendFailures += 1;
      this.onAppendFailed?.();
      const first = messages[0];
      this.log.error(
        { err: (error as Error).message, messages: messages.length, resource: first?.resource, namespace: first?.namespace ?? undefined, wal: this.wal.path },
        "WAL append failed: the batch is not acknowledged and its observer relists",
      );
      throw error;
    }
    failpoint("wal.after-append");
    this.delivered += messages.length;
    this.dispatcher.notify();
    if (this.wal.bytes <= this.maxBytes) return;
    if (!this.full) {
      this.full = true;
      this.log.warn({ walBytes: this.wal.bytes, maxBytes: this.maxBytes }, "WAL is full: observers pause until the sink catches up");
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    if (!this.full || this.wal.bytes > this.maxBytes * 0.8) return;
    this.full = false;
    this.log.info({ walBytes: this.wal.bytes }, "WAL below its bound again: observers resume");
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
