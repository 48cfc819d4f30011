// The list+watch state machine (a "watcher" in kube-rs terms): one step at a time, each
// step doing at most one request or reading one watch event, yielding events. Errors are
// yielded as events, never thrown; the caller applies backoff around it.
//
//   empty ──list page──▶ listing(continue) ──last page──▶ watch-pending(rv) ──▶ watching(rv, stream)
//     ▲                        │ 410                          ▲   │ stream ends normally / error
//     └────────────────────────┘◀──── 410 / too large RV ─────┘◀──┘ (re-watch from rv, no relist)
import type { KubeObject } from "../messages.js";
import { ApiError, classifyStatus, type KubeStatus } from "../kube/errors.js";
import type { ListWatchClient, WatchStream } from "../kube/client.js";
import type { OversizedObject } from "../kube/oversize.js";
import type { ListGate, ReleaseSlot } from "./list-gate.js";

export type WatcherState =
  | { kind: "empty" }
  | { kind: "listing"; continueToken: string }
  | { kind: "watch-pending"; resourceVersion: string }
  | { kind: "watching"; resourceVersion: string; stream: WatchStream; openedAt: number; events: number };

export type WatcherEvent =
  /** A (re)list begins: what follows until initDone is the full content of the scope. */
  | { type: "init" }
  | { type: "initPage"; objects: KubeObject[] }
  /** The list is complete at resourceVersion: the relist boundary. */
  | { type: "initDone"; resourceVersion: string }
  | { type: "applied"; object: KubeObject; resourceVersion: string }
  | { type: "deleted"; object: KubeObject; resourceVersion: string }
  /** An object over the size cap, left out (identified as far as its first bytes allow). */
  | { type: "skipped"; object: OversizedObject }
  /** A watch (re)opened from resourceVersion (no relist). */
  | { type: "watchStarted"; resourceVersion: string }
  | { type: "error"; error: ApiError; relist: boolean };

export interface WatcherOptions {
  pageSize: number;
  /** timeoutSeconds for the next watch request (randomised by the caller's config). */
  watchTimeoutSeconds: () => number;
  inactivityMarginSeconds: number;
  /** Shared cap on LISTs in progress (none: no cap). */
  listGate?: ListGate;
  now?: () => number;
}

/** A watch that ends this soon after opening, with no event, counts as a failure (case 12). */
const INSTANT_CLOSE_MS = 1_000;

function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError("other", error instanceof Error ? error.message : String(error));
}

export class Watcher {
  state: WatcherState = { kind: "empty" };
  private readonly now: () => number;
  /** The list slot held from a LIST's first page to its last (or its failure). */
  private listSlot: ReleaseSlot | undefined;
  /** Aborts a wait for a list slot when the watcher is closed. */
  private closing = new AbortController();
  /** Page size of the list in progress: halved by the client when a page passed its cap. */
  private listLimit: number;

  constructor(
    private readonly client: ListWatchClient,
    private readonly options: WatcherOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.listLimit = options.pageSize;
  }

  /** Closes an open watch stream and gives back a list slot (cooperative stop). */
  close(): void {
    if (this.state.kind === "watching") this.state.stream.close();
    this.releaseListSlot();
    this.closing.abort();
    this.closing = new AbortController();
  }

  private releaseListSlot(): void {
    this.listSlot?.();
    this.listSlot = undefined;
  }

  /** Ends a step waiting on the open watch stream now (the caller has something more
   *  urgent to do, e.g. relist after a batch was refused); the state is kept. */
  interrupt(): void {
    if (this.state.kind === "watching") this.state.stream.close();
  }

  /** Forces a relist on the next step (e.g. after the consumer fell behind). */
  relist(): void {
    this.close();
    this.state = { kind: "empty" };
  }

  async step(): Promise<WatcherEvent[]> {
    const state = this.state;
    switch (state.kind) {
      case "empty":
      case "listing":
        return this.listPage(state.kind === "listing" ? state.continueToken : undefined);
      case "watch-pending":
        return this.openWatch(state.resourceVersion);
      case "watching":
        return this.readWatch(state);
    }
  }

  private async listPage(continueToken: string | undefined): Promise<WatcherEvent[]> {
    if (continueToken === undefined) this.listLimit = this.options.pageSize;
    if (this.options.listGate && !this.listSlot) {
      try {
        this.listSlot = await this.options.listGate.acquire(this.closing.signal);
      } catch {
        return []; // closed while waiting for a slot
      }
    }
    const events: WatcherEvent[] = continueToken === undefined ? [{ type: "init" }] : [];
    try {
      // No resourceVersion: a consistent (quorum) read; later pages follow the token.
      const page = await this.client.list({ limit: this.listLimit, continueToken });
      this.listLimit = page.limit;
      events.push({ type: "initPage", objects: page.items });
      for (const object of page.skipped) events.push({ type: "skipped", object });
      if (page.continueToken) {
        this.state = { kind: "listing", continueToken: page.continueToken };
      } else {
        this.releaseListSlot();
        events.push({ type: "initDone", resourceVersion: page.resourceVersion });
        this.state = { kind: "watch-pending", resourceVersion: page.resourceVersion };
      }
      return events;
    } catch (error) {
      // The slot goes back while the observer backs off.
      this.releaseListSlot();
      const apiError = asApiError(error);
      // An expired continue token (410) means the partial list is useless: start over.
      // A resource no longer served (not-found) starts over too once it is back.
      const relist = apiError.kind === "expired" || apiError.kind === "too-large-rv" || apiError.kind === "not-found";
      if (relist) this.state = { kind: "empty" };
      // A failed first page leaves nothing started; a failed later page keeps its token.
      return [...events.filter((e) => e.type !== "init"), { type: "error", error: apiError, relist }];
    }
  }

  private async openWatch(resourceVersion: string): Promise<WatcherEvent[]> {
    const timeoutSeconds = this.options.watchTimeoutSeconds();
    try {
      const stream = await this.client.watch({
        resourceVersion,
        timeoutSeconds,
        inactivityTimeoutMs: (timeoutSeconds + this.options.inactivityMarginSeconds) * 1000,
      });
      this.state = { kind: "watching", resourceVersion, stream, openedAt: this.now(), events: 0 };
      return [{ type: "watchStarted", resourceVersion }];
    } catch (error) {
      return [this.watchFailed(asApiError(error), resourceVersion)];
    }
  }

  private async readWatch(state: Extract<WatcherState, { kind: "watching" }>): Promise<WatcherEvent[]> {
    let event: Awaited<ReturnType<WatchStream["next"]>>;
    try {
      event = await state.stream.next();
    } catch (error) {
      return [this.watchFailed(asApiError(error), state.resourceVersion)];
    }
    if (event === null) {
      // The server ended the watch (its timeoutSeconds): resume from the last RV.
      this.state = { kind: "watch-pending", resourceVersion: state.resourceVersion };
      if (state.events === 0 && this.now() - state.openedAt < INSTANT_CLOSE_MS) {
        return [{ type: "error", error: new ApiError("other", "watch closed immediately with no event"), relist: false }];
      }
      return [];
    }
    state.events += 1;
    if (event.type === "OVERSIZED") {
      // Skipped, but read: a reconnect resumes after it.
      if (event.oversized.resourceVersion) state.resourceVersion = event.oversized.resourceVersion;
      return [{ type: "skipped", object: event.oversized }];
    }
    const object = event.object;
    const rv = object?.metadata?.resourceVersion;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        if (rv) state.resourceVersion = rv;
        return [{ type: "applied", object, resourceVersion: rv ?? state.resourceVersion }];
      case "DELETED":
        if (rv) state.resourceVersion = rv;
        return [{ type: "deleted", object, resourceVersion: rv ?? state.resourceVersion }];
      case "BOOKMARK":
        // Keeps a quiet watch's RV inside the server's history (case 7).
        if (rv) state.resourceVersion = rv;
        return [];
      case "ERROR": {
        state.stream.close();
        const status = object as KubeStatus;
        return [this.watchFailed(classifyStatus(status.code ?? 500, status), state.resourceVersion)];
      }
      default:
        return [{ type: "error", error: new ApiError("server", `unknown watch event type ${String((event as { type: unknown }).type)}`), relist: false }];
    }
  }

  private watchFailed(error: ApiError, resourceVersion: string): WatcherEvent {
    // A resource that stopped being served (its CRD deleted) starts over with a list
    // when it is served again: its resourceVersions may mean nothing to the new one.
    const relist = error.kind === "expired" || error.kind === "too-large-rv" || error.kind === "not-found";
    this.state = relist ? { kind: "empty" } : { kind: "watch-pending", resourceVersion };
    return { type: "error", error, relist };
  }
}
