// V8 heap sizing for the long-running agent. Left to its defaults, V8 sizes the heap for
// throughput: the young generation grows to 16 MB per semi-space in every isolate (the
// main thread and each observer thread) and the old generation is let grow well past
// what is live before a full collection. At tier M that held ~460 MB of RSS for ~50 MB of
// live main-thread data (bench/results). The agent's live state is small and does not
// grow with the cluster (observer stores aside), so it trades a little collection work
// for memory: the old generation grows by 15 % per collection, and observer threads get a
// small young generation. Flags a user passes (NODE_OPTIONS, node flags) win.
import { setFlagsFromString } from "node:v8";

/** Old-generation growth per full collection, in percent (V8's default is dynamic, 1.1×–4×). */
export const HEAP_GROWING_PERCENT = 15;
/** Young generation of an observer thread (V8 default ~48 MB: three 16 MB semi-spaces). */
export const WORKER_YOUNG_GENERATION_MB = 6;

function userSet(flag: string): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)].some((a) => a.startsWith(flag) || a.startsWith(flag.replace(/-/g, "_")));
}

/** Node flags that must be given at start (the main isolate's young generation is sized
 *  when it is created): the deploy image, the bin shebang and the bench pass them. */
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=2"] as const;
/** glibc's default of 8 malloc arenas per core lets a multi-threaded process keep freed
 *  memory in many arenas; two are enough for the agent (set by the deploy image). */
export const AGENT_ENV = { MALLOC_ARENA_MAX: "2" } as const;

/** Applies the agent's heap sizing to this process (the main isolate's heap growth is read
 *  at every collection, so setting it after start-up takes effect). */
export function applyAgentHeapTuning(): void {
  if (!userSet("--heap-growing-percent")) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
