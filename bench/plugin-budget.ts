// What the plugin time budget (core/plugin/budget.ts) costs per message: the tier's
// initial-sync stream translated (1) by toGraphOp directly, (2) by the dispatcher's
// translateMessages with the plugins as loaded (built-ins: the direct fast path), and (3)
// with every plugin treated as third-party (toGraph under the vm watchdog), in batches of
// 2,000 (the dispatcher's), 100, 10 and 1 (a trickle of watch events). No cluster needed:
//   node dist/bench/plugin-budget.js [--tier S] [--rounds 7]
import { toGraphOp, translateMessages } from "../core/dispatch/translate.js";
import type { KubeMessage } from "../core/messages.js";
import { loadPlugins, type LoadedPlugin } from "../core/plugin/registry.js";
import { tierMessages } from "./sink-stream.js";
import { tierByName } from "./tiers.js";

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback;
};
const tier = tierByName(arg("tier", "S"));
const rounds = Number(arg("rounds", "7"));
const budgetMs = 1000;

const { plugins } = await loadPlugins([]);
const asThirdParty = new Map([...plugins].map(([name, p]): [string, LoadedPlugin] => [name, { ...p, builtin: false }]));
const messages = tierMessages(tier, plugins);
const upserts = messages.filter((m) => m.action === "Applied").length;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One timed run: µs per message, wall clock and the process's CPU time (every thread:
 *  the watchdog's included), which other load on the machine disturbs less. */
async function timed(run: () => Promise<void> | void): Promise<{ wall: number; cpu: number }> {
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  await run();
  const used = process.cpuUsage(cpuStarted);
  return { wall: ((performance.now() - started) * 1000) / messages.length, cpu: (used.user + used.system) / messages.length };
}

/** As the dispatcher translated before the budget: toGraphOp per message, the batch's ops kept. */
function direct(size: number): void {
  for (let i = 0; i < messages.length; i += size) {
    const ops = messages.slice(i, i + size).map((m) => toGraphOp(m, plugins.get(m.resource)!));
    if (ops.length === 0) throw new Error("no ops");
  }
}

async function batched(set: ReadonlyMap<string, LoadedPlugin>, size: number): Promise<void> {
  for (let i = 0; i < messages.length; i += size) {
    const inputs = messages.slice(i, i + size).map((message: KubeMessage) => ({ message, loaded: set.get(message.resource)! }));
    const results = await translateMessages(inputs, budgetMs);
    if (results.some((r) => !r.ok)) throw new Error("a message did not translate");
  }
}

const cases: Array<[string, () => Promise<void> | void]> = [
  ["toGraphOp, direct (no budget), batch 2000", () => direct(2000)],
  ["translateMessages, built-ins (fast path), batch 2000", () => batched(plugins, 2000)],
  ...[2000, 100, 10, 1].map((size): [string, () => Promise<void>] => [
    `translateMessages, as third-party (vm budget), batch ${size}`,
    () => batched(asThirdParty, size),
  ]),
];
console.log(`tier ${tier.name}: ${messages.length} messages (${upserts} upserts), median of ${rounds} interleaved rounds, Node ${process.version}`);
for (const [, run] of cases) await run(); // warm-up
const samples = cases.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
for (let r = 0; r < rounds; r++) {
  // Interleaved, so that drift in the machine's load spreads over every case alike.
  for (const [i, [, run]] of cases.entries()) {
    const t = await timed(run);
    samples[i]!.wall.push(t.wall);
    samples[i]!.cpu.push(t.cpu);
  }
}
console.log(`${"".padEnd(60)} ${"wall µs/msg".padStart(12)} ${"cpu µs/msg".padStart(12)}`);
for (const [i, [what]] of cases.entries()) {
  console.log(`${what.padEnd(60)} ${median(samples[i]!.wall).toFixed(2).padStart(12)} ${median(samples[i]!.cpu).toFixed(2).padStart(12)}`);
}
