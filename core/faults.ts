// Failpoints for crash-safety and failure-path tests: KUBE_OBSERVER_FAILPOINTS=
// "name=N[:throw][,name=N…]" makes the N-th hit of a named point kill the process with
// SIGKILL, exactly where a real crash would hurt (e.g. after the WAL append, before the
// sink commit), or with ":throw" throw an error there once, as a failing disk or database
// would. Unset in production: a failpoint is then a map lookup that finds nothing.
interface Armed {
  remaining: number;
  action: "kill" | "throw";
}

const armed = new Map<string, Armed>();
for (const part of (process.env.KUBE_OBSERVER_FAILPOINTS ?? "").split(",")) {
  const [name, spec] = part.split("=");
  const [count, action] = (spec ?? "").split(":");
  if (name && count && Number(count) > 0) armed.set(name.trim(), { remaining: Number(count), action: action === "throw" ? "throw" : "kill" });
}

export class FailpointError extends Error {
  constructor(name: string) {
    super(`failpoint ${name}: injected failure`);
    this.name = "FailpointError";
  }
}

export function failpoint(name: string): void {
  const point = armed.get(name);
  if (point === undefined) return;
  if (point.remaining > 1) {
    point.remaining -= 1;
    return;
  }
  armed.delete(name);
  if (point.action === "throw") throw new FailpointError(name);
  process.stderr.write(`failpoint ${name}: killing the process\n`);
  process.kill(process.pid, "SIGKILL");
}
