// Keys too long for an index are stored as a prefix plus a hash (unique, stable, found by
// name); property values over the sink limit are refused with a deterministic error.
import { describe, expect, it } from "vitest";
import { toGraphOp } from "../../../core/dispatch/translate.js";
import { checkSinkLimits, KEY_HASH_MARK, MAX_KEY_BYTES, MAX_PROPERTY_BYTES, SinkLimitError, storedKey } from "../../../core/graph/limits.js";
import type { GraphOp } from "../../../core/graph/model.js";
import { SqliteGraphSink } from "../../../core/graph/sqlite-sink.js";
import { whoUses } from "../../../core/graph/who-uses.js";
import type { KubeMessage } from "../../../core/messages.js";
import { loadPlugins } from "../../../core/plugin/registry.js";

describe("storedKey", () => {
  it("leaves keys that fit alone", () => {
    expect(storedKey("c/ns/Pod/web")).toBe("c/ns/Pod/web");
    const edge = "k".repeat(MAX_KEY_BYTES);
    expect(storedKey(edge)).toBe(edge);
  });

  it("bounds a long key to a readable prefix plus a hash of all of it: stable, unique, idempotent", () => {
    const long = `c/User/${"u".repeat(10_000)}`;
    const stored = storedKey(long);
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(MAX_KEY_BYTES);
    expect(stored.startsWith("c/User/uuu")).toBe(true);
    expect(stored).toContain(KEY_HASH_MARK);
    expect(storedKey(long)).toBe(stored);
    expect(storedKey(stored)).toBe(stored);
    // Same prefix, different tail: different keys.
    expect(storedKey(`${long}x`)).not.toBe(stored);
  });

  it("counts UTF-8 bytes and never splits a character", () => {
    const long = `c/User/${"é".repeat(2_000)}`; // 4,007 bytes in 2,007 UTF-16 units
    const stored = storedKey(long);
    expect(stored).not.toBe(long);
    expect(stored.split(KEY_HASH_MARK)[0]!.endsWith("é")).toBe(true);
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(MAX_KEY_BYTES);
  });
});

describe("checkSinkLimits", () => {
  const upsert = (value: string | string[]): GraphOp => ({
    op: "upsert",
    node: { label: "ConfigMap", key: "c/ns/ConfigMap/a", properties: { name: "a", big: value } },
    owned: [],
    placeholders: [],
    edges: [],
  });
  it("refuses a property value over the limit, string or list, and accepts one at it", () => {
    expect(() => checkSinkLimits([upsert("x".repeat(MAX_PROPERTY_BYTES))])).not.toThrow();
    expect(() => checkSinkLimits([upsert("x".repeat(MAX_PROPERTY_BYTES + 1))])).toThrow(SinkLimitError);
    expect(() => checkSinkLimits([upsert(["x".repeat(MAX_PROPERTY_BYTES / 2), "y".repeat(MAX_PROPERTY_BYTES / 2 + 1)])])).toThrow(
      new RegExp(`property "big" is ${MAX_PROPERTY_BYTES + 1} bytes`),
    );
  });
});

describe("a RoleBinding whose subject name has no length limit", () => {
  const subject = `alice-${"a".repeat(9_000)}`;
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "long-subject", namespace: "ns", uid: "u1", resourceVersion: "1" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
    subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: subject }],
  };

  it("gets a stored key that fits, and who-uses finds the user by its full name", async () => {
    const { plugins } = await loadPlugins([]);
    const plugin = plugins.get("rolebinding")!;
    const message: KubeMessage = {
      cluster: "c",
      namespace: "ns",
      resource: "rolebinding",
      kind: "RoleBinding",
      action: "Applied",
      objectNamespace: "ns",
      uid: "u1",
      name: "long-subject",
      resourceVersion: "1",
      observedAt: new Date(2026, 0, 1).toISOString(),
      object: plugin.plugin.reduce(binding as never) as never,
    };
    const op = toGraphOp(message, plugin)!;
    expect(op.op).toBe("upsert");
    if (op.op !== "upsert") return;
    const user = op.placeholders.find((p) => p.label === "User")!;
    expect(user.key).toBe(storedKey(`c/User/${subject}`));
    expect(user.key).not.toBe(`c/User/${subject}`);
    expect(user.properties.name).toBe(subject);
    expect(op.edges.find((e) => e.type === "SUBJECT")!.to).toBe(user.key);
    const sink = new SqliteGraphSink(":memory:");
    await sink.apply([op]);
    const usages = await whoUses(sink, `c/User/${subject}`);
    expect(usages.map((u) => u.user.key)).toEqual(["c/ns/RoleBinding/long-subject"]);
    await sink.close();
  });
});
