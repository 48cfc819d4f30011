// A time budget for third-party plugin code that runs on the main thread (toGraph in the
// dispatcher; reduce and toGraph in verify). A plugin stuck in a loop there would stop the
// WAL, the dispatcher and the HTTP endpoints; under the budget it loses one object.
//
// The mechanism is node:vm's `timeout`: its watchdog thread calls V8's TerminateExecution,
// which stops whatever JavaScript the isolate runs, including functions from outside the
// vm context (an ES-module plugin's toGraph), `for(;;){}`, a try/catch around a loop and a
// catastrophic regular expression alike (termination cannot be caught; `finally` blocks do
// not run). Node then cancels the termination and throws ERR_SCRIPT_EXECUTION_TIMEOUT.
// The watchdog starts a thread per run (~50-90 µs), so calls are batched: one run covers
// many objects (up to a tenth of the budget of their work), with a timeout of the budget
// plus that tenth, so that the object in progress when it fires has had its whole budget
// on its own. Should it not have (checked), it is run again with a fresh one (plugin code
// is pure: a second call is harmless).
//
// Not covered: work the plugin defers (a promise callback, a timer) runs after the budget,
// outside it; the contract forbids it (toGraph is synchronous and pure).
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import vm from "node:vm";

/** The default budget of one plugin call for one object (config `pluginBudgetMs`). */
export const DEFAULT_PLUGIN_BUDGET_MS = 1000;

/** A plugin's code ran past its budget on one object and was interrupted. */
export class PluginBudgetError extends Error {
  override readonly name = "PluginBudgetError";
  /** Same object, same loop: parking it is right; retrying right away never helps. */
  readonly deterministic = true;
}

/** `plugin "loop" toGraph exceeded its time budget of 1000 ms on ConfigMap demo/loop-1
 *  (loop.mjs) and was interrupted`: names, never content. */
export function describeOverrun(plugin: string, step: "reduce" | "toGraph", budgetMs: number, object: string, pluginFile?: string): string {
  const file = pluginFile ? ` (${pluginFile.split("/").pop()})` : "";
  return `plugin "${plugin}" ${step} exceeded its time budget of ${budgetMs} ms on ${object}${file} and was interrupted`;
}

/** "ConfigMap demo/loop-1": an object by kind and name, for a reason that shows no content. */
export function describeObject(kind: string, namespace: string | null, name: string): string {
  return `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

// One context for every run: the script only calls back into the main context.
const context = vm.createContext(Object.create(null) as object);
const script = new vm.Script("run()", { filename: "kube-observer:plugin-budget" });

function isTimeout(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ERR_SCRIPT_EXECUTION_TIMEOUT";
}

/** Runs `body`; false when it ran for `budgetMs` and was terminated. */
function runWithTimeout(body: () => void, budgetMs: number): boolean {
  (context as { run?: () => void }).run = body;
  try {
    script.runInContext(context, { timeout: budgetMs });
    return true;
  } catch (error) {
    if (isTimeout(error)) return false;
    throw error;
  } finally {
    (context as { run?: () => void }).run = undefined;
  }
}

/** Where runSlice stopped: `next` is the first item without a result; `overrun` says that
 *  item used a whole budget on its own (it gets no result from here). */
interface SliceEnd {
  next: number;
  overrun: boolean;
}

/** Calls `work` on items[from…] in order under one watchdog, filling `results`, until the
 *  end, an item over budget, or a slice of work: an item starts only within the first
 *  `slack` ms of the run, and the run's timeout is budget + slack, so an item cut off
 *  has had its whole budget (checked, not assumed: one that has not is run again). */
function runSlice<T, R>(items: readonly T[], work: (item: T) => R, budgetMs: number, results: Array<Outcome<R> | undefined>, from: number): SliceEnd {
  const slack = Math.max(1, Math.ceil(budgetMs / 10));
  let current = from;
  let itemStarted = 0;
  const finished = runWithTimeout(() => {
    const runStarted = performance.now();
    for (; current < items.length; current++) {
      itemStarted = performance.now();
      if (current > from && itemStarted - runStarted >= slack) return; // a new run for the rest
      try {
        results[current] = { ok: true, value: work(items[current]!) };
      } catch (error) {
        results[current] = { ok: false, error };
      }
    }
  }, budgetMs + slack);
  if (finished) return { next: current, overrun: false };
  // Cut off between storing a result and moving on: that item is done.
  if (current < items.length && results[current] !== undefined) return { next: current + 1, overrun: false };
  if (current >= items.length) return { next: current, overrun: false };
  return { next: current, overrun: performance.now() - itemStarted >= budgetMs };
}

/** `work` on every item, each within `budgetMs` (an item over it gets `overrun(item)` as
 *  its error). Synchronous: blocks for up to a budget (and a tenth) per item over it. */
export function runBudgeted<T, R>(items: readonly T[], work: (item: T) => R, budgetMs: number, overrun: (item: T) => unknown): Array<Outcome<R>> {
  const results: Array<Outcome<R> | undefined> = new Array(items.length);
  for (let i = 0; i < items.length; ) {
    const end = runSlice(items, work, budgetMs, results, i);
    if (end.overrun) results[end.next] = { ok: false, error: overrun(items[end.next]!) };
    i = end.overrun ? end.next + 1 : end.next;
  }
  return results as Array<Outcome<R>>;
}

/** runBudgeted, yielding to the event loop after each item over budget and each slice of
 *  work, so that what the main thread serves (HTTP endpoints, WAL appends) runs between. */
export async function runBudgetedYielding<T, R>(
  items: readonly T[],
  work: (item: T) => R,
  budgetMs: number,
  overrun: (item: T) => unknown,
): Promise<Array<Outcome<R>>> {
  const results: Array<Outcome<R> | undefined> = new Array(items.length);
  for (let i = 0; i < items.length; ) {
    const end = runSlice(items, work, budgetMs, results, i);
    if (end.overrun) results[end.next] = { ok: false, error: overrun(items[end.next]!) };
    i = end.overrun ? end.next + 1 : end.next;
    if (i < items.length) await yieldToEventLoop();
  }
  return results as Array<Outcome<R>>;
}
