// The streaming LIST splitter: items come out byte-exact whatever the chunking, JSON
// strings with braces, brackets and escapes do not confuse it, an object over the cap is
// dropped with its identity kept, and a page over its cap is refused early.
import { describe, expect, it } from "vitest";
import { ListBodySplitter, OVERSIZE_PREFIX_BYTES, PageOverCapError } from "../../../core/kube/list-splitter.js";
import { describeOversized, identifyPrefix } from "../../../core/kube/oversize.js";
import { prng } from "../../support/prng.js";

function pod(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata: { name, namespace: "team-a", uid: `uid-${name}`, resourceVersion: "42", labels: { items: "[not]", "a{b": '}"]' } },
    spec: { containers: [{ name: "c", args: ["{", "]", "\\", '"items":['] }] },
    ...extra,
  };
}

function listBody(items: unknown[], metadata: Record<string, unknown> = { resourceVersion: "900", continue: "tok" }): Buffer {
  return Buffer.from(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata, items }), "utf8");
}

function split(body: Buffer, cuts: number[], maxObject = 1 << 20, maxPage = 1 << 24): ReturnType<ListBodySplitter["finish"]> {
  const splitter = new ListBodySplitter(maxObject, maxPage);
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    splitter.push(body.subarray(from, cut));
    from = cut;
  }
  return splitter.finish();
}

describe("ListBodySplitter", () => {
  const items = [pod("a"), pod("b-ünïcode-🚀"), pod("c", { status: { message: "}}]]{{[[" } })];
  const body = listBody(items);

  it("gives each item's exact JSON and the envelope with an empty items array, in one chunk", () => {
    const out = split(body, []);
    expect(out.items.map((b) => JSON.parse(b.toString("utf8")))).toStrictEqual(items);
    expect(JSON.parse(out.envelope)).toStrictEqual({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "900", continue: "tok" }, items: [] });
    expect(out.oversized).toStrictEqual([]);
  });

  it("gives the same result for every way of cutting the body into chunks", () => {
    const random = prng(7);
    for (let round = 0; round < 300; round++) {
      const cuts = [...new Set(Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * body.length)))].sort((a, b) => a - b);
      const out = split(body, cuts);
      expect(out.items.map((b) => JSON.parse(b.toString("utf8")))).toStrictEqual(items);
      expect(JSON.parse(out.envelope).metadata.continue).toBe("tok");
    }
    // One byte at a time.
    const out = split(
      body,
      Array.from({ length: body.length - 1 }, (_, i) => i + 1),
    );
    expect(out.items).toHaveLength(3);
  });

  it("an empty list and a list without items are envelopes only", () => {
    expect(split(listBody([]), []).items).toStrictEqual([]);
    const noItems = split(Buffer.from('{"kind":"PodList","metadata":{"resourceVersion":"5"}}'), [10]);
    expect(noItems.items).toStrictEqual([]);
    expect(JSON.parse(noItems.envelope).metadata.resourceVersion).toBe("5");
  });

  it("drops an item over the object cap, keeps only its prefix, and identifies it", () => {
    const big = pod("huge", { data: { blob: "x".repeat(200_000) } });
    const out = split(listBody([pod("a"), big, pod("c")]), [1000, 50_000, 150_000], 100_000);
    expect(out.items.map((b) => JSON.parse(b.toString("utf8")).metadata.name)).toStrictEqual(["a", "c"]);
    expect(out.oversized).toHaveLength(1);
    expect(out.oversized[0]!.bytes).toBe(Buffer.byteLength(JSON.stringify(big)));
    expect(Buffer.byteLength(out.oversized[0]!.prefix)).toBeLessThanOrEqual(OVERSIZE_PREFIX_BYTES);
    const who = identifyPrefix(out.oversized[0]!.prefix, out.oversized[0]!.bytes, 100_000, "list");
    expect(who).toMatchObject({ namespace: "team-a", name: "huge", uid: "uid-huge", resourceVersion: "42", source: "list" });
    expect(describeOversized({ ...who, kind: "Pod" })).toBe("Pod team-a/huge");
  });

  it("refuses a page as soon as its kept objects pass the page cap", () => {
    const many = Array.from({ length: 50 }, (_, i) => pod(`p${i}`, { blob: "y".repeat(1000) }));
    expect(() => split(listBody(many), [], 1 << 20, 20_000)).toThrow(PageOverCapError);
  });

  it("a truncated body is an error, not a short page", () => {
    expect(() => split(body.subarray(0, body.length - 10), [])).toThrow(SyntaxError);
  });
});

describe("identifyPrefix", () => {
  it("reads a watch event's type, the object's kind and metadata, not an owner reference's", () => {
    const event = JSON.stringify({
      type: "MODIFIED",
      object: {
        kind: "Secret",
        apiVersion: "v1",
        metadata: {
          name: "s",
          namespace: "ns",
          uid: "u1",
          resourceVersion: "77",
          creationTimestamp: "x",
          ownerReferences: [{ kind: "Deployment", name: "owner" }],
        },
      },
    });
    expect(identifyPrefix(event, 10, 5, "watch")).toStrictEqual({
      source: "watch",
      eventType: "MODIFIED",
      kind: "Secret",
      name: "s",
      namespace: "ns",
      uid: "u1",
      resourceVersion: "77",
      bytes: 10,
      capBytes: 5,
    });
  });

  it("a cluster-scoped object has no namespace, even if an annotation is called namespace", () => {
    const node = JSON.stringify({ metadata: { name: "n1", uid: "u", resourceVersion: "3", annotations: { namespace: "fake" } } });
    const who = identifyPrefix(node, 1, 1, "list");
    expect(who.namespace).toBeUndefined();
    expect(who.name).toBe("n1");
  });

  it("a prefix with nothing readable says so rather than inventing a name", () => {
    const who = identifyPrefix('{"metadata":{"lab', 1, 1, "list");
    expect(who.name).toBeUndefined();
    expect(describeOversized(who)).toBe("object (name unreadable)");
  });
});
