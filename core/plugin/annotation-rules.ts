// What of an object's annotations may leave the observer. Deploy and GitOps tools keep
// their own full copy of the applied manifest in an annotation; on a Secret that copy
// holds the data in plain text, and on any kind a large value is more likely a copy than
// a fact. So, before any plugin sees the object:
//   - on a Secret, every value is withheld (the keys stay, as with its data keys);
//   - on other kinds, a value is withheld when its key is on the deny list (settable in the
//     config, observer.withheldAnnotations) or when it is over observer.maxAnnotationBytes.
// A withheld value is replaced by a marker (with its size, except on Secrets), so the graph
// still says the annotation is there. kubectl's last-applied copy is dropped whole before
// these rules run (sdk.ts scrubObject).

export interface AnnotationRules {
  /** Keys whose values never leave the observer; `*` matches any run of characters. */
  withheld: readonly string[];
  /** A value over this many UTF-8 bytes is withheld. */
  maxValueBytes: number;
}

/** The manifest-copy annotations of common deploy tools (documented in docs/graph-schema.md). */
export const DEFAULT_WITHHELD_ANNOTATIONS: readonly string[] = [
  // Carvel kapp: the original manifest, and its diff.
  "kapp.k14s.io/original",
  "kapp.k14s.io/original-diff",
  // Rancher's wrangler apply (Fleet, Rancher): the applied object, compressed.
  "objectset.rio.cattle.io/applied",
  // Tools that follow kubectl's convention under their own prefix (kubectl's own is
  // dropped whole before these rules).
  "*last-applied*",
];

export const DEFAULT_MAX_ANNOTATION_BYTES = 4096;

export const DEFAULT_ANNOTATION_RULES: AnnotationRules = { withheld: DEFAULT_WITHHELD_ANNOTATIONS, maxValueBytes: DEFAULT_MAX_ANNOTATION_BYTES };

/** What replaces a withheld value. */
export function withheldMarker(bytes: number | null): string {
  return bytes === null ? "<withheld>" : `<withheld: ${bytes} bytes>`;
}

/** Compiled once per rule set: the deny list as one regular expression. */
export class AnnotationFilter {
  private readonly denied: RegExp | null;

  constructor(private readonly rules: AnnotationRules) {
    const patterns = rules.withheld.map((p) => p.split("*").map(escapeRegExp).join(".*"));
    this.denied = patterns.length > 0 ? new RegExp(`^(?:${patterns.join("|")})$`) : null;
  }

  /** The annotations as they may leave the observer (a new object; the input is kept). */
  apply(annotations: Record<string, string>, onSecret: boolean): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(annotations)) {
      const text = typeof value === "string" ? value : String(value);
      if (onSecret) {
        out[key] = withheldMarker(null);
        continue;
      }
      // Cheap test first: a string of n UTF-16 units has at most 3n UTF-8 bytes.
      const bytes = text.length * 3 <= this.rules.maxValueBytes ? -1 : Buffer.byteLength(text, "utf8");
      out[key] = bytes > this.rules.maxValueBytes || this.denied?.test(key) ? withheldMarker(bytes >= 0 ? bytes : Buffer.byteLength(text, "utf8")) : text;
    }
    return out;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}
