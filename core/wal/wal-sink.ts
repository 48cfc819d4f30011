// The observers' MessageSink when a graph sink is configured: append to the WAL (durable),
// wake the dispatcher, and only then acknowledge. Past the WAL's size bound, the
// acknowledgement waits until the dispatcher has brought it under 80 % of the bound:
// observers stop reading their watches (and relist if the server drops them), so a sink
// outage costs disk up to the bound, not memory, and loses nothing.
//
// A WAL that cannot take writes (disk full, I/O error, a file size limit) is handled the
// same way: the batch is held, in arrival order, and appended again with backoff; every
// batch after it waits behind it (order matters: a later batch may update or delete what
// an earlier one applied). Observers, unacknowledged, stop reading and resume by
// themselves once an append succeeds; nothing is lost and no observer relists. Only an
// error that retrying cannot fix (the batch itself is refused), a once run, or a shutdown
// refuses the batch: its observer then relists (or its scope is reported not delivered).
import { failpoint } from "../faults.js";
import type { BackoffConfig } from "../config/model.js";
import type { Logger } from "../log/logger.js";
import type { KubeMessage } from "../messages.js";
import { Backoff } from "../observer/backoff.js";
import type { MessageSink } from "../supervisor/cluster-supervisor.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import type { Wal } from "./wal.js";

export interface WalSinkOptions {
  /** Hold and retry batches whose append failed (false in once mode: it reports instead). */
  retry: boolean;
  backoff: BackoffConfig;
  /** Metrics hook: one failed append attempt. */
  onAppendFailed?: () => void;
}

/** A retry is one local transaction: cheap, so it is tried at least this often. */
const MAX_RETRY_MS = 5_000;

/** SQLite result codes about the batch itself: appending it again fails the same way. */
const REFUSED_CODES = new Set(["SQLITE_CONSTRAINT", "SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE"]);

/** Whether appending again may succeed: the disk or the file, not the batch, failed. */
export function appendRetriable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // A failpoint stands in for a failing disk.
  if (error.name === "FailpointError") return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return false;
  return !REFUSED_CODES.has(code.split("_").slice(0, 2).join("_"));
}

interface Held {
  messages: KubeMessage[];
  resolve: () => void;
  reject: (error: Error) => void;
}

export class WalSink implements MessageSink {
  delivered = 0;
  /** Failed append attempts (a held batch retried three times before it went in: 3). */
  appendFailures = 0;
  /** Batches refused for good (their observers relist, or their scopes were not delivered). */
  refusedBatches = 0;
  private waiting: Array<() => void> = [];
  private full = false;
  /** Batches waiting for the WAL to take writes again, oldest first. */
  private readonly held: Held[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private retrying: boolean;
  /** Shutting down: nothing waits for the WAL to shrink any more. */
  private stopping = false;
  /** Since when appends fail, and the last error (null while they succeed). */
  private failure: { since: number; error: string } | null = null;

  constructor(
    private readonly wal: Wal,
    private readonly dispatcher: Dispatcher,
    private readonly maxBytes: number,
    private readonly log: Logger,
    private readonly options: WalSinkOptions,
  ) {
    this.retrying = options.retry;
    this.backoff = new Backoff({ ...options.backoff, maxMs: Math.min(options.backoff.maxMs, MAX_RETRY_MS) });
    dispatcher.onProgress = () => this.release();
  }

  /** While appends fail: since when, the last error, and how many batches are held. */
  get appendFailing(): { since: number; error: string; held: number } | null {
    return this.failure ? { ...this.failure, held: this.held.length } : null;
  }

  deliver(messages: KubeMessage[]): Promise<void> {
    // Behind a held batch, in order.
    if (this.held.length > 0) return this.hold(messages);
    try {
      this.append(messages);
    } catch (error) {
      if (!this.retrying || !appendRetriable(error)) return Promise.reject(this.refuse(messages, error));
      this.failed(messages, error);
      return this.hold(messages);
    }
    this.recovered();
    return this.afterAppend();
  }

  /**
   * A shutdown: held batches get one last try; those the WAL still does not take are
   * refused (their observers end; every scope is listed again at the next start), and so
   * are later failures. Acknowledgements waiting for the WAL to shrink are released: what
   * they acknowledge is in the WAL. Returns how many held batches were refused.
   */
  stopRetrying(): number {
    this.retrying = false;
    this.stopping = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // Not retrying any more: each held batch is appended now or refused.
    const before = this.refusedBatches;
    this.retryHeld();
    for (const resolve of this.waiting.splice(0)) resolve();
    return this.refusedBatches - before;
  }

  private append(messages: KubeMessage[]): void {
    failpoint("wal.before-append");
    this.wal.append(messages);
    failpoint("wal.after-append");
    this.delivered += messages.length;
    this.dispatcher.notify();
  }

  private hold(messages: KubeMessage[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.held.push({ messages, resolve, reject });
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.retrying) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryHeld();
      if (this.held.length > 0) this.scheduleRetry();
    }, delay);
  }

  /** Appends the held batches in order, up to the first that fails again. */
  private retryHeld(): void {
    while (this.held.length > 0) {
      const head = this.held[0]!;
      try {
        this.append(head.messages);
      } catch (error) {
        if (this.retrying && appendRetriable(error)) {
          this.failed(head.messages, error);
          return;
        }
        this.held.shift();
        head.reject(this.refuse(head.messages, error));
        continue;
      }
      this.held.shift();
      this.recovered();
      this.afterAppend().then(head.resolve, head.reject);
    }
  }

  /** A failed attempt, to be retried: counted every time, logged when appends start failing. */
  private failed(messages: KubeMessage[], error: unknown): void {
    this.appendFailures += 1;
    this.options.onAppendFailed?.();
    const err = errorText(error);
    const fields = { err, code: codeOf(error), ...batchFields(messages), wal: this.wal.path };
    if (this.failure === null) {
      this.failure = { since: Date.now(), error: err };
      this.log.error(fields, "WAL append failed: the batch is held and appended again with backoff; observers pause until the WAL takes writes");
    } else {
      this.failure.error = err;
      this.log.debug({ ...fields, held: this.held.length }, "WAL append still failing");
    }
  }

  /** A batch that will not be appended: logged, counted; its observer relists. */
  private refuse(messages: KubeMessage[], error: unknown): Error {
    this.appendFailures += 1;
    this.refusedBatches += 1;
    this.options.onAppendFailed?.();
    this.log.error(
      { err: errorText(error), code: codeOf(error), ...batchFields(messages), wal: this.wal.path },
      "WAL append failed: the batch is not acknowledged and its observer relists",
    );
    return error instanceof Error ? error : new Error(String(error));
  }

  private recovered(): void {
    if (this.failure === null) return;
    this.log.info({ wal: this.wal.path, failedForMs: Date.now() - this.failure.since, held: this.held.length }, "WAL appends succeed again: observers resume");
    this.failure = null;
    this.backoff.reset();
  }

  private afterAppend(): Promise<void> {
    if (this.wal.bytes <= this.maxBytes || this.stopping) return Promise.resolve();
    if (!this.full) {
      this.full = true;
      this.log.warn({ walBytes: this.wal.bytes, maxBytes: this.maxBytes }, "WAL is full: observers pause until the sink catches up");
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    if (!this.full || this.wal.bytes > this.maxBytes * 0.8) return;
    this.full = false;
    this.log.info({ walBytes: this.wal.bytes }, "WAL below its bound again: observers resume");
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

function batchFields(messages: readonly KubeMessage[]): Record<string, unknown> {
  const first = messages[0];
  return { messages: messages.length, resource: first?.resource, namespace: first?.namespace ?? undefined };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
