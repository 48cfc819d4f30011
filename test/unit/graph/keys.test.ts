import { describe, expect, it } from "vitest";
import { objectKey, parseImage, scopeKey } from "../../../core/graph/keys.js";

describe("parseImage", () => {
  it.each([
    ["nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", null],
    ["nginx:1.27", "docker.io/library/nginx:1.27", "docker.io", "library/nginx", "1.27", null],
    ["bitnami/redis:7", "docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", null],
    ["ghcr.io/org/app:v1", "ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1", null],
    ["localhost:5000/app", "localhost:5000/app:latest", "localhost:5000", "app", "latest", null],
    ["registry.example.com:8443/a/b/c:2", "registry.example.com:8443/a/b/c:2", "registry.example.com:8443", "a/b/c", "2", null],
    ["nginx@sha256:abc", "docker.io/library/nginx@sha256:abc", "docker.io", "library/nginx", null, "sha256:abc"],
    ["quay.io/x/y:1@sha256:def", "quay.io/x/y:1@sha256:def", "quay.io", "x/y", "1", "sha256:def"],
  ])("%s → %s", (input, reference, registry, repository, tag, digest) => {
    expect(parseImage(input)).toEqual({ reference, registry, repository, tag, digest });
  });
});

describe("keys", () => {
  it("keys namespaced and cluster-scoped objects differently", () => {
    expect(objectKey("prod", "shop", "Secret", "db")).toBe("prod/shop/Secret/db");
    expect(objectKey("prod", null, "Node", "n1")).toBe("prod/Node/n1");
    expect(scopeKey("prod", null, "Node")).toBe("prod//Node");
    expect(scopeKey("prod", "shop", "Pod")).toBe("prod/shop/Pod");
  });
});
