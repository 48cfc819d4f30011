// The machine a benchmark ran on, as every result file records it.
import { cpus, loadavg, platform, release, totalmem } from "node:os";

export interface MachineFacts {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  platform: string;
  kernel: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
}

/** Read at the end of a run; the load average at its start is passed in. */
export function machineFacts(loadAverageAtStart: number[]): MachineFacts {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? "unknown",
    memoryBytes: totalmem(),
    node: process.versions.node,
    platform: platform(),
    kernel: release(),
    loadAverageAtStart,
    loadAverageAtEnd: loadavg(),
  };
}
