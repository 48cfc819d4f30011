// Vitest global setup for integration tests: reuse a running local environment
// (`npm run env:up`) or start one for this run and stop it at the end. When a server
// cannot be built or started this throws, and the whole run fails with the reason.
import type { TestProject } from "vitest/node";
import { down, up, type DevEnvState } from "../../scripts/devenv/env.js";

declare module "vitest" {
  export interface ProvidedContext {
    devEnv: DevEnvState;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const say = (line: string): void => console.log(`[env] ${line}`);
  const { state, started } = await up(say);
  project.provide("devEnv", state);
  return async () => {
    if (started) await down(say);
  };
}
