// The embedded graph's tables as earlier releases created them (storage version 0),
// for the migration tests.

/** The tables of earlier releases, as they created them. */
export const BEFORE_SELECTORS = `
  CREATE TABLE nodes (key TEXT PRIMARY KEY, label TEXT NOT NULL, owner TEXT, observed INTEGER NOT NULL, scope TEXT, props TEXT NOT NULL);
  CREATE INDEX nodes_owner ON nodes(owner);
  CREATE INDEX nodes_scope ON nodes(scope) WHERE scope IS NOT NULL;
  CREATE INDEX nodes_label ON nodes(label);
  CREATE TABLE edges (type TEXT NOT NULL, from_key TEXT NOT NULL, to_key TEXT NOT NULL, owner TEXT NOT NULL, props TEXT NOT NULL, UNIQUE (type, from_key, to_key, owner, props));
  CREATE INDEX edges_owner ON edges(owner);
  CREATE INDEX edges_to ON edges(to_key);
  CREATE INDEX edges_from ON edges(from_key);`;
