// The request a `who-can VERB RESOURCE` command line names: RESOURCE is a plural, with a
// subresource after "/" and an API group after the first "." (kubectl's spelling:
// pods/exec, deployments.apps, widgets.example.com), or a non-resource URL ("/metrics").
import type { AccessRequest } from "./rbac-rule.js";

export interface RequestWords {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface ParsedRequest {
  request: AccessRequest;
  /** Set when the API group was not written and not known: the core group was assumed. */
  assumedCoreGroup: boolean;
}

/** `groups`: plural → API group of the resources the plugins know (pods → "",
 *  deployments → "apps"), for names written without a group. */
export function parseAccessRequest(words: RequestWords, groups: ReadonlyMap<string, string>): ParsedRequest {
  const verb = words.verb.trim();
  if (verb === "") throw new Error("who-can: name a verb (get, list, watch, create, update, patch, delete, …, or *)");
  if (words.resource.startsWith("/")) {
    if (words.subresource || words.namespace || words.name)
      throw new Error(`who-can: ${words.resource} is a non-resource URL: --subresource, -n and --name do not apply`);
    return { request: { kind: "nonResource", verb, path: words.resource }, assumedCoreGroup: false };
  }
  const [typed, sub, ...extra] = words.resource.split("/");
  if (extra.length > 0 || !typed)
    throw new Error(`who-can: cannot read resource ${JSON.stringify(words.resource)}; write PLURAL[.GROUP][/SUBRESOURCE], e.g. pods/exec or deployments.apps`);
  if (sub !== undefined && words.subresource)
    throw new Error(`who-can: the subresource is given twice (${words.resource} and --subresource ${words.subresource})`);
  const dot = typed.indexOf(".");
  const resource = dot < 0 ? typed : typed.slice(0, dot);
  const known = groups.get(resource);
  const group = dot < 0 ? (known ?? "") : typed.slice(dot + 1);
  return {
    request: {
      kind: "resource",
      verb,
      group,
      resource,
      subresource: sub ?? words.subresource ?? "",
      namespace: words.namespace ?? null,
      name: words.name ?? "",
    },
    assumedCoreGroup: dot < 0 && known === undefined && resource !== "*",
  };
}
