// OWNED_BY edges from ownerReferences: (X)-[:OWNED_BY]->(Owner), for the owner kinds a
// plugin declares. An owner of another kind (a CRD's controller, say) is kept as a
// property instead, so an unknown owner never makes the message malformed.
import { objectReference, type ReducedMetadata } from "../../core/plugin/sdk.js";
import type { GraphContext, GraphEdgeSpec, GraphNodeSpec } from "../../core/plugin/types.js";

export function ownerGraph(
  ctx: GraphContext,
  metadata: ReducedMetadata,
  ownerKinds: readonly string[],
): { references: GraphNodeSpec[]; edges: GraphEdgeSpec[]; otherOwners: string[] } {
  const references: GraphNodeSpec[] = [];
  const edges: GraphEdgeSpec[] = [];
  const otherOwners: string[] = [];
  for (const owner of metadata.ownerReferences) {
    if (!ownerKinds.includes(owner.kind)) {
      otherOwners.push(`${owner.apiVersion}/${owner.kind}/${owner.name}`);
      continue;
    }
    const ref = objectReference(ctx, owner.kind, metadata.namespace, owner.name);
    references.push(ref);
    edges.push({ type: "OWNED_BY", to: ref.key, properties: { controller: owner.controller, ownerUid: owner.uid } });
  }
  return { references, edges, otherOwners };
}
