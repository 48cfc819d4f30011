// What a 2xx LIST body and a watch line must look like before anything in them is taken
// as data. A body that parses as JSON is not yet a List: `{}`, a Status with
// "status":"Success", `[]` or `null` from a broken proxy would otherwise read as a
// complete, empty list — and an empty namespace list stops every per-namespace observer
// and sweeps their objects from the graph. Each check returns what is wrong, naming
// fields and JSON types only: never a value from the body (it can be a Secret).
const EVENT_TYPES: ReadonlySet<string> = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);

type Json = Record<string, unknown>;

/** "an object", "an array", "a string", "null", ... (the JSON type, not the value). */
export function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (value === undefined) return "missing";
  return `a ${typeof value}`;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The envelope of a List page (its items array emptied by the splitter), or what is
 *  wrong with it. A List is an object with an `items` array, a `metadata` object with a
 *  resourceVersion (the watch resumes from it), and a kind ending in "List" if any. */
export function listEnvelopeProblem(envelope: unknown): string | undefined {
  if (!isObject(envelope)) return `the body is ${jsonType(envelope)}, not an object`;
  if (envelope.kind !== undefined && (typeof envelope.kind !== "string" || !envelope.kind.endsWith("List"))) return 'its "kind" does not end in "List"';
  if (!Array.isArray(envelope.items)) return `"items" is ${jsonType(envelope.items)}, not an array`;
  const metadata = envelope.metadata;
  if (!isObject(metadata)) return `"metadata" is ${jsonType(metadata)}, not an object`;
  if (typeof metadata.resourceVersion !== "string" || metadata.resourceVersion === "")
    return `"metadata.resourceVersion" is ${metadata.resourceVersion === "" ? "empty" : jsonType(metadata.resourceVersion)}, not a resourceVersion`;
  if (metadata.continue !== undefined && typeof metadata.continue !== "string") return `"metadata.continue" is ${jsonType(metadata.continue)}, not a string`;
  return undefined;
}

/** What is wrong with one object of a List or a watch event (an object with a name). */
export function objectProblem(object: unknown): string | undefined {
  if (!isObject(object)) return `is ${jsonType(object)}, not an object`;
  if (!isObject(object.metadata)) return `has "metadata" ${jsonType(object.metadata)}, not an object`;
  if (typeof object.metadata.name !== "string" || object.metadata.name === "") return "has no metadata.name";
  return undefined;
}

/** The first problem among a page's items, with its index. */
export function itemsProblem(items: readonly unknown[]): string | undefined {
  for (let i = 0; i < items.length; i++) {
    const problem = objectProblem(items[i]);
    if (problem) return `item ${i} ${problem}`;
  }
  return undefined;
}

/** A watch event line, parsed: an object with a known `type` and an `object` — a named
 *  object for ADDED/MODIFIED/DELETED, one with a resourceVersion for BOOKMARK, a Status
 *  for ERROR. */
export function watchEventProblem(event: unknown): string | undefined {
  if (!isObject(event)) return `the line is ${jsonType(event)}, not an object`;
  if (typeof event.type !== "string" || !EVENT_TYPES.has(event.type)) {
    return typeof event.type === "string" ? 'its "type" is not ADDED, MODIFIED, DELETED, BOOKMARK or ERROR' : `its "type" is ${jsonType(event.type)}`;
  }
  const object = event.object;
  if (!isObject(object)) return `its "object" is ${jsonType(object)}, not an object`;
  switch (event.type) {
    case "ERROR":
      return isStatus(object) ? undefined : 'an ERROR event whose "object" is not a Status';
    case "BOOKMARK": {
      const metadata = object.metadata;
      return isObject(metadata) && typeof metadata.resourceVersion === "string" && metadata.resourceVersion !== ""
        ? undefined
        : "a BOOKMARK without metadata.resourceVersion";
    }
    default: {
      const problem = objectProblem(object);
      return problem ? `a ${event.type} event whose object ${problem}` : undefined;
    }
  }
}

/** A metav1.Status: kind "Status" (or no kind) with a numeric code or a status string. */
function isStatus(object: Json): boolean {
  if (object.kind !== undefined && object.kind !== "Status") return false;
  if (object.code !== undefined && typeof object.code !== "number") return false;
  if (object.message !== undefined && typeof object.message !== "string") return false;
  return typeof object.code === "number" || typeof object.status === "string";
}
