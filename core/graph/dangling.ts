// Dangling references: placeholders (referenced, never observed — or deleted) of a kind the
// agent observes, with who points at them. A Secret a pod names that does not exist is a
// finding; a ContainerImage is never "observed", so only observed kinds count.
import type { GraphSink } from "./model.js";
import { whoUses, type Usage } from "./who-uses.js";

export interface DanglingReference {
  label: string;
  key: string;
  usedBy: Usage[];
}

export async function danglingReferences(sink: GraphSink, observedLabels: ReadonlySet<string>): Promise<DanglingReference[]> {
  const found: DanglingReference[] = [];
  for await (const line of sink.export()) {
    if (line.type !== "node") continue;
    const label = line.labels[0] ?? "";
    if (line.properties.observed !== false || !observedLabels.has(label)) continue;
    found.push({ label, key: line.key, usedBy: await whoUses(sink, line.key) });
  }
  return found;
}
