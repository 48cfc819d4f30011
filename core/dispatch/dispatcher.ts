// Reads un-acknowledged messages from the WAL in seq order, in batches; turns each into a
// GraphOp through its plugin; applies the batch to the sink in one transaction; then
// acknowledges it. A message its plugin cannot handle is parked (with the plugin's name
// and the error) and the rest flow. A sink that fails transiently (connection, timeout,
// busy) is retried with backoff; nothing is acknowledged until it commits. A sink that
// refuses the rows themselves (sink-errors.ts) has the batch split in halves until the
// refused messages are found: those are parked, the rest committed in order (a bad row
// never stops the graph). A failing WAL read, park or ack is logged, counted and retried
// the same way (the batch is read again: applying it twice changes nothing). Nothing
// escapes the loop: an error no step expected is logged, counted and retried the same
// way too (the loop is supervised), so the dispatcher never dies quietly or turns into
// an unhandled rejection.
import type { BackoffConfig } from "../config/model.js";
import type { GraphOp, GraphSink } from "../graph/model.js";
import type { Logger } from "../log/logger.js";
import { Backoff } from "../observer/backoff.js";
import type { LoadedPlugin } from "../plugin/registry.js";
import type { Wal, WalRecord } from "../wal/wal.js";
import { failpoint } from "../faults.js";
import { SinkLimitError } from "../graph/limits.js";
import { classifySinkError } from "./sink-errors.js";
import { translateMessages } from "./translate.js";
import type { KubeMessage } from "../messages.js";
import { DEFAULT_PLUGIN_BUDGET_MS } from "../plugin/budget.js";
import { recordOrigin } from "../history/origin.js";

export interface DispatcherOptions {
  batchSize: number;
  /** Group commit: woken from idle, the dispatcher waits this long so that what several
   *  observers append together goes into one sink transaction and one ack (0: no wait).
   *  Under load it never waits: what arrived during a commit is the next batch. */
  groupCommitMs?: number;
  backoff: BackoffConfig;
  /** How long a third-party plugin's toGraph may run on one object (default 1000 ms). */
  pluginBudgetMs?: number;
  metrics?: DispatcherMetrics;
  /** Called after each commit with the messages it contained (benchmarks, tests). */
  onCommitted?: (records: readonly WalRecord[]) => void;
}

/** What the dispatcher reports as it goes (core/ops/metrics.ts implements it). */
export interface DispatcherMetrics {
  sinkCommitted(sink: string, seconds: number, messages: number): void;
  sinkFailed(sink: string, seconds: number): void;
  /** The sink refused a batch for its rows (a deterministic error): it is being split. */
  sinkRefused?(sink: string, seconds: number): void;
  /** `cause`: the plugin could not translate the message, or the sink refused it. */
  parked(sink: string, plugin: string, cause?: ParkCause): void;
  /** A plugin's toGraph ran past its time budget (its message is parked as well). */
  pluginOverrun?(plugin: string): void;
  walFailed(operation: WalOperation): void;
  /** An error no step expected, caught at the top of the loop. */
  dispatcherFailed?(): void;
}

/** What the dispatcher does to the WAL. */
export type WalOperation = "read" | "park" | "ack";

export type ParkCause = "plugin" | "sink";

/** A message and the op its plugin made of it (null: the plugin has no graph side). */
interface Item {
  record: WalRecord;
  op: GraphOp | null;
  plugin: string;
  file: string | undefined;
}

/** A WAL write failed while settling a batch. */
class WalStepError extends Error {
  constructor(
    readonly operation: WalOperation,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}

type ApplyOutcome = { kind: "committed" } | { kind: "refused"; error: unknown } | { kind: "stopped" };

export interface DispatcherStats {
  /** Commits (a split batch commits in parts). */
  batches: number;
  /** Messages committed and acknowledged (parked ones are not among them). */
  messages: number;
  parked: number;
  /** Of those, messages the sink refused (found by splitting a refused batch). */
  parkedBySink: number;
  /** Transient sink failures (each was retried). */
  sinkErrors: number;
  /** Batches (or parts of one) the sink refused for their rows. */
  sinkRefusals: number;
  /** Messages parked because their plugin's toGraph ran past its time budget. */
  overruns: number;
  /** Failed WAL reads, parks and acks (each was retried). */
  walErrors: Record<WalOperation, number>;
  /** Errors no step expected (a bug, or a listener that threw); each was retried. */
  unexpectedErrors: number;
  /** Milliseconds the last sink commit took. */
  lastBatchMs: number;
  sinkUp: boolean;
}

export class Dispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private interruptBackoff: (() => void) | undefined;
  /** The loop rewound when it found nothing to read; not again until it reads something. */
  private rereadAtIdle = false;
  private readonly backoff: Backoff;
  readonly stats: DispatcherStats = {
    batches: 0,
    messages: 0,
    parked: 0,
    parkedBySink: 0,
    sinkErrors: 0,
    sinkRefusals: 0,
    overruns: 0,
    walErrors: { read: 0, park: 0, ack: 0 },
    unexpectedErrors: 0,
    lastBatchMs: 0,
    sinkUp: true,
  };
  /** Called after each committed batch (e.g. to release backpressure). */
  onProgress: () => void = () => undefined;
  private readonly onCommitted: (records: readonly WalRecord[]) => void;
  private readonly metrics: DispatcherMetrics | undefined;
  private pluginBudgetMs: number;
  /** Overruns per plugin name, for the log that says a plugin keeps overrunning. */
  private readonly overrunsBy = new Map<string, number>();

  constructor(
    private readonly wal: Wal,
    private readonly sink: GraphSink,
    private plugins: ReadonlyMap<string, LoadedPlugin>,
    private readonly log: Logger,
    private readonly options: DispatcherOptions,
  ) {
    this.backoff = new Backoff(options.backoff);
    this.metrics = options.metrics;
    this.pluginBudgetMs = options.pluginBudgetMs ?? DEFAULT_PLUGIN_BUDGET_MS;
    this.onCommitted = options.onCommitted ?? (() => undefined);
  }

  /** A reload: the new plugins (and budget) apply from the next batch on. */
  setPlugins(plugins: ReadonlyMap<string, LoadedPlugin>, pluginBudgetMs?: number): void {
    this.plugins = plugins;
    if (pluginBudgetMs !== undefined) this.pluginBudgetMs = pluginBudgetMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.supervise().catch((error: unknown) => {
      // Only if logging itself failed in supervise(): say so on stderr, never reject.
      process.stderr.write(`kube-observer: the dispatcher loop ended: ${errorText(error)}\n`);
    });
  }

  /** New messages were appended. */
  notify(): void {
    this.wake?.();
  }

  /** Resolves when everything appended so far has been committed (or parked). */
  idle(): Promise<void> {
    let depth: number;
    try {
      depth = this.wal.status().depth;
    } catch {
      depth = 1; // unknown: the loop says when it finds nothing to read
    }
    if (depth === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.notify();
    });
  }

  /** Finishes the batch in flight and stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    this.interruptBackoff?.();
    await this.loop;
  }

  /** Runs the loop; an error that escapes a step is logged, counted, backed off and the
   *  loop goes on (from the first un-acknowledged message). */
  private async supervise(): Promise<void> {
    while (this.running) {
      try {
        await this.run();
      } catch (error) {
        this.stats.unexpectedErrors += 1;
        this.metrics?.dispatcherFailed?.();
        const delay = this.backoff.next();
        const e = error instanceof Error ? error : undefined;
        this.log.error(
          {
            wal: this.wal.path,
            err: errorText(error),
            errName: e?.name,
            stack: e?.stack
              ?.split("\n")
              .slice(1, 6)
              .map((l) => l.trim()),
            retryInMs: delay,
          },
          "dispatcher step failed unexpectedly; retrying (un-acknowledged messages stay in the WAL)",
        );
        await this.sleep(delay);
        this.rewind();
      }
    }
  }

  private async run(): Promise<void> {
    let idle = false;
    while (this.running) {
      if (idle && (this.options.groupCommitMs ?? 0) > 0) await this.sleep(this.options.groupCommitMs ?? 0);
      let records: WalRecord[];
      try {
        records = this.wal.next(this.options.batchSize);
      } catch (error) {
        await this.walFailed("read", error);
        continue;
      }
      if (records.length === 0) {
        if (this.readAgainIfStranded()) continue;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        idle = true;
        continue;
      }
      idle = false;
      this.rereadAtIdle = false;
      await this.dispatch(records);
    }
  }

  private async dispatch(records: WalRecord[]): Promise<void> {
    let items: Item[];
    try {
      items = await this.translate(records);
    } catch (error) {
      // Plugin errors are parked inside translate(): anything else here is a WAL park
      // that failed, or a bug (supervise() logs, counts and retries it).
      if (!(error instanceof WalStepError)) throw error;
      await this.walFailed(error.operation, error.error);
      return;
    }
    try {
      await this.settle(items, true);
    } catch (error) {
      if (!(error instanceof WalStepError)) throw error;
      // Committed but not acknowledged (or not parked): the rest is delivered again (idempotent).
      await this.walFailed(error.operation, error.error);
    }
  }

  /** Commits the items' ops in order, or, when the sink refuses them for their rows, each
   *  half in turn, down to the single messages it refuses, which are parked. False when
   *  stopped with the sink down (what is left stays in the WAL). */
  private async settle(items: Item[], whole: boolean): Promise<boolean> {
    const ops = items.flatMap((i) => (i.op ? [i.op] : []));
    const outcome = await this.commit(ops, items.length);
    if (outcome.kind === "stopped") return false;
    if (outcome.kind === "committed") {
      this.acknowledge(items, ops);
      return true;
    }
    const reason = errorText(outcome.error);
    const withOps = items.filter((i) => i.op !== null);
    if (withOps.length === 1) {
      const refused = withOps[0]!;
      this.park(refused.record, refused.plugin, `${this.sink.kind} sink refused it: ${reason}`, refused.file, "sink");
      this.acknowledge(
        items.filter((i) => i !== refused),
        [],
      );
      return true;
    }
    if (whole)
      this.log.warn(
        { sink: this.sink.kind, messages: items.length, err: reason },
        "graph sink refused the batch; splitting it to park only the message(s) it refuses",
      );
    // Halves by ops, in seq order: the first half commits before the second.
    let seen = 0;
    const cut = items.findIndex((i) => i.op !== null && ++seen > withOps.length / 2);
    return (await this.settle(items.slice(0, cut), false)) && (await this.settle(items.slice(cut), false));
  }

  /** The items are committed (or parked): acknowledge them and tell whoever listens. */
  private acknowledge(items: readonly Item[], ops: readonly GraphOp[]): void {
    if (items.length === 0) return;
    const records = items.map((i) => i.record);
    try {
      failpoint("dispatcher.before-ack");
      this.wal.ack(records.map((r) => r.seq));
    } catch (error) {
      throw new WalStepError("ack", error);
    }
    this.rememberScopes(ops);
    this.stats.batches += 1;
    this.stats.messages += records.length;
    this.tell(() => this.onCommitted(records), "onCommitted");
    this.tell(() => this.onProgress(), "onProgress");
  }

  /** A listener that throws does not undo a commit: logged and counted, the loop goes on. */
  private tell(listener: () => void, name: string): void {
    try {
      listener();
    } catch (error) {
      this.stats.unexpectedErrors += 1;
      this.metrics?.dispatcherFailed?.();
      this.log.error({ listener: name, err: errorText(error) }, "a dispatcher listener failed after a commit (the commit stands)");
    }
  }

  /** The scopes this batch wrote nodes into, remembered in the WAL (a scope no observer
   *  covers at the next start is swept). A failure here loses nothing but that memory. */
  private rememberScopes(ops: readonly GraphOp[]): void {
    const scopes: string[] = [];
    for (const op of ops) if (op.op === "upsert" && op.node.scope) scopes.push(op.node.scope);
    if (scopes.length === 0) return;
    try {
      this.wal.rememberScopes(scopes);
    } catch (error) {
      this.log.warn(
        { err: (error as Error).message },
        "could not remember the graph scopes written (a scope removed from the config while the agent is down may then stay in the graph)",
      );
    }
  }

  /** Each message through its plugin; those that cannot be translated are parked. A
   *  third-party toGraph runs within the plugin budget (translateMessages). */
  private async translate(records: WalRecord[]): Promise<Item[]> {
    const inputs: Array<{ record: WalRecord; message: KubeMessage; loaded: LoadedPlugin }> = [];
    for (const record of records) {
      const { message } = record;
      const loaded = this.plugins.get(message.resource);
      if (loaded) inputs.push({ record, message, loaded });
      else this.park(record, message.resource, `no loaded plugin named "${message.resource}"`);
    }
    const outcomes = await translateMessages(inputs, this.pluginBudgetMs, ({ loaded }) => this.overrun(loaded));
    const items: Item[] = [];
    inputs.forEach(({ record, loaded }, i) => {
      const outcome = outcomes[i]!;
      const plugin = loaded.plugin.name;
      if (outcome.ok) {
        // The history stamps what the op changes with the change the observer saw.
        if (outcome.value) recordOrigin(outcome.value, record.message, this.wal.id ? { id: this.wal.id, seq: record.seq } : undefined);
        items.push({ record, op: outcome.value, plugin, file: loaded.file });
      }
      // A value over what any sink stores is found here, before the sink sees the batch.
      else if (outcome.error instanceof SinkLimitError) this.park(record, plugin, `no graph sink stores it: ${outcome.error.message}`, loaded.file, "sink");
      else this.park(record, plugin, errorText(outcome.error), loaded.file);
    });
    // In seq order: the parked ones above were taken out of it.
    return items;
  }

  /** Counted; a plugin that overruns again and again is logged as such (at its 2nd, 4th,
   *  8th… overrun: often enough to be seen, never a line per object). */
  private overrun(loaded: LoadedPlugin): void {
    const plugin = loaded.plugin.name;
    const count = (this.overrunsBy.get(plugin) ?? 0) + 1;
    this.overrunsBy.set(plugin, count);
    this.stats.overruns += 1;
    this.metrics?.pluginOverrun?.(plugin);
    if (count >= 2 && (count & (count - 1)) === 0) {
      this.log.error(
        { plugin, file: loaded.file, overruns: count, budgetMs: this.pluginBudgetMs },
        "plugin keeps exceeding its time budget: each object it overruns on is parked (fix its toGraph, or raise pluginBudgetMs)",
      );
    }
  }

  /** Applies the ops until the sink commits or refuses them; retries transient failures. */
  private async commit(ops: GraphOp[], messages: number): Promise<ApplyOutcome> {
    for (;;) {
      const started = performance.now();
      try {
        failpoint("dispatcher.before-commit");
        if (ops.length) await this.sink.apply(ops);
        failpoint("dispatcher.after-commit");
        this.stats.lastBatchMs = performance.now() - started;
        this.metrics?.sinkCommitted(this.sink.kind, this.stats.lastBatchMs / 1000, messages);
        break;
      } catch (error) {
        if (classifySinkError(error) === "deterministic") {
          this.stats.sinkRefusals += 1;
          this.metrics?.sinkRefused?.(this.sink.kind, (performance.now() - started) / 1000);
          return { kind: "refused", error };
        }
        this.stats.sinkErrors += 1;
        this.metrics?.sinkFailed(this.sink.kind, (performance.now() - started) / 1000);
        const delay = this.backoff.next();
        if (this.stats.sinkUp)
          this.log.error({ sink: this.sink.kind, err: (error as Error).message, retryInMs: delay }, "graph sink failed; retrying (messages stay in the WAL)");
        else this.log.debug({ sink: this.sink.kind, err: (error as Error).message, retryInMs: delay }, "graph sink still failing");
        this.stats.sinkUp = false;
        await this.sleep(delay);
        if (!this.running) {
          // Stopping with the sink down: leave the batch in the WAL for the next start.
          this.rewind();
          return { kind: "stopped" };
        }
      }
    }
    if (!this.stats.sinkUp) this.log.info({ sink: this.sink.kind }, "graph sink is back");
    this.stats.sinkUp = true;
    this.backoff.reset();
    return { kind: "committed" };
  }

  /** A WAL operation failed: logged and counted, then the batch is read again after a
   *  backoff. Nothing was acknowledged, so nothing is lost. */
  private async walFailed(operation: WalOperation, error: unknown): Promise<void> {
    this.stats.walErrors[operation] += 1;
    this.metrics?.walFailed(operation);
    const delay = this.backoff.next();
    this.log.error(
      { wal: this.wal.path, operation, err: error instanceof Error ? error.message : String(error), retryInMs: delay },
      `WAL ${operation} failed; retrying (un-acknowledged messages stay in the WAL)`,
    );
    await this.sleep(delay);
    this.rewind();
  }

  /** Nothing left to read, yet the WAL holds un-acknowledged messages: they are behind
   *  the read position (a failure path could not rewind). Read them again, once per
   *  idle stretch (a wrong count must not spin the loop). */
  private readAgainIfStranded(): boolean {
    if (this.rereadAtIdle) return false;
    let depth: number;
    try {
      depth = this.wal.status().depth;
    } catch {
      return false;
    }
    if (depth === 0) return false;
    this.rereadAtIdle = true;
    this.log.warn({ wal: this.wal.path, depth }, "un-acknowledged messages behind the WAL read position: reading them again");
    this.rewind();
    return true;
  }

  /** Reads again from the first un-acknowledged message. (Rewinding touches no disk;
   *  should a WAL's rewind throw all the same, the next read starts where it is.) */
  private rewind(): void {
    try {
      this.wal.rewind();
    } catch (error) {
      this.log.error({ wal: this.wal.path, err: errorText(error) }, "WAL rewind failed");
    }
  }

  /** Cut short by stop() only (not by new messages): a shutdown must not wait out a long
   *  backoff, and appends must not hammer a sink that is down. */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.interruptBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
      if (!this.running) this.interruptBackoff();
    });
    this.interruptBackoff = undefined;
  }

  private park(record: WalRecord, plugin: string, error: string, file?: string, cause: ParkCause = "plugin"): void {
    try {
      this.wal.park(record, plugin, error);
    } catch (failure) {
      throw new WalStepError("park", failure);
    }
    this.stats.parked += 1;
    if (cause === "sink") this.stats.parkedBySink += 1;
    this.metrics?.parked(this.sink.kind, plugin, cause);
    const m = record.message;
    this.log.warn(
      {
        seq: record.seq,
        plugin,
        file,
        cause,
        resource: m.resource,
        namespace: m.objectNamespace ?? undefined,
        name: m.name ?? undefined,
        action: m.action,
        err: error,
      },
      "message parked",
    );
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
