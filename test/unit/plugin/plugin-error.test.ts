// A plugin that throws on an object: the report names the plugin, step, error class and
// the place in the plugin's file, and never the thrower's message (which plugins build
// from the object). The same holds through reduceObject, toGraphOp and the sink's errors.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { toGraphOp } from "../../../core/dispatch/translate.js";
import { GraphContractError } from "../../../core/graph/contract.js";
import type { KubeMessage } from "../../../core/messages.js";
import { reduceObject } from "../../../core/observer/reducer.js";
import { describePluginFailure, PluginFailureError, throwSite } from "../../../core/plugin/plugin-error.js";
import type { LoadedPlugin } from "../../../core/plugin/registry.js";
import type { ResourcePlugin } from "../../../core/plugin/types.js";
import { classifySinkError } from "../../../core/dispatch/sink-errors.js";

const CANARY = "CANARYunit7f3a";
const thisFile = fileURLToPath(import.meta.url);

function plugin(reduce: ResourcePlugin["reduce"], toGraph?: NonNullable<ResourcePlugin["graph"]>["toGraph"]): ResourcePlugin {
  return {
    name: "careless",
    apiVersion: 1,
    resource: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
    reduce,
    ...(toGraph ? { graph: { schema: { labels: ["ConfigMap"], relationships: [] }, toGraph } } : {}),
  } as ResourcePlugin;
}

const object = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "ns", uid: "u" }, data: { token: CANARY } };

describe("describePluginFailure", () => {
  it("keeps class, place and length, never the message", () => {
    const error = new TypeError(`cannot use ${CANARY}`);
    const text = describePluginFailure(error, "careless", "reduce", thisFile);
    expect(text).toMatch(/^plugin "careless" reduce threw a TypeError at plugin-error\.test\.ts:\d+:\d+; its message \(25 characters\) is not shown/);
    expect(text).not.toContain(CANARY);
  });

  it("does not trust a name or a thrown non-Error", () => {
    const named = Object.assign(new Error("x"), { name: `Leak ${CANARY}` });
    expect(describePluginFailure(named, "p", "toGraph")).not.toContain(CANARY);
    expect(describePluginFailure(named, "p", "toGraph")).toMatch(/threw an Error at /);
    const thrown = describePluginFailure(`key ${CANARY}`, "p", "toGraph");
    expect(thrown).toBe(`plugin "p" toGraph threw a string value; its message (${4 + CANARY.length} characters) is not shown, as it may quote the object`);
    expect(describePluginFailure({ secret: CANARY }, "p", "reduce")).toBe('plugin "p" reduce threw an object value');
  });

  it("finds the plugin's own frame, a data: URL frame included", () => {
    const error = new Error(CANARY);
    error.stack = [
      `Error: ${CANARY}`,
      "    at helper (file:///srv/lib/util.js:3:9)",
      "    at Object.reduce (data:text/javascript;base64,AAAA:12:7)",
      "    at reduceObject (file:///app/core/observer/reducer.js:27:20)",
    ].join("\n");
    expect(throwSite(error, "/plugins/careless.mjs")).toBe("careless.mjs:12:7");
    const onDisk = new Error("x");
    onDisk.stack = ["Error: x", "    at first (/srv/lib/util.js:3:9)", "    at Object.toGraph (file:///plugins/careless.mjs:40:11)"].join("\n");
    expect(throwSite(onDisk, "/plugins/careless.mjs")).toBe("careless.mjs:40:11");
    // No frame in the plugin: the first frame, as it is.
    expect(throwSite(onDisk, "/plugins/other.mjs")).toBe("/srv/lib/util.js:3:9");
    const noStack = new Error(CANARY);
    noStack.stack = `Error: ${CANARY}`;
    expect(throwSite(noStack)).toBeUndefined();
  });
});

describe("a plugin that throws on an object", () => {
  it("reduce: the reduction's error carries no message text", () => {
    const careless = plugin((o) => {
      throw new Error(`bad token ${String((o as typeof object).data.token)}`);
    });
    const reduced = reduceObject(careless, object, undefined, thisFile);
    expect(reduced.object).toBeNull();
    expect(reduced.error).toMatch(/^plugin "careless" reduce threw an Error at plugin-error\.test\.ts:\d+:\d+/);
    expect(reduced.error).not.toContain(CANARY);
  });

  it("reduce: a toJSON that throws is described the same way; a cycle keeps V8's text", () => {
    const sneaky = plugin(() => ({
      toJSON() {
        throw new Error(CANARY);
      },
    }));
    const reduced = reduceObject(sneaky, object);
    expect(reduced.error).toMatch(/^plugin "careless" reduce returned a value that is not JSON: plugin "careless" reduce threw an Error/);
    expect(reduced.error).not.toContain(CANARY);
    const cyclic = plugin(() => {
      const a: Record<string, unknown> = {};
      a.self = a;
      return a;
    });
    expect(reduceObject(cyclic, object).error).toMatch(/not JSON: Converting circular structure to JSON$/);
  });

  it("toGraph: the op's error is a PluginFailureError, parked (deterministic) and without the message", () => {
    const careless = plugin(
      (o) => ({ name: (o as typeof object).metadata.name, token: "kept-by-mistake" }),
      (reduced) => {
        throw new RangeError(`cannot graph ${CANARY} ${(reduced as { token: string }).token}`);
      },
    );
    const loaded: LoadedPlugin = { plugin: careless, file: thisFile, builtin: false, version: "1" };
    const message: KubeMessage = {
      cluster: "local",
      namespace: "ns",
      resource: "careless",
      kind: "ConfigMap",
      action: "Applied",
      objectNamespace: "ns",
      uid: "u",
      name: "x",
      resourceVersion: "1",
      observedAt: "",
      object: { name: "x", token: "kept-by-mistake" },
    };
    let caught: unknown;
    try {
      toGraphOp(message, loaded);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PluginFailureError);
    expect(classifySinkError(caught)).toBe("deterministic");
    expect((caught as Error).message).toMatch(/^plugin "careless" toGraph threw a RangeError at plugin-error\.test\.ts:\d+:\d+/);
    expect((caught as Error).message).not.toContain(CANARY);
    expect((caught as Error).message).not.toContain("kept-by-mistake");
  });

  it("toGraph: a property no sink can hold is named by type, not by value", () => {
    const careless = plugin(
      () => ({ name: "x" }),
      () => ({ properties: { token: BigInt(7) as unknown as string } }),
    );
    const loaded: LoadedPlugin = { plugin: careless, file: thisFile, builtin: false, version: "1" };
    const message = {
      cluster: "local",
      namespace: "ns",
      resource: "careless",
      kind: "ConfigMap",
      action: "Applied",
      objectNamespace: "ns",
      uid: "u",
      name: "x",
      resourceVersion: "1",
      observedAt: "",
      object: { name: "x" },
    } as KubeMessage;
    expect(() => toGraphOp(message, loaded)).toThrow(GraphContractError);
    expect(() => toGraphOp(message, loaded)).toThrow(/a bigint is not a string/);
  });
});

describe("Neo4j errors about the request", () => {
  it("keep their code and size, not the server's text (which can quote a value)", async () => {
    const { serverErrorText } = await import("../../../core/graph/neo4j-sink.js");
    const quoted = `Node(12) already exists with label \`Secret\` and property \`key\` = '${CANARY}'`;
    for (const code of ["Neo.ClientError.Schema.ConstraintValidationFailed", "Neo.ClientError.Statement.TypeError", "Neo.DatabaseError.General.UnknownError"]) {
      const text = serverErrorText(code, quoted);
      expect(text).toBe(`${code} (the server's message, ${quoted.length} characters, is not shown: it may quote a value)`);
    }
    // Connection and authentication errors say nothing that was sent: kept.
    expect(serverErrorText("ServiceUnavailable", "Failed to connect to server 127.0.0.1:7687")).toBe("Failed to connect to server 127.0.0.1:7687");
    expect(serverErrorText(undefined, "socket closed")).toBe("socket closed");
  });
});
