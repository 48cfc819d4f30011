import { defineConfig } from "vitest/config";
import OrderedSequencer from "./test/support/sequencer.js";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Starts (or reuses) the real etcd, kube-apiserver, kube-controller-manager
          // and Neo4j; fails the run if any of them cannot be started.
          globalSetup: ["test/support/global-env.ts"],
          // One shared control plane on 2 cores: files run one at a time.
          fileParallelism: false,
          sequence: { sequencer: OrderedSequencer },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
