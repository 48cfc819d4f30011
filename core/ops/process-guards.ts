// Process-level guards for the running agent.
//
// SIGXFSZ: a write past the process's file size limit (RLIMIT_FSIZE: `ulimit -f`, a
// container runtime's or prlimit's setting) raises it, and its default action kills the
// process (with a core dump) in the middle of a WAL append. Node happens to ignore it at
// start-up today; we install our own handler anyway, so that surviving it does not rest
// on a runtime default, and so that the cause is logged by name: SQLite only reports the
// failed write (EFBIG) as "disk I/O error". Handled, the write fails with EFBIG and the
// WAL's ordinary write-failure path takes over (the batch is held and appended again).
// The handler stays for the process's life: removing a signal's last listener resets it
// to the default action (checked on Node 20), which for SIGXFSZ is the kill.
//
// unhandledRejection: every loop of the agent catches its own errors; one that escapes
// anyway is a bug. Node would end the process with a bare stack trace; instead it is
// logged loudly (fatal, with where it came from), counted, and the exit code says so,
// while the agent keeps delivering (the WAL holds everything; a crash would only add a
// restart and a relist of every scope to the bug).
import type { Logger } from "../log/logger.js";

export interface ProcessGuards {
  /** Rejections no code handled (each was logged at fatal). */
  unhandledRejections(): number;
  /** SIGXFSZ signals received (writes past the file size limit). */
  fileSizeLimitSignals(): number;
  /** Removes the rejection guard (tests); the SIGXFSZ handler stays (see above). */
  remove(): void;
}

/** At most one SIGXFSZ log line per this many milliseconds (a full disk retries often). */
const XFSZ_LOG_EVERY_MS = 60_000;

export function installProcessGuards(log: Logger, counters: { onUnhandledRejection?: () => void } = {}): ProcessGuards {
  let rejections = 0;
  let xfsz = 0;
  let lastXfszLog = Number.NEGATIVE_INFINITY;
  const onXfsz = (): void => {
    xfsz += 1;
    const now = Date.now();
    if (now - lastXfszLog < XFSZ_LOG_EVERY_MS) return;
    lastXfszLog = now;
    log.error(
      { signal: "SIGXFSZ", count: xfsz },
      "a write went past the process's file size limit (RLIMIT_FSIZE, `ulimit -f`): the write fails and is retried; raise the limit or free the file",
    );
  };
  const onRejection = (reason: unknown): void => {
    rejections += 1;
    counters.onUnhandledRejection?.();
    process.exitCode = 1;
    const error = reason instanceof Error ? reason : undefined;
    log.fatal(
      {
        err: error?.message ?? String(reason),
        errName: error?.name,
        stack: error?.stack
          ?.split("\n")
          .slice(1, 6)
          .map((l) => l.trim()),
      },
      "unhandled promise rejection (a bug in kube-observer or a library): logged, counted, and the exit code will be 1; the agent keeps running",
    );
  };
  process.on("SIGXFSZ", onXfsz);
  process.on("unhandledRejection", onRejection);
  return {
    unhandledRejections: () => rejections,
    fileSizeLimitSignals: () => xfsz,
    remove: () => void process.off("unhandledRejection", onRejection),
  };
}
