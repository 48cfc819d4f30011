// What can be said about an object that was too large to read: its identity, taken from
// the start of its JSON (the apiserver writes kind and metadata's name, namespace, uid
// and resourceVersion before anything large such as annotations, data or spec).

export interface OversizedObject {
  /** Where it was met: a LIST page or a watch event (with the event's type). */
  source: "list" | "watch";
  eventType?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  bytes: number;
  capBytes: number;
}

function field(text: string, name: string): string | undefined {
  const match = new RegExp(`"${name}":"((?:[^"\\\\]|\\\\.){0,512})"`).exec(text);
  if (!match) return undefined;
  try {
    return JSON.parse(`"${match[1]}"`) as string;
  } catch {
    return undefined;
  }
}

/** Where metadata's identity fields end: the first field the apiserver writes after them. */
const AFTER_IDENTITY = [
  '"generation":',
  '"creationTimestamp":',
  '"deletionTimestamp":',
  '"labels":',
  '"annotations":',
  '"ownerReferences":',
  '"finalizers":',
  '"managedFields":',
];

/** Identity fields found in the prefix of an object (or of a watch event around one). */
export function identifyPrefix(prefix: string, bytes: number, capBytes: number, source: OversizedObject["source"]): OversizedObject {
  const found: OversizedObject = { source, bytes, capBytes };
  let objectStart = 0;
  if (source === "watch") {
    const type = field(prefix.slice(0, 64), "type");
    if (type) found.eventType = type;
    const at = prefix.indexOf('"object":');
    objectStart = at === -1 ? 0 : at;
  }
  const metadata = prefix.indexOf('"metadata":{', objectStart);
  // List items carry no kind (the caller knows it); a nested one (an owner reference's)
  // would be the wrong kind, so only what precedes metadata counts.
  const kind = field(prefix.slice(objectStart, metadata === -1 ? undefined : metadata), "kind");
  if (kind) found.kind = kind;
  if (metadata !== -1) {
    let end = prefix.length;
    for (const marker of AFTER_IDENTITY) {
      const at = prefix.indexOf(marker, metadata);
      if (at !== -1 && at < end) end = at;
    }
    const identity = prefix.slice(metadata, end);
    for (const name of ["name", "namespace", "uid", "resourceVersion"] as const) {
      const value = field(identity, name);
      if (value !== undefined) found[name] = value;
    }
  }
  return found;
}

/** "Pod team-a/web-1 (2.1 MiB)" for logs and errors; only what could be read. */
export function describeOversized(object: OversizedObject): string {
  const name = object.name === undefined ? "(name unreadable)" : object.namespace ? `${object.namespace}/${object.name}` : object.name;
  return `${object.kind ?? "object"} ${name}`;
}
