// What an observer remembers of its scope: per object only its key (namespace/name) and
// uid — never the object or its reduction. Two jobs: telling a delete-and-recreate (same
// name, new uid) from an update, and, at the end of each complete LIST, `replace`: the
// store becomes exactly what was listed and says what it held that the list did not.
//
// Relist deletions reach the graph one way only: the list's boundary message carries the
// present keys and the sink sweeps the scope (in WAL order, so it also removes objects
// written before a restart, which no in-memory store knows). What `replace` returns is
// reported (logs, status), not sent as messages.

export interface KnownObject {
  uid: string;
  namespace: string | null;
  name: string;
}

function storeKey(k: { namespace: string | null; name: string }): string {
  return `${k.namespace ?? ""}/${k.name}`;
}

export class RelistStore {
  private readonly known = new Map<string, KnownObject>();
  /** The LIST in progress: what its pages have shown so far. */
  private listing: Map<string, KnownObject> | undefined;

  get size(): number {
    return this.known.size;
  }

  /** A LIST starts (again): what it shows until `replace` is the scope's content. */
  beginList(): void {
    this.listing = new Map();
  }

  /** An object seen on a LIST page or the watch; returns the object it replaces when the
   *  name is the same and the uid is not (deleted and recreated). */
  observe(object: KnownObject): KnownObject | undefined {
    const key = storeKey(object);
    const previous = this.known.get(key);
    this.known.set(key, object);
    this.listing?.set(key, object);
    return previous && previous.uid !== object.uid ? previous : undefined;
  }

  remove(k: { namespace: string | null; name: string }): KnownObject | undefined {
    const key = storeKey(k);
    const previous = this.known.get(key);
    this.known.delete(key);
    this.listing?.delete(key);
    return previous;
  }

  /** The LIST is complete: the store becomes what it listed. Returns the present objects
   *  and those known before but not listed (deleted while nothing was watching). */
  replace(): { present: KnownObject[]; deletions: KnownObject[] } {
    const listed = this.listing ?? new Map<string, KnownObject>();
    this.listing = undefined;
    const deletions: KnownObject[] = [];
    for (const [key, known] of this.known) {
      if (!listed.has(key)) {
        deletions.push(known);
        this.known.delete(key);
      }
    }
    return { present: [...listed.values()], deletions };
  }

  /** Forgets everything (the scope is gone); returns what it held. */
  clear(): KnownObject[] {
    const all = [...this.known.values()];
    this.known.clear();
    this.listing = undefined;
    return all;
  }
}
