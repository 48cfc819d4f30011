// Failpoints for crash-safety tests: KUBE_OBSERVER_FAILPOINTS="name=N[,name=N]" makes the
// N-th hit of a named point kill the process with SIGKILL, exactly where a real crash
// would hurt (e.g. after the WAL append, before the sink commit). Unset in production: a
// failpoint is then a map lookup that finds nothing.
const armed = new Map<string, number>();
for (const part of (process.env.KUBE_OBSERVER_FAILPOINTS ?? "").split(",")) {
  const [name, count] = part.split("=");
  if (name && count && Number(count) > 0) armed.set(name.trim(), Number(count));
}

export function failpoint(name: string): void {
  const remaining = armed.get(name);
  if (remaining === undefined) return;
  if (remaining > 1) {
    armed.set(name, remaining - 1);
    return;
  }
  process.stderr.write(`failpoint ${name}: killing the process\n`);
  process.kill(process.pid, "SIGKILL");
}
