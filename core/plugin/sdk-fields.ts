// Keep named fields only: a reduction lists the fields it keeps and how, so free-form maps
// (CSI volumeAttributes, flexVolume options, StorageClass parameters) and whatever a later
// API version adds never reach the WAL, the parked table or `--output jsonl`.

/** How one field is kept: the value to keep, or undefined to drop it. */
export type FieldRule = (value: unknown) => unknown;

/** The fields to keep from an object, each with its rule; every other field is dropped. */
export type FieldSpec = Readonly<Record<string, FieldRule>>;

type Raw = Record<string, unknown>;

const isRecord = (value: unknown): value is Raw => value !== null && typeof value === "object" && !Array.isArray(value);

/** The named fields of `source`, each kept by its rule; unset and dropped fields are absent.
 *  A source that is not an object gives {}. */
export function pickFields(source: unknown, spec: FieldSpec): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  if (!isRecord(source)) return picked;
  for (const name of Object.keys(spec)) {
    if (!Object.hasOwn(source, name)) continue;
    const value = spec[name]!(source[name]);
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/** A URL without the credentials it can carry: user info (user:password@), query string
 *  (signatures, SAS tokens) and fragment. A string that is not a URL with a host can still
 *  hold user info before an "@" (scp-style "user:pw@host:/path"), so everything up to its
 *  last "@" goes, as does anything from a "?" or "#". */
export function withoutCredentials(value: string): string {
  let url: URL | null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (url && url.host !== "") {
    if (!url.username && !url.password && !url.search && !url.hash) return value;
    url.username = "";
    url.password = "";
    url.search = "";
    url.hash = "";
    return url.href;
  }
  const afterUser = value.slice(value.lastIndexOf("@") + 1);
  return afterUser.split(/[?#]/, 1)[0]!;
}

const scalar: FieldRule = (v) => (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)) ? v : undefined);

/** The rules a FieldSpec is written with. */
export const keep = {
  /** A string, number or boolean; anything else (a map, a list) is dropped. */
  scalar,
  /** A list of strings (other entries dropped). */
  strings: ((v) => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : undefined)) as FieldRule,
  /** A URL or address, without credentials (withoutCredentials). */
  url: ((v) => (typeof v === "string" ? withoutCredentials(v) : undefined)) as FieldRule,
  /** A reference to another object: its name (and namespace, when set) only. */
  ref: ((v) => {
    if (!isRecord(v)) return undefined;
    const ref = pickFields(v, { name: scalar, namespace: scalar });
    return Object.keys(ref).length > 0 ? ref : undefined;
  }) as FieldRule,
  /** A nested object, itself kept by its own spec. */
  object:
    (spec: FieldSpec): FieldRule =>
    (v) =>
      isRecord(v) ? pickFields(v, spec) : undefined,
  /** A list of objects, each kept by the spec. */
  list:
    (spec: FieldSpec): FieldRule =>
    (v) =>
      Array.isArray(v) ? v.map((item) => pickFields(item, spec)) : undefined,
};
