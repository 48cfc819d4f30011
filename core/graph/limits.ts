// What both sinks can store, as one rule each, so the graph is the same in either.
//
// Keys: Neo4j refuses a value of about 8 KB or more in a range index (its key constraint
// and the owner index), and RoleBinding subject names and image references have no length
// limit in the API. A key longer than MAX_KEY_BYTES is stored as a prefix of it plus a
// hash of all of it: unique and stable, so references to the same object still meet, and
// anything that looks an object up by name (who-uses) bounds the key the same way.
//
// Property values: one larger than MAX_PROPERTY_BYTES is refused (SinkLimitError, a
// deterministic error: the dispatcher parks that message alone). Nothing the graph is
// for needs one, and a thousand of them in one UNWIND chunk would exhaust Neo4j's
// transaction memory, which it reports as a transient error: retried forever.
import { createHash } from "node:crypto";
import type { GraphOp, Properties } from "./model.js";

/** Keys up to this many UTF-8 bytes are stored as they are. */
export const MAX_KEY_BYTES = 2048;
/** How much of a long key is kept readable in front of its hash. */
const KEY_PREFIX_BYTES = 1024;
/** Separates a long key's prefix from the hash of the whole key. */
export const KEY_HASH_MARK = "…#sha256:";

/** One property value (a list: its items together), in UTF-8 bytes. */
export const MAX_PROPERTY_BYTES = 1024 * 1024;

/** A row a sink refuses whatever happens to the database: retrying cannot help. */
export class SinkLimitError extends Error {
  readonly deterministic = true;
  constructor(message: string) {
    super(message);
    this.name = "SinkLimitError";
  }
}

/** The key as the sinks store it (idempotent: a stored key maps to itself). */
export function storedKey(key: string): string {
  if (key.length <= MAX_KEY_BYTES / 3 || Buffer.byteLength(key, "utf8") <= MAX_KEY_BYTES) return key;
  const hash = createHash("sha256").update(key, "utf8").digest("hex");
  return `${utf8Prefix(key, KEY_PREFIX_BYTES)}${KEY_HASH_MARK}${hash}`;
}

/** The longest prefix of `text` within `bytes` UTF-8 bytes that does not split a character. */
function utf8Prefix(text: string, bytes: number): string {
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, "utf8");
    if (used + size > bytes) break;
    used += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

function valueBytes(value: Properties[string]): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, v) => sum + valueBytes(v), 0);
  return typeof value === "string" ? Buffer.byteLength(value, "utf8") : 8;
}

function checkProperties(properties: Properties, where: string): void {
  for (const [name, value] of Object.entries(properties)) {
    // Cheap test first: a string of n UTF-16 units has at most 3n UTF-8 bytes.
    if (typeof value === "string" && value.length * 3 <= MAX_PROPERTY_BYTES) continue;
    const bytes = valueBytes(value);
    if (bytes > MAX_PROPERTY_BYTES)
      throw new SinkLimitError(`${where}: property "${name}" is ${bytes} bytes, more than the ${MAX_PROPERTY_BYTES} a graph property may hold`);
  }
}

/** Throws SinkLimitError for the first value in the ops that no sink stores. */
export function checkSinkLimits(ops: readonly GraphOp[]): void {
  for (const op of ops) {
    if (op.op !== "upsert") continue;
    const where = `upsert of ${op.node.key}`;
    checkProperties(op.node.properties, where);
    for (const n of op.owned) checkProperties(n.properties, `${where}, owned node ${n.key}`);
    for (const p of op.placeholders) checkProperties(p.properties, `${where}, reference ${p.key}`);
    for (const e of op.edges) checkProperties(e.properties, `${where}, edge ${e.type}`);
    for (const l of op.links ?? []) checkProperties(l.properties, `${where}, link ${l.type}`);
    for (const s of op.selectors ?? []) checkProperties(s.properties, `${where}, selector ${s.type}`);
  }
}
