import { describe, expect, it } from "vitest";
import { RelistStore } from "../../../core/observer/relist-store.js";

const k = (name: string, uid: string, namespace: string | null = "ns"): { name: string; uid: string; namespace: string | null } => ({ name, uid, namespace });

describe("RelistStore", () => {
  it("replace makes the store exactly what the list showed and returns what it no longer holds", () => {
    const store = new RelistStore();
    store.beginList();
    store.observe(k("a", "1"));
    store.observe(k("b", "2"));
    expect(store.replace()).toStrictEqual({ present: [k("a", "1"), k("b", "2")], deletions: [] });
    // A watch event between lists, then a relist that shows only b and a new c.
    store.observe(k("d", "4"));
    store.beginList();
    store.observe(k("b", "2"));
    store.observe(k("c", "3"));
    const { present, deletions } = store.replace();
    expect(present).toStrictEqual([k("b", "2"), k("c", "3")]);
    expect(deletions.map((d) => d.name).sort()).toStrictEqual(["a", "d"]);
    expect(store.size).toBe(2);
  });

  it("observe says when a name comes back with a new uid (deleted and recreated)", () => {
    const store = new RelistStore();
    expect(store.observe(k("a", "1"))).toBeUndefined();
    expect(store.observe(k("a", "1"))).toBeUndefined();
    expect(store.observe(k("a", "2"))).toStrictEqual(k("a", "1"));
  });

  it("keys by namespace and name, and a removal during a list keeps it out of the list", () => {
    const store = new RelistStore();
    store.beginList();
    store.observe(k("a", "1", "x"));
    store.observe(k("a", "2", "y"));
    store.observe(k("n", "3", null));
    expect(store.remove({ namespace: "x", name: "a" })).toStrictEqual(k("a", "1", "x"));
    expect(store.replace().present).toStrictEqual([k("a", "2", "y"), k("n", "3", null)]);
    expect(store.observe(k("n", "3", null))).toBeUndefined();
    expect(store.clear()).toHaveLength(2);
    expect(store.size).toBe(0);
  });
});
