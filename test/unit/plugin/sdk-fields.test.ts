// The SDK's keep-named-fields helpers: pickFields keeps what its spec names and nothing
// else; withoutCredentials strips user info, query and fragment from URLs and addresses.
import { describe, expect, it } from "vitest";
import { keep, pickFields, withoutCredentials } from "../../../core/plugin/sdk.js";

describe("pickFields", () => {
  it("keeps the named fields, each by its rule, and drops everything else", () => {
    const source = {
      driver: "csi.example.com",
      readOnly: true,
      lun: 3,
      volumeAttributes: { token: "ATTR-CANARY" },
      options: "OPTIONS-CANARY",
      secretRef: { name: "creds", namespace: "kube-system", uid: "UID-CANARY" },
      monitors: ["10.0.0.1:6789", { host: "MAP-CANARY" }],
      items: [{ key: "password", path: "pw", extra: "ITEM-CANARY" }],
      nested: { keep: "yes", drop: "NESTED-CANARY" },
      repository: "https://user:URL-CANARY@git.example/repo.git",
    };
    const picked = pickFields(source, {
      driver: keep.scalar,
      readOnly: keep.scalar,
      lun: keep.scalar,
      secretRef: keep.ref,
      monitors: keep.strings,
      items: keep.list({ key: keep.scalar, path: keep.scalar }),
      nested: keep.object({ keep: keep.scalar }),
      repository: keep.url,
      absent: keep.scalar,
    });
    expect(picked).toStrictEqual({
      driver: "csi.example.com",
      readOnly: true,
      lun: 3,
      secretRef: { name: "creds", namespace: "kube-system" },
      monitors: ["10.0.0.1:6789"],
      items: [{ key: "password", path: "pw" }],
      nested: { keep: "yes" },
      repository: "https://git.example/repo.git",
    });
    expect(JSON.stringify(picked)).not.toContain("CANARY");
  });

  it("drops a map or list given where a scalar is named, and wrong shapes for the other rules", () => {
    const picked = pickFields(
      {
        driver: { token: "MAP-CANARY" },
        fsType: ["LIST-CANARY"],
        secretRef: "REF-CANARY",
        items: { a: "ITEMS-CANARY" },
        nested: ["X-CANARY"],
        repository: 5,
        lun: Number.NaN,
      },
      {
        driver: keep.scalar,
        fsType: keep.scalar,
        secretRef: keep.ref,
        items: keep.list({ key: keep.scalar }),
        nested: keep.object({ a: keep.scalar }),
        repository: keep.url,
        lun: keep.scalar,
      },
    );
    expect(picked).toStrictEqual({});
  });

  it("gives {} for a source that is not an object, and reads only own fields", () => {
    for (const source of [null, undefined, "x", 7, ["a"]]) expect(pickFields(source, { a: keep.scalar })).toStrictEqual({});
    const inherited = Object.create({ a: "INHERITED-CANARY" }) as Record<string, unknown>;
    expect(pickFields(inherited, { a: keep.scalar })).toStrictEqual({});
  });
});

describe("withoutCredentials", () => {
  it.each([
    ["https://user:s3cr3t@git.example/org/repo.git", "https://git.example/org/repo.git"],
    ["https://token@git.example/repo", "https://git.example/repo"],
    ["https://acct.blob.core.windows.net/vhds/disk.vhd?sv=2020&sig=SAS", "https://acct.blob.core.windows.net/vhds/disk.vhd"],
    ["https://host/path#frag", "https://host/path"],
    ["user:pw@host:/export/path", "host:/export/path"],
    ["git@github.com:org/repo.git", "github.com:org/repo.git"],
    ["host.example:3260?token=t", "host.example:3260"],
  ])("%s → %s", (input, output) => {
    expect(withoutCredentials(input)).toBe(output);
  });

  it.each([
    "https://git.example/org/repo.git",
    "https://HOST.example/a@b",
    "10.0.0.1:3260",
    "registry.example:7861,other.example:7861",
    "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/disks/z",
  ])("leaves %s as it is (no credentials to strip)", (input) => {
    expect(withoutCredentials(input)).toBe(input);
  });
});
