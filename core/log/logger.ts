// The agent's logger: pino, always on stderr (stdout carries `--output jsonl`), JSON
// unless stderr is a terminal and KUBE_OBSERVER_LOG_FORMAT is not "json".
import pino, { type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** "json" or "pretty"; default: pretty on a TTY, JSON otherwise. */
  format?: "json" | "pretty";
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.KUBE_OBSERVER_LOG_LEVEL ?? "info";
  const envFormat = process.env.KUBE_OBSERVER_LOG_FORMAT;
  const format = options.format ?? (envFormat === "json" || envFormat === "pretty" ? envFormat : process.stderr.isTTY ? "pretty" : "json");
  if (format === "pretty") {
    return pino({
      level,
      base: undefined,
      transport: { target: "pino-pretty", options: { destination: 2, colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } },
    });
  }
  return pino({ level, base: { name: "kube-observer" } }, pino.destination({ fd: 2, sync: false }));
}
