// Scriptable fakes for the observer's unit tests: a ListWatchClient whose LIST pages and
// WATCH streams a test scripts in order, a watch stream the test feeds event by event,
// an outlet that collects batches and acknowledges them at once or on demand, and a
// tiny resource plugin that records what it was given.
import type { ObserverConfig } from "../../../core/config/model.js";
import type { ListOptions, ListPage, ListWatchClient, WatchEvent, WatchEventType, WatchOptions, WatchStream } from "../../../core/kube/client.js";
import type { KubeStatus } from "../../../core/kube/errors.js";
import type { OversizedObject } from "../../../core/kube/oversize.js";
import type { KubeMessage, KubeObject } from "../../../core/messages.js";
import type { ObserverOutlet, ObserverPhase, ObserverStatus } from "../../../core/observer/observer.js";
import type { ResourcePlugin } from "../../../core/plugin/types.js";

/** A watch stream fed by the test: push events, end it, or make it fail. */
export class FakeWatchStream implements WatchStream {
  private readonly queue: Array<{ event: WatchEvent } | { end: true } | { error: Error }> = [];
  private waiter: { resolve: (e: WatchEvent | null) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  /** How many times the consumer asked for the next event. */
  nextCalls = 0;
  closed = false;

  constructor(...events: WatchEvent[]) {
    this.push(...events);
  }

  push(...events: WatchEvent[]): this {
    for (const event of events) this.enqueue({ event });
    return this;
  }

  /** The server ends the watch normally (next() then resolves null). */
  end(): this {
    this.enqueue({ end: true });
    return this;
  }

  fail(error: Error): this {
    this.enqueue({ error });
    return this;
  }

  /** Whether a next() call is waiting for an event. */
  get reading(): boolean {
    return this.waiter !== undefined;
  }

  next(): Promise<WatchEvent | null> {
    this.nextCalls += 1;
    if (this.ended || this.closed) return Promise.resolve(null);
    const item = this.queue.shift();
    if (item) return this.deliver(item);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  close(): void {
    this.closed = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve(null);
  }

  private enqueue(item: { event: WatchEvent } | { end: true } | { error: Error }): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      this.deliver(item).then(waiter.resolve, waiter.reject);
    } else {
      this.queue.push(item);
    }
  }

  private deliver(item: { event: WatchEvent } | { end: true } | { error: Error }): Promise<WatchEvent | null> {
    if ("event" in item) return Promise.resolve(item.event);
    if ("error" in item) return Promise.reject(item.error);
    this.ended = true;
    return Promise.resolve(null);
  }
}

type ListStep = ListPage | Error | (() => Promise<ListPage>);
type WatchStep = FakeWatchStream | Error;

/**
 * A ListWatchClient that answers from scripts. An exhausted LIST script never answers
 * (the test must not need more lists than it scripted); an exhausted WATCH script opens
 * an idle stream, so a stopped observer can always close it.
 */
export class FakeClient implements ListWatchClient {
  readonly listCalls: ListOptions[] = [];
  readonly watchCalls: WatchOptions[] = [];
  /** Every stream handed out, scripted or idle, in order. */
  readonly streams: FakeWatchStream[] = [];
  private readonly lists: ListStep[] = [];
  private readonly watches: WatchStep[] = [];

  scriptList(...steps: ListStep[]): this {
    this.lists.push(...steps);
    return this;
  }

  scriptWatch(...steps: WatchStep[]): this {
    this.watches.push(...steps);
    return this;
  }

  list(options: ListOptions): Promise<ListPage> {
    this.listCalls.push({ ...options });
    const step = this.lists.shift();
    if (step === undefined) return new Promise<ListPage>(() => undefined);
    if (step instanceof Error) return Promise.reject(step);
    if (typeof step === "function") return step();
    return Promise.resolve(step);
  }

  watch(options: WatchOptions): Promise<WatchStream> {
    this.watchCalls.push({ ...options });
    const step = this.watches.shift() ?? new FakeWatchStream();
    if (step instanceof Error) return Promise.reject(step);
    this.streams.push(step);
    return Promise.resolve(step);
  }
}

export function obj(name: string, uid: string, resourceVersion: string, namespace: string | null = "default", extra: Partial<KubeObject> = {}): KubeObject {
  const { metadata: extraMeta, ...rest } = extra;
  return {
    apiVersion: "example.com/v1",
    kind: "Widget",
    metadata: { name, uid, resourceVersion, ...(namespace === null ? {} : { namespace }), ...extraMeta },
    ...rest,
  };
}

export function page(items: KubeObject[], resourceVersion: string, continueToken?: string): ListPage {
  return { items, resourceVersion, continueToken, skipped: [], limit: Math.max(1, items.length) };
}

export function event(type: Exclude<WatchEventType, "ERROR">, object: KubeObject): WatchEvent {
  return { type, object: object as WatchEvent["object"] };
}

export function bookmark(resourceVersion: string): WatchEvent {
  return { type: "BOOKMARK", object: { kind: "Widget", apiVersion: "example.com/v1", metadata: { resourceVersion } } as WatchEvent["object"] };
}

export function errorEvent(status: KubeStatus): WatchEvent {
  return { type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", ...status } as WatchEvent["object"] };
}

/** Collects what an observer sends; acknowledges at once, or when the test says. */
export class FakeOutlet implements ObserverOutlet {
  readonly batches: KubeMessage[][] = [];
  readonly statuses: ObserverStatus[] = [];
  private readonly unacked: Array<() => void> = [];

  constructor(private readonly autoAck = true) {}

  /** The next sends refused (as a failed WAL append refuses a batch), in order. */
  readonly refusals: Error[] = [];

  send(batch: KubeMessage[]): Promise<void> {
    const refusal = this.refusals.shift();
    if (refusal) return Promise.reject(refusal);
    this.batches.push(batch);
    if (this.autoAck) return Promise.resolve();
    return new Promise<void>((resolve) => this.unacked.push(resolve));
  }

  status(status: ObserverStatus): void {
    this.statuses.push(status);
  }

  readonly skips: OversizedObject[] = [];

  skipped(object: OversizedObject): void {
    this.skips.push(object);
  }

  get messages(): KubeMessage[] {
    return this.batches.flat();
  }

  get pendingAcks(): number {
    return this.unacked.length;
  }

  /** Acknowledges the oldest unacknowledged batches. */
  ack(count = 1): void {
    for (let i = 0; i < count; i++) this.unacked.shift()?.();
  }

  ackAll(): void {
    this.ack(this.unacked.length);
  }

  phases(): ObserverPhase[] {
    return this.statuses.map((s) => s.phase);
  }

  lastStatus(): ObserverStatus | undefined {
    return this.statuses[this.statuses.length - 1];
  }
}

/** Resolves once the condition holds; fails the test after timeoutMs. */
export async function until(condition: () => boolean, what = "condition", timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RecordingPlugin extends ResourcePlugin<{ name: string; uid: string; note: unknown }> {
  /** Every object reduce was called with, as reduce saw it. */
  seen: KubeObject[];
}

/** A namespaced "Widget" plugin; reduce throws for objects labelled explode=yes. */
export function recordingPlugin(name = "widget"): RecordingPlugin {
  const seen: KubeObject[] = [];
  return {
    name,
    apiVersion: 1,
    resource: { group: "example.com", version: "v1", plural: "widgets", kind: "Widget", namespaced: true },
    seen,
    reduce(object) {
      seen.push(structuredClone(object));
      if (object.metadata?.labels?.explode === "yes") throw new Error(`cannot reduce ${object.metadata.name}`);
      return { name: object.metadata?.name ?? "", uid: object.metadata?.uid ?? "", note: (object.spec as { note?: unknown } | undefined)?.note ?? null };
    },
  };
}

/** Small, fast settings: 1 ms batching, 1..4 ms backoff without jitter. */
export function testConfig(overrides: Partial<ObserverConfig> = {}): ObserverConfig {
  return {
    pageSize: 2,
    watchTimeoutMinSeconds: 300,
    watchTimeoutMaxSeconds: 300,
    inactivityMarginSeconds: 30,
    connectTimeoutSeconds: 1,
    backoff: { initialMs: 1, factor: 2, maxMs: 4, resetAfterMs: 60_000, jitter: 0, maxRetryAfterMs: 300_000 },
    threads: 1,
    batchMaxMessages: 100,
    batchMaxDelayMs: 1,
    maxObjectBytes: 8 << 20,
    maxListPageBytes: 64 << 20,
    maxConcurrentLists: 16,
    withheldAnnotations: ["kapp.k14s.io/original", "kapp.k14s.io/original-diff", "objectset.rio.cattle.io/applied", "*last-applied*"],
    maxAnnotationBytes: 4096,
    ...overrides,
  };
}
