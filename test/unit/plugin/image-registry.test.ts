// Registries: every image a pod (or a workload's pod template) runs is referenced with the
// Registry it comes from, and the image, not the pod, starts the FROM_REGISTRY edge.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../core/messages.js";
import deployment from "../../../plugins/deployment.js";
import pod from "../../../plugins/pod.js";
import { imageNode, registryNode } from "../../../plugins/_shared/image.js";
import { POD_SPEC_LABELS, POD_SPEC_RELATIONSHIPS } from "../../../plugins/_shared/pod-graph.js";
import { graphContext, graphOf } from "./helpers.js";

const image = (reference: string, registry: string, repository: string, tag: string | null, digest: string | null) => ({
  label: "ContainerImage",
  key: reference,
  properties: { reference, registry, repository, tag, digest },
});
const registry = (host: string) => ({ label: "Registry", key: host, properties: { host } });

const NGINX_DIGEST = "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31";

function shopPod(): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-0", namespace: "shop", uid: "uid-web-0", resourceVersion: "9" },
    spec: {
      serviceAccountName: "web",
      initContainers: [{ name: "migrate", image: "localhost:5000/team/migrate:1.0" }],
      containers: [
        { name: "app", image: `nginx@${NGINX_DIGEST}` },
        { name: "sidecar", image: "busybox:1.36" },
        // The same image written out in full: one image node, one FROM_REGISTRY edge.
        { name: "again", image: "docker.io/library/busybox:1.36" },
      ],
    },
    status: { containerStatuses: [{ name: "app", image: `nginx@${NGINX_DIGEST}`, imageID: `docker.io/library/nginx@${NGINX_DIGEST}` }] },
  };
}

describe("Registry nodes", () => {
  it("registryNode: keyed by the host (no \"/\", so never an image's or an object's key)", () => {
    expect(registryNode("localhost:5000")).toStrictEqual({ label: "Registry", key: "localhost:5000", properties: { host: "localhost:5000" } });
    expect(imageNode("registry.example.com:5000/app@sha256:abc")).toStrictEqual(
      image("registry.example.com:5000/app@sha256:abc", "registry.example.com:5000", "app", null, "sha256:abc"),
    );
  });

  it("a pod references each image and its registry; FROM_REGISTRY starts at the image, once per image", () => {
    const { properties: _properties, owned, ...rest } = graphOf(pod, shopPod());
    expect(owned).toStrictEqual([]);
    expect(rest).toStrictEqual({
      references: [
        image("localhost:5000/team/migrate:1.0", "localhost:5000", "team/migrate", "1.0", null),
        registry("localhost:5000"),
        image(`docker.io/library/nginx@${NGINX_DIGEST}`, "docker.io", "library/nginx", null, NGINX_DIGEST),
        registry("docker.io"),
        image("docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", null),
        { label: "ServiceAccount", key: "prod/shop/ServiceAccount/web", properties: { cluster: "prod", name: "web", namespace: "shop" } },
      ],
      edges: [
        { type: "FROM_REGISTRY", from: "localhost:5000/team/migrate:1.0", to: "localhost:5000" },
        {
          from: "prod/shop/Pod/web-0",
          type: "RUNS_IMAGE",
          to: "localhost:5000/team/migrate:1.0",
          properties: { container: "migrate", containerType: "init", digest: null },
        },
        { type: "FROM_REGISTRY", from: `docker.io/library/nginx@${NGINX_DIGEST}`, to: "docker.io" },
        {
          from: "prod/shop/Pod/web-0",
          type: "RUNS_IMAGE",
          to: `docker.io/library/nginx@${NGINX_DIGEST}`,
          properties: { container: "app", containerType: "container", digest: NGINX_DIGEST },
        },
        { type: "FROM_REGISTRY", from: "docker.io/library/busybox:1.36", to: "docker.io" },
        {
          from: "prod/shop/Pod/web-0",
          type: "RUNS_IMAGE",
          to: "docker.io/library/busybox:1.36",
          properties: { container: "sidecar", containerType: "container", digest: null },
        },
        {
          from: "prod/shop/Pod/web-0",
          type: "RUNS_IMAGE",
          to: "docker.io/library/busybox:1.36",
          properties: { container: "again", containerType: "container", digest: null },
        },
        { from: "prod/shop/Pod/web-0", type: "RUNS_AS", to: "prod/shop/ServiceAccount/web", properties: {} },
      ],
    });
  });

  it("a workload's pod template references registries the same way", () => {
    const web: KubeObject = {
      metadata: { name: "web", namespace: "shop" },
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "ghcr.io/example/web:2.0" }] } },
      },
    };
    const fragment = graphOf(deployment, web);
    expect(fragment.references?.filter((r) => r.label === "Registry")).toStrictEqual([registry("ghcr.io")]);
    expect(fragment.edges?.filter((e) => e.type === "FROM_REGISTRY")).toStrictEqual([
      { type: "FROM_REGISTRY", from: "ghcr.io/example/web:2.0", to: "ghcr.io" },
    ]);
  });

  it("pod and workload schemas declare Registry and FROM_REGISTRY", () => {
    expect(POD_SPEC_LABELS).toContain("Registry");
    expect(POD_SPEC_RELATIONSHIPS).toContain("FROM_REGISTRY");
    for (const plugin of [pod, deployment]) {
      expect(plugin.graph!.schema.labels).toContain("Registry");
      expect(plugin.graph!.schema.relationships).toContain("FROM_REGISTRY");
    }
  });

  it("who-uses registry HOST looks up the Registry node", () => {
    const lookup = pod.graph!.lookups!.registry!;
    expect(lookup.label).toBe("Registry");
    expect(lookup.namespaced).toBe(false);
    expect(lookup.key("localhost:5000", { ...graphContext("Pod", "shop", "x"), namespace: null })).toBe("localhost:5000");
    expect(lookup.key("docker.io", { ...graphContext("Pod", "shop", "x"), namespace: null })).toBe(imageNode("nginx").properties.registry);
  });
});
