// `kube-observer history KIND NAME`: an object's own changes and its edges' in and out,
// in time order; `history watermarks`: up to when the history is complete, per scope, and
// the gaps in it (docs/history.md).
import type { Argv, CommandModule } from "yargs";
import { storedKey } from "../graph/limits.js";
import type { CoverageInterval, EdgeVersion, HistoryReader, NodeVersion } from "../history/reader.js";
import { waitingInInbox } from "../history/inbox.js";
import { formatTime, parseTime } from "../history/time.js";
import { lookupKey } from "./who-uses-command.js";
import { withHistory } from "./open-history.js";

interface HistoryArgs {
  what: string;
  name?: string;
  namespace?: string;
  cluster?: string;
  config: string;
  sink?: "sqlite" | "neo4j";
  since?: string;
  until?: string;
  json: boolean;
}

export interface TimelineEvent {
  atMs: number;
  rv: string | null;
  /** created, changed, deleted, placeholder (the object); +REL / -REL (an edge). */
  change: string;
  detail: string;
}

/** What differs between two versions' properties (names only: values may be long). */
function changedProperties(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => n !== "resourceVersion" && JSON.stringify(before[n]) !== JSON.stringify(after[n])).sort();
}

function describeNode(reader: HistoryReader, key: string, atMs: number): string {
  const node = reader.nodeNear(key, atMs);
  if (!node) return key;
  const ns = typeof node.properties.namespace === "string" ? `${node.properties.namespace}/` : "";
  return `${node.label} ${ns}${String(node.properties.name ?? key)}`;
}

function edgeNote(edge: EdgeVersion): string {
  const { owner: _o, derived: _d, selector: _s, ...rest } = edge.properties;
  const parts = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`);
  if (edge.origin !== "declared") parts.push(edge.origin);
  return parts.length ? ` (${parts.join(" ")})` : "";
}

export function timeline(reader: HistoryReader, key: string, versions: readonly NodeVersion[]): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  versions.forEach((v, i) => {
    const previous = versions[i - 1];
    const joined = previous !== undefined && previous.toMs === v.fromMs;
    const what =
      v.fromKind === "changed" && joined ? `changed: ${changedProperties(previous.properties, v.properties).join(", ") || "(managed fields)"}` : v.fromKind;
    events.push({ atMs: v.fromMs, rv: v.fromRv, change: v.fromKind, detail: what === v.fromKind ? "" : what.slice(v.fromKind.length + 2) });
    if (v.toMs !== null && v.toKind === "deleted") events.push({ atMs: v.toMs, rv: v.toRv, change: "deleted", detail: "" });
  });
  const { incoming, outgoing } = reader.edgesOf(key);
  for (const [edges, arrow] of [
    [outgoing, "to"],
    [incoming, "from"],
  ] as const) {
    for (const e of edges) {
      const other = arrow === "to" ? e.to : e.from;
      const text = `${arrow} ${describeNode(reader, other, e.fromMs)}${edgeNote(e)}`;
      events.push({ atMs: e.fromMs, rv: e.fromRv, change: `+${e.rel}`, detail: text });
      if (e.toMs !== null) events.push({ atMs: e.toMs, rv: e.toRv, change: `-${e.rel}`, detail: text });
    }
  }
  // Stable: at one moment the object's own change first, then its edges as listed.
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.atMs - b.e.atMs || a.i - b.i)
    .map(({ e }) => e);
}

/** The gaps between a scope's intervals of coverage (and since the last one ended). */
export function coverageByScope(intervals: readonly CoverageInterval[], nowMs = Date.now()) {
  const scopes = new Map<string, CoverageInterval[]>();
  for (const i of intervals) scopes.set(i.scope, [...(scopes.get(i.scope) ?? []), i]);
  return [...scopes.entries()].map(([scope, list]) => {
    const last = list.at(-1)!;
    const gaps = list.slice(1).map((next, i) => ({ fromMs: list[i]!.toMs, toMs: next.fromMs, reason: next.reason }));
    return {
      scope,
      completeFromMs: last.fromMs,
      completeToMs: last.toMs,
      lastRv: last.toRv ?? last.fromRv,
      /** How long ago the history of this scope was last known complete. */
      behindMs: Math.max(0, nowMs - last.toMs),
      firstMs: list[0]!.fromMs,
      gaps,
    };
  });
}

const seconds = (ms: number): string =>
  ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 3_600_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 3_600_000).toFixed(1)} h`;

export const historyCommand: CommandModule<object, HistoryArgs> = {
  command: "history <what> [name]",
  describe:
    "The graph through time: `history KIND NAME` shows an object's changes and its edges in and out; `history watermarks` shows up to when the history is complete per scope, and its gaps",
  builder: (y) =>
    (y as Argv)
      .positional("what", {
        type: "string",
        demandOption: true,
        describe: "watermarks, or a type as who-uses takes it (secret, configmap, pod, rolebinding, serviceaccount, image, …)",
      })
      .positional("name", { type: "string", describe: "the object's name (for image: a reference)" })
      .option("namespace", { alias: "n", type: "string", default: "default", describe: "namespace of the object (namespaced types)" })
      .option("cluster", { type: "string", describe: "cluster name from the config (default: the first)" })
      .option("since", { type: "string", describe: "only changes at or after this time (ISO 8601, or e.g. now-2h, 7d ago)" })
      .option("until", { type: "string", describe: "only changes at or before this time" })
      .option("config", { alias: "c", type: "string", demandOption: true, describe: "Dhall config file (names the history's file)" })
      .option("sink", { choices: ["sqlite", "neo4j"] as const, describe: "The history kept beside this sink instead of the configured one" })
      .option("json", { type: "boolean", default: false, describe: "Print as JSON" })
      .example(
        "$0 history rolebinding ops-admin -n payments -c config/example.dhall",
        "when the binding was made, changed and removed, and what it granted to whom",
      )
      .example("$0 history secret db -n payments --since now-7d -c config/example.dhall", "a week of the Secret's changes and of who used it")
      .example("$0 history watermarks -c config/example.dhall", "up to when each scope's history is complete, and its gaps") as unknown as Argv<HistoryArgs>,
  handler: (args) =>
    withHistory(args.config, args.sink, async ({ config, plugins, reader, file }) => {
      const pruned = reader.prunedBeforeMs();
      if (args.what === "watermarks" && args.name === undefined) {
        const scopes = coverageByScope(reader.coverage());
        // With Neo4j: batches the graph has that the history's thread has not recorded yet.
        const inbox = waitingInInbox(file);
        if (args.json) {
          process.stdout.write(`${JSON.stringify({ prunedBeforeMs: pruned ?? null, scopes, ...(inbox ? { inbox } : {}) }, null, 2)}\n`);
          return;
        }
        if (scopes.length === 0) process.stdout.write("no coverage recorded yet (the agent records it once a scope's first list is in the history)\n");
        const width = Math.max(5, ...scopes.map((s) => s.scope.length));
        if (scopes.length > 0)
          process.stdout.write(`${"SCOPE".padEnd(width)}  ${"COMPLETE FROM".padEnd(24)}  ${"COMPLETE UP TO".padEnd(24)}  ${"LAST RV".padEnd(10)}  GAPS\n`);
        for (const s of scopes) {
          const last = s.gaps.at(-1);
          const gaps =
            s.gaps.length === 0
              ? "none"
              : `${s.gaps.length}, last ${formatTime(last!.fromMs)} to ${formatTime(last!.toMs)} (${last!.reason === "start" ? "agent not running" : "relist"})`;
          process.stdout.write(
            `${s.scope.padEnd(width)}  ${formatTime(s.completeFromMs).padEnd(24)}  ${formatTime(s.completeToMs).padEnd(24)}  ${String(s.lastRv ?? "").padEnd(10)}  ${gaps}\n`,
          );
        }
        const behind = scopes.filter((s) => s.behindMs > 60_000);
        if (behind.length > 0)
          process.stdout.write(`\n${behind.length} scope(s) last known complete over a minute ago (is the agent running and watching them?)\n`);
        if (pruned !== undefined)
          process.stdout.write(`\nversions that ended before ${formatTime(pruned)} were pruned (history.retentionDays, history.maxBytes)\n`);
        if (inbox && inbox.entries > 0)
          process.stdout.write(
            `\n${inbox.entries} batch(es) the graph has committed wait in the history's inbox${inbox.oldestObservedMs === null ? "" : `, observed from ${formatTime(inbox.oldestObservedMs)}`}: the agent records them (a stopped agent, at its next start); the coverage above ends before them\n`,
          );
        return;
      }
      if (args.name === undefined) throw new Error(`history ${args.what}: name the object (history ${args.what} NAME), or ask for history watermarks`);
      const key = storedKey(lookupKey(plugins, config, { type: args.what, name: args.name, namespace: args.namespace, cluster: args.cluster }));
      const since = args.since === undefined ? -Infinity : parseTime(args.since);
      const until = args.until === undefined ? Infinity : parseTime(args.until);
      const versions = reader.versions(key);
      const events = timeline(reader, key, versions).filter((e) => e.atMs >= since && e.atMs <= until);
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ target: key, prunedBeforeMs: pruned ?? null, versions, events }, null, 2)}\n`);
        return;
      }
      if (versions.length === 0 && events.length === 0) {
        process.stdout.write(
          `the history holds nothing about ${key}${pruned !== undefined ? ` (versions that ended before ${formatTime(pruned)} were pruned)` : ""}\n`,
        );
        return;
      }
      process.stdout.write(`${key}\n${"TIME".padEnd(24)}  ${"RV".padEnd(10)}  CHANGE\n`);
      for (const e of events)
        process.stdout.write(`${formatTime(e.atMs).padEnd(24)}  ${String(e.rv ?? "-").padEnd(10)}  ${e.change}${e.detail ? ` ${e.detail}` : ""}\n`);
      const open = versions.at(-1);
      if (open && open.toMs === null)
        process.stdout.write(
          `(the latest version, ${open.observed ? "observed" : "referenced, not observed"}, holds since ${formatTime(open.fromMs)}: ${seconds(Date.now() - open.fromMs)} ago)\n`,
        );
      if (pruned !== undefined) process.stdout.write(`(versions that ended before ${formatTime(pruned)} were pruned)\n`);
    }),
};
