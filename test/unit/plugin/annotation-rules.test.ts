// Annotations that may carry a manifest copy never leave the observer: on Secrets every
// value is withheld; elsewhere the deny list and the size cap withhold a value, keeping
// the key and a marker with the size.
import { describe, expect, it } from "vitest";
import { AnnotationFilter, DEFAULT_ANNOTATION_RULES, withheldMarker } from "../../../core/plugin/annotation-rules.js";
import { LAST_APPLIED_ANNOTATION, scrubObject } from "../../../core/plugin/sdk.js";
import { reduceObject } from "../../../core/observer/reducer.js";
import secretPlugin from "../../../plugins/secret.js";
import configMapPlugin from "../../../plugins/configmap.js";

const canary = "CANARY-annotation-value";
const manifest = JSON.stringify({ kind: "Secret", stringData: { password: canary } });

describe("AnnotationFilter", () => {
  const filter = new AnnotationFilter(DEFAULT_ANNOTATION_RULES);

  it("withholds the default deny list's values (kapp, wrangler, *last-applied*), keeping keys and sizes", () => {
    const out = filter.apply(
      {
        "kapp.k14s.io/original": manifest,
        "kapp.k14s.io/original-diff": manifest,
        "objectset.rio.cattle.io/applied": manifest,
        "pulumi.com/last-applied-configuration": manifest,
        "example.com/owner": "team-a",
      },
      false,
    );
    const marker = withheldMarker(Buffer.byteLength(manifest));
    expect(out).toStrictEqual({
      "kapp.k14s.io/original": marker,
      "kapp.k14s.io/original-diff": marker,
      "objectset.rio.cattle.io/applied": marker,
      "pulumi.com/last-applied-configuration": marker,
      "example.com/owner": "team-a",
    });
  });

  it("withholds any value over the size cap, counting UTF-8 bytes", () => {
    const small = new AnnotationFilter({ withheld: [], maxValueBytes: 10 });
    expect(small.apply({ a: "0123456789", b: "01234567890", c: "ééééé", d: "éééééé" }, false)).toStrictEqual({
      a: "0123456789",
      b: "<withheld: 11 bytes>",
      c: "ééééé",
      d: "<withheld: 12 bytes>",
    });
  });

  it("on a Secret withholds every value, without its size", () => {
    expect(filter.apply({ "example.com/owner": "team-a", note: canary }, true)).toStrictEqual({ "example.com/owner": "<withheld>", note: "<withheld>" });
  });

  it("treats * as a wildcard and everything else literally", () => {
    const f = new AnnotationFilter({ withheld: ["a.b/*", "x+y"], maxValueBytes: 100 });
    expect(f.apply({ "a.b/c": "1", "aXb/c": "2", "x+y": "3", xxy: "4" }, false)).toStrictEqual({
      "a.b/c": "<withheld: 1 bytes>",
      "aXb/c": "2",
      "x+y": "<withheld: 1 bytes>",
      xxy: "4",
    });
  });
});

describe("scrubbed before any plugin sees the object", () => {
  const object = (annotations: Record<string, string>) => ({
    metadata: { name: "x", namespace: "ns", uid: "u", resourceVersion: "1", annotations: { ...annotations, [LAST_APPLIED_ANNOTATION]: manifest } },
    data: { password: Buffer.from(canary).toString("base64") },
  });

  it("a Secret's reduction holds its annotation keys and no value", () => {
    const reduced = reduceObject(secretPlugin, object({ "example.com/note": canary }));
    const text = JSON.stringify(reduced);
    expect(text).not.toContain(canary);
    expect(text).not.toContain(LAST_APPLIED_ANNOTATION);
    expect(reduced.object).toMatchObject({ metadata: { annotations: { "example.com/note": "<withheld>" } } });
  });

  it("a ConfigMap keeps ordinary values and withholds the deny-listed one", () => {
    const reduced = reduceObject(configMapPlugin, object({ "kapp.k14s.io/original": manifest, "example.com/owner": "team-a" }));
    expect(JSON.stringify(reduced)).not.toContain(canary);
    expect(reduced.object).toMatchObject({
      metadata: { annotations: { "kapp.k14s.io/original": withheldMarker(Buffer.byteLength(manifest)), "example.com/owner": "team-a" } },
    });
  });

  it("the config's rules replace the defaults", () => {
    const none = new AnnotationFilter({ withheld: ["example.com/*"], maxValueBytes: 1 << 20 });
    const scrubbed = scrubObject(object({ "kapp.k14s.io/original": "kept", "example.com/owner": "team-a" }), { annotations: none });
    expect(scrubbed.metadata?.annotations).toStrictEqual({ "kapp.k14s.io/original": "kept", "example.com/owner": "<withheld: 6 bytes>" });
  });
});
