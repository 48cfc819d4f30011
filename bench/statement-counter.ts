// Counts every SQLite statement executed (better-sqlite3) and Neo4j query run in a managed
// transaction, process-wide, by wrapping their prototypes; and how long each shape of
// statement or query takes. For benchmarks only.
import Database from "better-sqlite3";
import { ManagedTransaction } from "neo4j-driver";

/** Counts every SQLite statement executed (run/get/all/iterate) and Neo4j query run in a
 *  managed transaction, process-wide, while installed; and the time each shape of
 *  statement or query takes (SQLite: the call; Neo4j: from run() until its result is in). */
export class StatementCounter {
  count = 0;
  shapes = new Map<string, { count: number; ms: number }>();
  private restore: Array<() => void> = [];

  install(): void {
    const probe = new Database(":memory:");
    const statementProto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<string, (...args: unknown[]) => unknown>;
    probe.close();
    const counter = this;
    const wrap = (
      proto: Record<string, (...args: unknown[]) => unknown>,
      name: string,
      timed: (self: unknown, args: unknown[], result: unknown, started: number) => void,
    ): void => {
      const original = proto[name]!;
      proto[name] = function (this: unknown, ...args: unknown[]) {
        counter.count += 1;
        const started = performance.now();
        const result = original.apply(this, args);
        timed(this, args, result, started);
        return result;
      };
      this.restore.push(() => {
        proto[name] = original;
      });
    };
    const sqlite = (self: unknown, _args: unknown[], _result: unknown, started: number): void =>
      this.record(shapeOf(String((self as { source: string }).source)), performance.now() - started);
    for (const name of ["run", "get", "all"]) wrap(statementProto, name, sqlite);
    wrap(statementProto, "iterate", (self) => this.record(shapeOf(String((self as { source: string }).source)), 0));
    wrap(ManagedTransaction.prototype as unknown as Record<string, (...args: unknown[]) => unknown>, "run", (_self, args, result, started) => {
      const shape = shapeOf(String(args[0]));
      (result as PromiseLike<unknown>).then(
        () => this.record(shape, performance.now() - started),
        () => this.record(shape, performance.now() - started),
      );
    });
  }

  private record(shape: string, ms: number): void {
    const s = this.shapes.get(shape);
    if (s) {
      s.count += 1;
      s.ms += ms;
    } else this.shapes.set(shape, { count: 1, ms });
  }

  /** Seconds of every statement or query since `reset`. */
  totalSeconds(): number {
    let ms = 0;
    for (const v of this.shapes.values()) ms += v.ms;
    return ms / 1000;
  }

  /** The shapes that took longest since `reset`. */
  top(n: number): Array<{ statement: string; count: number; seconds: number }> {
    return [...this.shapes]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, n)
      .map(([statement, v]) => ({ statement, count: v.count, seconds: v.ms / 1000 }));
  }

  reset(): void {
    this.shapes.clear();
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0).reverse()) undo();
  }
}

/** A statement or query as one short line (labels and types stay: they tell shapes apart).
 *  Memoised: this runs inside the timed calls, hundreds of thousands of times. */
const shapeCache = new Map<string, string>();
function shapeOf(text: string): string {
  let shape = shapeCache.get(text);
  if (shape === undefined) {
    const line = text.replace(/\s+/g, " ").trim();
    shape = line.length > 140 ? `${line.slice(0, 137)}...` : line;
    shapeCache.set(text, shape);
  }
  return shape;
}
