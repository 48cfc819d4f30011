// The Cypher the Neo4j sink runs. Labels and relationship types cannot be parameters, so
// they are interpolated — only after LABEL_PATTERN / REL_TYPE_PATTERN have accepted them
// (which excludes backticks, spaces and every other character that could end the token).
// Everything else (keys, properties, scopes, owners) is a parameter.
//
// Shapes that stream over one index seek with `IN $list` (removing edges, deleting nodes)
// plan without Eager; reads that a delete depends on run as separate queries first.
// `SET n = row.props` always plans an Eager (Neo4j cannot know the map's keys), so the
// writes are sent in bounded chunks.
import { DERIVED_RELATIONSHIPS, ENTITY_LABEL, LABEL_PATTERN, REL_TYPE_PATTERN, SELECTOR_LABEL } from "./model.js";

export function label(name: string): string {
  if (!LABEL_PATTERN.test(name)) throw new Error(`refusing to use ${JSON.stringify(name)} as a Neo4j label`);
  return name;
}

export function relType(name: string): string {
  if (!REL_TYPE_PATTERN.test(name)) throw new Error(`refusing to use ${JSON.stringify(name)} as a Neo4j relationship type`);
  return name;
}

const E = ENTITY_LABEL;
const S = SELECTOR_LABEL;

// ---- schema (init) ----

/** The constraint and indexes the queries use: every lookup is by Entity key, owner or
 *  scope (or a selector's owner or scope). Per-label key constraints and per-type edge
 *  owner indexes, which earlier releases made, served no query and cost every write an
 *  index entry more; init() drops them (UNUSED_SCHEMA). */
export const SCHEMA_STATEMENTS: readonly string[] = [
  `CREATE CONSTRAINT ko_entity_key IF NOT EXISTS FOR (n:${E}) REQUIRE n.key IS UNIQUE`,
  `CREATE INDEX ko_entity_owner IF NOT EXISTS FOR (n:${E}) ON (n.owner)`,
  `CREATE INDEX ko_entity_scope IF NOT EXISTS FOR (n:${E}) ON (n.scope)`,
  `CREATE INDEX ko_selector_owner IF NOT EXISTS FOR (s:${S}) ON (s.owner)`,
  `CREATE INDEX ko_selector_scope IF NOT EXISTS FOR (s:${S}) ON (s.scope)`,
  // Derived edges are replaced by their owner (a derivation scope): one index per type.
  ...DERIVED_RELATIONSHIPS.map((type) => `CREATE INDEX ko_derived_${type.toLowerCase()} IF NOT EXISTS FOR ()-[r:${type}]-() ON (r.owner)`),
];

/** The agent's own constraints and indexes (named ko_…); the indexes a constraint owns
 *  go with it. SHOW commands cannot be combined with UNION: two queries. */
export const OWN_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'ko_' RETURN name";
export const OWN_INDEXES = "SHOW INDEXES YIELD name, owningConstraint WHERE name STARTS WITH 'ko_' AND owningConstraint IS NULL RETURN name";

/** Drops one of the agent's own constraints or indexes by name (checked by the caller). */
export function dropSchema(kind: "CONSTRAINT" | "INDEX", name: string): string {
  if (!/^ko_[A-Za-z0-9_]+$/.test(name)) throw new Error(`refusing to drop ${JSON.stringify(name)}`);
  return `DROP ${kind} ${name} IF EXISTS`;
}

export const AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)";

// ---- apply: one run ----

/** Deletes of a run: which keys exist, and the owners of the edges pointing at them (""
 *  for an edge without owner). The sink decides which of those still count. */
export const INCOMING_OWNERS = `
UNWIND $keys AS key
MATCH (k:${E} {key: key})
RETURN key, COLLECT { MATCH (k)<-[r]-() WHERE r.selector IS NULL AND r.derived IS NULL RETURN DISTINCT coalesce(r.owner, '') } AS owners`;

/** Step 1: the owners' edges go; their targets become garbage candidates. Every edge
 *  owned by K starts at K itself or at a node K owns (owner = K), so one query finds them
 *  all through the key and owner indexes, whatever their type (found nodes are
 *  re-matched by element id, see LIVE below). */
export const REMOVE_OWNED_EDGES = `
UNWIND $owners AS owner
CALL (owner) {
  MATCH (found:${E} {key: owner}) RETURN found
  UNION
  MATCH (found:${E} {owner: owner}) RETURN found
}
WITH DISTINCT owner, elementId(found) AS id
MATCH (n) WHERE elementId(n) = id
MATCH (n)-[r]->(t)
WHERE r.owner = owner
WITH r, t.key AS target
DELETE r
RETURN DISTINCT target`;

// Neo4j 5.26 (checked on 5.26.17): when a transaction adds an indexed property to an
// existing node and then deletes the node, a later seek on that index in the same
// transaction still returns it, and reading it fails with "Node with id … has been
// deleted in this transaction". A placeholder that is observed (owner, scope added) and
// deleted in one apply hits this. Seeks on owner and scope therefore re-match what they
// find by element id alone (which does see the deletion) and return the properties the
// caller re-checks: any predicate on the re-match would let the planner seek the index again.
const LIVE = `WITH elementId(found) AS id MATCH (n) WHERE elementId(n) = id`;

/** Step 2 (read): nodes with these owners (the caller drops the owners themselves). */
export const OWNED_NODES = `
MATCH (found:${E})
WHERE found.owner IN $owners
${LIVE}
RETURN n.owner AS owner, n.key AS key`;

/** Which of these keys are in the graph: a key that is not owns nothing yet, so its owner
 *  cleanup (edges, owned nodes, selectors) is left out. */
export const EXISTING_KEYS = `
UNWIND $keys AS key
MATCH (:${E} {key: key})
RETURN DISTINCT key`;

/** Whether any selector is stored: without one there are no selected edges to redo. */
export const ANY_SELECTOR = `MATCH (:${S}) RETURN true AS any LIMIT 1`;

/** The neighbours of nodes about to be detach-deleted (they may become garbage). */
export const NEIGHBOURS = `
MATCH (n:${E})--(m)
WHERE n.key IN $keys
RETURN DISTINCT m.key AS key`;

export const DETACH_DELETE = `
MATCH (n:${E})
WHERE n.key IN $keys
DETACH DELETE n`;

/** Delete step 2 (referenced): keep key, cluster, namespace, name; observed = false. When
 *  the run upserted the node first, the trimmed properties and label come from that upsert. */
export function demote(primary: string | null, allLabels: readonly string[]): string {
  return `
UNWIND $rows AS row
MATCH (n:${E} {key: row.key})
SET n = coalesce(row.props, {cluster: n.cluster, namespace: n.namespace, name: n.name})
SET n.key = row.key, n.observed = false${primary === null ? "" : relabel(primary, allLabels)}`;
}

/** Steps 3–4: properties replaced, primary label set (a placeholder becomes this node). */
export function writeNodes(primary: string, allLabels: readonly string[]): string {
  return `
UNWIND $rows AS row
MERGE (n:${E} {key: row.key})
SET n = row.props${relabel(primary, allLabels)}`;
}

/** Steps 3–4 for keys the run found missing: created outright (no MERGE, no relabel,
 *  no Eager plan). */
export function createNodes(primary: string): string {
  return `
UNWIND $rows AS row
CREATE (n:${E}:${label(primary)})
SET n = row.props`;
}

/** Step 5: created if no node has the key, otherwise left alone. */
export function createPlaceholders(primary: string): string {
  return `
UNWIND $rows AS row
MERGE (n:${E} {key: row.key})
ON CREATE SET n = row.props, n:${label(primary)}`;
}

/** Step 6. The count lets the sink notice an endpoint that is not there. */
export function createEdges(type: string): string {
  return `
UNWIND $rows AS row
MATCH (a:${E} {key: row.from})
MATCH (b:${E} {key: row.to})
CREATE (a)-[r:${relType(type)}]->(b)
SET r = row.props
RETURN count(r) AS created`;
}

/** Links: created only while the start is a placeholder, and only once. */
export function createLinks(type: string): string {
  return `
UNWIND $rows AS row
MATCH (a:${E} {key: row.from})
WHERE a.observed = false
MATCH (b:${E} {key: row.to})
WITH a, b, row
WHERE NOT EXISTS { MATCH (a)-[r:${relType(type)}]->(b) WHERE properties(r) = row.props }
CREATE (a)-[r:${relType(type)}]->(b)
SET r = row.props`;
}

// ---- apply: selectors ----

export const DELETE_SELECTORS = `
MATCH (s:${S})
WHERE s.owner IN $owners
DELETE s`;

export const CREATE_SELECTORS = `
UNWIND $rows AS row
CREATE (s:${S})
SET s = row`;

export const SELECTORS_OF = `
MATCH (s:${S})
WHERE s.owner IN $owners
RETURN s.owner AS owner, s.from AS from, s.type AS type, s.scope AS scope, s.spec AS spec, s.props AS props`;

export const SELECTORS_FOR = `
MATCH (s:${S})
WHERE s.scope IN $scopes
RETURN s.owner AS owner, s.from AS from, s.type AS type, s.scope AS scope, s.spec AS spec, s.props AS props`;

/** Selected edges into these keys (redone after every apply that touches them). */
export const DELETE_SELECTED_INTO = `
MATCH (t:${E})<-[r]-()
WHERE t.key IN $keys AND r.selector IS NOT NULL
DELETE r`;

/** Candidates of selectors: the nodes of these scopes (the caller keeps observed ones). */
export const SCOPE_LABELS = `
UNWIND $scopes AS sc
MATCH (found:${E} {scope: sc})
WITH sc, elementId(found) AS id
MATCH (n) WHERE elementId(n) = id
RETURN sc, n.key AS key, n.scope AS scope, n.observed AS observed, n.labels AS labels`;

/** The touched keys that still exist, with what selection needs. */
export const NODE_LABELS = `
MATCH (found:${E})
WHERE found.key IN $keys
WITH elementId(found) AS id
MATCH (n) WHERE elementId(n) = id
RETURN n.key AS key, n.scope AS scope, n.observed AS observed, n.labels AS labels`;

function relabel(primary: string, allLabels: readonly string[]): string {
  const others = allLabels.filter((l) => l !== primary).map(label);
  return `\nSET n:${label(primary)}${others.length > 0 ? `\nREMOVE n:${others.join(":")}` : ""}`;
}

// ---- apply: garbage and sweeps ----

/** Unobserved nodes nothing points at (their own links do not keep them), with what
 *  their links point at (checked next). */
export const GARBAGE = `
MATCH (n:${E})
WHERE n.key IN $keys AND n.observed = false AND NOT EXISTS { (n)<--() }
RETURN n.key AS key, COLLECT { MATCH (n)-->(m) RETURN DISTINCT m.key } AS next`;

export const DELETE_NODES = `
MATCH (n:${E})
WHERE n.key IN $keys
DETACH DELETE n`;

/** Nodes whose scope starts with a cluster's prefix (a sweep of every namespace; the
 *  caller keeps the observed ones its scope covers). */
export const SCOPE_PREFIX_NODES = `
MATCH (found:${E})
WHERE found.scope STARTS WITH $prefix
${LIVE}
RETURN n.key AS key, n.scope AS scope, n.observed AS observed`;

/** Nodes of a scope (the caller keeps the observed ones of that scope). */
export const SCOPE_NODES = `
MATCH (found:${E} {scope: $scope})
${LIVE}
RETURN n.key AS key, n.scope AS scope, n.observed AS observed`;

// ---- reading ----

export const STATS_NODES = `
MATCH (n:${E})
UNWIND [l IN labels(n) WHERE l <> '${E}'] AS label
RETURN label, count(*) AS count`;

export const STATS_EDGES = `
MATCH (:${E})-[r]->(:${E})
RETURN type(r) AS type, count(*) AS count`;

export const EXPORT_NODES = `
MATCH (n:${E})
RETURN [l IN labels(n) WHERE l <> '${E}'] AS labels, n.key AS key, properties(n) AS properties`;

export const EXPORT_EDGES = `
MATCH (a:${E})-[r]->(b:${E})
RETURN type(r) AS rel, a.key AS from, b.key AS to, properties(r) AS properties`;

// Labels and relationship types cannot be parameters: each is checked to be a plain
// identifier before it is written into the query.
function identifiers(names: readonly string[], what: string): string[] {
  for (const name of names) if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a graph ${what}: ${JSON.stringify(name)}`);
  return names.map((name) => `\`${name}\``);
}

/** Nodes by label (GraphSink.subgraph): one label scan each. */
export function subgraphNodes(labels: readonly string[]): string | null {
  if (labels.length === 0) return null;
  return identifiers(labels, "label")
    .map((label) => `MATCH (n:${E}:${label}) RETURN [l IN labels(n) WHERE l <> '${E}'] AS labels, n.key AS key, properties(n) AS properties`)
    .join("\nUNION ALL\n");
}

/** Edges by type (GraphSink.subgraph): a relationship type scan. */
export function subgraphEdges(rels: readonly string[]): string | null {
  if (rels.length === 0) return null;
  return `MATCH (a:${E})-[r:${identifiers(rels, "relationship type").join("|")}]->(b:${E})
RETURN type(r) AS rel, a.key AS from, b.key AS to, properties(r) AS properties`;
}

/** GraphSink.neighbourhood: through the key and owner indexes. */
export const NEIGHBOURHOOD_NODES = `
UNWIND $keys AS k MATCH (n:${E} {key: k})
RETURN [l IN labels(n) WHERE l <> '${E}'] AS labels, n.key AS key, properties(n) AS properties
UNION
UNWIND $keys AS k MATCH (n:${E} {owner: k})
RETURN [l IN labels(n) WHERE l <> '${E}'] AS labels, n.key AS key, properties(n) AS properties`;

/** Edges owned by the keys (they start at the key or at a node it owns) and edges into
 *  the keys, with the nodes at both ends. */
export const NEIGHBOURHOOD_EDGES = `
UNWIND $keys AS k MATCH (a:${E})-[r]->(b:${E}) WHERE (a.key = k OR a.owner = k) AND r.owner = k
RETURN type(r) AS rel, a.key AS from, b.key AS to, properties(r) AS properties,
  [l IN labels(b) WHERE l <> '${E}'] AS endLabels, b.key AS endKey, properties(b) AS endProperties
UNION ALL
UNWIND $keys AS k MATCH (a:${E})-[r]->(b:${E} {key: k}) WHERE NOT r.owner IN $keys
RETURN type(r) AS rel, a.key AS from, b.key AS to, properties(r) AS properties,
  [l IN labels(a) WHERE l <> '${E}'] AS endLabels, a.key AS endKey, properties(a) AS endProperties`;

/** The links placeholders own (an image's registry), with their ends. */
export const PLACEHOLDER_LINKS = `
UNWIND $keys AS k MATCH (a:${E} {key: k})-[r]->(b:${E}) WHERE r.owner = k AND a.observed = false
RETURN type(r) AS rel, a.key AS from, b.key AS to, properties(r) AS properties,
  [l IN labels(b) WHERE l <> '${E}'] AS endLabels, b.key AS endKey, properties(b) AS endProperties`;

/** Derived edges of objects about to be deleted: they go first (they are not references). */
export const DELETE_DERIVED_OF = `
UNWIND $keys AS key
MATCH (:${E} {key: key})-[r]-()
WHERE r.derived = true
DELETE r`;

/** GraphSink.replaceDerived: a type's edges of these derivation scopes go... */
export function deleteDerived(type: string): string {
  return `UNWIND $owners AS o MATCH ()-[r:${type} {owner: o}]->() DELETE r`;
}

/** A whole derivation: every edge of a type whose scope is under the prefix goes. */
export function deleteDerivedUnder(type: string): string {
  return `MATCH ()-[r:${type}]->() WHERE r.owner STARTS WITH $prefix DELETE r`;
}

/** ...and the new ones come, between observed nodes only. */
export function createDerived(type: string): string {
  return `
UNWIND $edges AS e
MATCH (a:${E} {key: e.from}) WHERE a.observed = true
MATCH (b:${E} {key: e.to}) WHERE b.observed = true
CREATE (a)-[r:${type}]->(b)
SET r = e.props`;
}

export const INCOMING = `
MATCH (s:${E})-[r]->(:${E} {key: $key})
RETURN type(r) AS rel, properties(r) AS properties,
  [l IN labels(s) WHERE l <> '${E}'] AS labels, s.key AS key, properties(s) AS source`;
