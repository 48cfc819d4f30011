// Opening the graph sink for writing (schema and storage-version check, writer
// registration) when the database may not answer yet. A running agent does not need the
// sink to observe: the WAL buffers what the observers deliver, and the dispatcher starts
// once the sink is open. So a sink that does not answer at start-up is tried again with
// backoff, while the agent observes and reports not ready. What the database says once
// it answers still decides: a newer storage schema, another live writer, or refused
// credentials stop the agent (the same exit codes as at start-up), because retrying with
// the same settings cannot fix them.
import type { BackoffConfig } from "../config/model.js";
import type { Logger } from "../log/logger.js";
import { Backoff } from "../observer/backoff.js";

/** The sink's state, for readiness and logs. */
export type SinkStartState =
  | { kind: "opening" }
  | { kind: "waiting"; since: number; attempts: number; error: string }
  | { kind: "open" }
  | { kind: "refused"; error: Error }
  | { kind: "stopped" };

/**
 * Errors that say the database is not there (yet): down, restarting, not reachable, or
 * still starting its databases. Everything else — a refusal, a bad URI, a config error —
 * is not waited out.
 */
export function sinkUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  return code === "ServiceUnavailable" || code === "SessionExpired" || code.startsWith("Neo.TransientError.");
}

export class SinkStartup {
  state: SinkStartState = { kind: "opening" };
  /** Resolves true once the sink is open, false if it was refused or the agent stopped first. */
  readonly ready: Promise<boolean>;
  private settle!: (open: boolean) => void;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    /** One attempt: init and register; throws what the sink said. */
    private readonly attempt: () => Promise<void>,
    private readonly where: string,
    backoff: BackoffConfig,
    private readonly log: Logger,
  ) {
    this.backoff = new Backoff(backoff);
    this.ready = new Promise<boolean>((resolve) => (this.settle = resolve));
  }

  /**
   * The first attempt. Throws unless the sink opened, or (with `wait`) it does not answer:
   * then it is tried again in the background and `onRefused` hears of a later refusal.
   */
  async open(wait: boolean, onRefused: (error: Error) => void): Promise<void> {
    try {
      await this.attempt();
    } catch (error) {
      if (!wait || !sinkUnavailable(error)) {
        this.finish({ kind: "refused", error: asError(error) });
        throw error;
      }
      this.state = { kind: "waiting", since: Date.now(), attempts: 1, error: asError(error).message };
      this.log.error(
        { sink: this.where, err: asError(error).message },
        "graph sink does not answer at start-up: observing into the WAL, not ready; delivered once the sink answers",
      );
      void this.retry(onRefused);
      return;
    }
    this.finish({ kind: "open" });
  }

  /** Stops waiting (shutdown). */
  stop(): void {
    if (this.state.kind === "waiting" || this.state.kind === "opening") this.finish({ kind: "stopped" });
    clearTimeout(this.timer);
    this.wake?.();
  }

  /** Why the sink is not open, or undefined when it is. */
  problem(): string | undefined {
    const s = this.state;
    if (s.kind === "open") return undefined;
    if (s.kind === "waiting")
      return `the graph sink has not answered since start-up (${s.attempts} attempts since ${new Date(s.since).toISOString()}): ${s.error}`;
    if (s.kind === "refused") return `the graph sink refused this agent: ${s.error.message}`;
    return `the graph sink is ${s.kind}`;
  }

  private async retry(onRefused: (error: Error) => void): Promise<void> {
    while (this.state.kind === "waiting") {
      const delay = this.backoff.next();
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, delay);
        this.wake = resolve;
      });
      if (this.state.kind !== "waiting") return;
      try {
        await this.attempt();
      } catch (error) {
        if (this.state.kind !== "waiting") return;
        if (sinkUnavailable(error)) {
          this.state = { ...this.state, attempts: this.state.attempts + 1, error: asError(error).message };
          this.log.debug(
            { sink: this.where, err: asError(error).message, attempts: this.state.attempts, retryInMs: delay },
            "graph sink still does not answer",
          );
          continue;
        }
        this.finish({ kind: "refused", error: asError(error) });
        this.log.fatal({ sink: this.where, err: asError(error).message }, "graph sink answered and refused this agent: stopping");
        onRefused(asError(error));
        return;
      }
      if (this.state.kind !== "waiting") return;
      this.log.info(
        { sink: this.where, waitedMs: Date.now() - this.state.since, attempts: this.state.attempts + 1 },
        "graph sink answers: opened; delivering what the WAL holds",
      );
      this.finish({ kind: "open" });
    }
  }

  private finish(state: SinkStartState): void {
    this.state = state;
    this.settle(state.kind === "open");
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
