// GraphOp fixtures for the planner and contract unit tests.
import type { GraphOp, Properties } from "../../../core/graph/model.js";

/** An upsert of Pod `name` in c/ns that references (and has an edge to) each Secret. */
export function pod(name: string, secrets: string[] = [], properties: Properties = {}): GraphOp {
  const key = `c/ns/Pod/${name}`;
  return {
    op: "upsert",
    node: { label: "Pod", key, scope: "c/ns/Pod", properties: { name, ...properties } },
    owned: [],
    placeholders: secrets.map((s) => ({ label: "Secret", key: `c/ns/Secret/${s}`, properties: { name: s } })),
    edges: secrets.map((s) => ({ type: "USES_SECRET", from: key, to: `c/ns/Secret/${s}`, properties: {} })),
  };
}

export const del = (key: string): GraphOp => ({ op: "delete", key });
