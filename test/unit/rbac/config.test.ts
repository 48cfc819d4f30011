// The config's `rbac` record: defaults (also for records written before it existed) and
// the checks on extra rules.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigJson } from "../../../core/config/load.js";
import { ConfigError } from "../../../core/config/model.js";
import { parseConfigJson } from "../../../core/config/schema.js";
import { configErrorList } from "../../../core/config/validate.js";

const types = resolve(import.meta.dirname, "../../../config/types.dhall");
const dir = mkdtempSync(join(tmpdir(), "kube-observer-rbac-config-"));
let n = 0;

function dhall(rbac: string): string {
  const file = join(dir, `c${n++}.dhall`);
  writeFileSync(
    file,
    `let T = ${types}
in  T.Config::{
    , clusters = [ T.Cluster::{ name = "c1" } ]
    , actors = [ T.Actor::{ cluster = "c1", resource = "pod" } ]
    ${rbac}
    }
`,
  );
  return file;
}

async function problems(file: string): Promise<string[]> {
  const error = await loadConfigJson(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return configErrorList(error as ConfigError).map((e) => e.reason);
}

describe("the rbac record", () => {
  it("defaults to the kube-observer ServiceAccount in the kube-observer namespace, no extra rules", async () => {
    expect((await loadConfigJson(dhall(""))).rbac).toStrictEqual({ serviceAccount: "kube-observer", namespace: "kube-observer", extraRules: [] });
  });

  it("defaults in a configuration written without it (no types.dhall)", () => {
    const json = {
      clusters: [{ name: "c1", kubeconfig: null, context: null, inCluster: false }],
      actors: [],
      sink: { kind: "sqlite", sqlitePath: "./g", neo4j: null },
      wal: { path: "./w", maxBytes: 1 },
      pluginDirs: [],
      observer: {
        pageSize: 500,
        watchTimeoutMinSeconds: 290,
        watchTimeoutMaxSeconds: 600,
        inactivityMarginSeconds: 30,
        connectTimeoutSeconds: 10,
        backoff: { initialMs: 800, factor: 2, maxMs: 30000, resetAfterMs: 120000, jitter: 0.2, maxRetryAfterMs: 300_000 },
        threads: 0,
        batchMaxMessages: 500,
        batchMaxDelayMs: 50,
        maxObjectBytes: 8388608,
        maxListPageBytes: 67108864,
        maxConcurrentLists: 16,
        withheldAnnotations: ["kapp.k14s.io/original", "kapp.k14s.io/original-diff", "objectset.rio.cattle.io/applied", "*last-applied*"],
        maxAnnotationBytes: 4096,
      },
      log: { level: "info" },
    };
    const parsed = parseConfigJson(json, () => ({ file: "x" }));
    expect(parsed).toHaveProperty("config.rbac", { serviceAccount: "kube-observer", namespace: "kube-observer", extraRules: [] });
  });

  it("takes names and extra rules, with defaults for the rest of each rule", async () => {
    const config = await loadConfigJson(
      dhall(`, rbac = T.Rbac::{
        , serviceAccount = "observer"
        , namespace = "ops"
        , extraRules =
          [ T.RbacRule::{ apiGroups = [ "" ], resources = [ "events" ], verbs = [ "list", "watch" ], namespace = Some "team-a" }
          , T.RbacRule::{ nonResourceURLs = [ "/metrics" ], verbs = [ "get" ] }
          ]
        }`),
    );
    expect(config.rbac).toStrictEqual({
      serviceAccount: "observer",
      namespace: "ops",
      extraRules: [
        { apiGroups: [""], resources: ["events"], verbs: ["list", "watch"], resourceNames: [], nonResourceURLs: [], namespace: "team-a" },
        { apiGroups: [], resources: [], verbs: ["get"], resourceNames: [], nonResourceURLs: ["/metrics"], namespace: null },
      ],
    });
  });

  it("refuses malformed rules and names (every problem, here sorted)", async () => {
    expect(
      await problems(
        dhall(`, rbac = T.Rbac::{
          , serviceAccount = "Observer"
          , namespace = "ops_1"
          , extraRules =
            [ T.RbacRule::{ apiGroups = [ "" ], resources = [ "events" ], verbs = [] : List Text }
            , T.RbacRule::{ apiGroups = [ "" ], resources = [ "pods" ], nonResourceURLs = [ "/metrics" ], verbs = [ "get" ] }
            , T.RbacRule::{ nonResourceURLs = [ "metrics" ], verbs = [ "get" ], namespace = Some "team-a" }
            , T.RbacRule::{ resources = [ "pods" ], verbs = [ "get" ] }
            ]
          }`),
      ).then((list) => list.sort()),
    ).toStrictEqual([
      "rbac.extraRules[0].verbs: needs at least one verb",
      "rbac.extraRules[1].nonResourceURLs: a rule has either nonResourceURLs or apiGroups and resources, not both",
      'rbac.extraRules[2].namespace: nonResourceURLs are cluster-wide: namespace must be None Text, got "team-a"',
      'rbac.extraRules[2].nonResourceURLs: "metrics" is not a URL path (it starts with "/")',
      'rbac.extraRules[3].apiGroups: needs at least one API group ("" is the core group), or nonResourceURLs',
      'rbac.namespace: expected a DNS label (lowercase letters, digits and "-"), got "ops_1"',
      'rbac.serviceAccount: expected a DNS subdomain (lowercase letters, digits, "-" and "."), got "Observer"',
    ]);
  });
});
