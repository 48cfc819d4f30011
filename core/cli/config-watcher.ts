// Re-reads the config on SIGHUP or when its file changes. Watching the directory, not the
// file, catches a ConfigMap volume's `..data` symlink swap and editors that replace files.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Logger } from "../log/logger.js";

export class ConfigWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onHup = (): void => this.trigger("SIGHUP");

  constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly onChange: (why: string) => void,
    private readonly debounceMs = 300,
  ) {}

  start(): void {
    process.on("SIGHUP", this.onHup);
    const path = resolve(this.file);
    const name = basename(path);
    try {
      this.watcher = watch(dirname(path), (_event, changed) => {
        // ConfigMap volumes change `..data` (and `..2024_…` directories), not the file.
        if (!changed || changed === name || changed.startsWith("..")) this.trigger(`${changed ?? "directory"} changed`);
      });
      this.watcher.on("error", (error) => this.log.warn({ err: error.message }, "config file watching stopped; SIGHUP still reloads"));
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "cannot watch the config directory; SIGHUP still reloads");
    }
  }

  /** Re-reads the config now (debounced like any change). */
  check(why: string): void {
    this.trigger(why);
  }

  stop(): void {
    process.off("SIGHUP", this.onHup);
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  private trigger(why: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(why), this.debounceMs);
  }
}
