// The initial-sync progress line on a terminal: scopes listed and objects seen.
import { createLogUpdate } from "log-update";

export interface SyncProgress {
  scopes: number;
  synced: number;
  objects: number;
}

export class ProgressLine {
  private readonly update = createLogUpdate(process.stderr);
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly read: () => SyncProgress) {}

  start(): void {
    this.timer = setInterval(() => this.render(), 200);
    this.timer.unref();
  }

  done(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.render();
    this.update.done();
  }

  private render(): void {
    const p = this.read();
    const pct = p.scopes ? Math.floor((100 * p.synced) / p.scopes) : 0;
    this.update(`initial sync: ${p.synced}/${p.scopes} scopes listed (${pct}%), ${p.objects} objects`);
  }
}
