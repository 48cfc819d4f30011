// The published package: `npm pack`, installed into an empty project the way a user
// installs it, runs as `npx kube-observer` (the pinned Node is first on PATH in npm test).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../../..");
const work = mkdtempSync(join(tmpdir(), "kube-observer-pack-"));
const sh = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 240_000 });

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the npm package", () => {
  it("installs from its tarball and runs as npx kube-observer", { timeout: 300_000 }, () => {
    sh("npm", ["pack", "--pack-destination", work, "--silent"], root);
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toMatch(/^kube-observer-\d+\.\d+\.\d+\.tgz$/);
    const listing = sh("tar", ["-tzf", join(work, tarball!)], work).split("\n");
    expect(listing).toContain("package/dist/core/cli/main.js");
    expect(listing).toContain("package/CHANGELOG.md");
    expect(listing.filter((f) => f.startsWith("package/dist/bench/") || f.startsWith("package/test/"))).toEqual([]);

    const app = join(work, "app");
    sh("mkdir", ["-p", app], work);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "pack-check", version: "1.0.0", private: true }));
    // The dependencies come from npm's cache when npm ci filled it, else from the registry.
    sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, tarball!)], app);
    const version = JSON.parse(sh("node", ["-p", "JSON.stringify(require('./node_modules/kube-observer/package.json').version)"], app)) as string;
    expect(sh("npx", ["--no-install", "kube-observer", "--version"], app).trim()).toBe(version);
    // The installed copy's own example config: the dhall-to-json binary and the built-in plugins work from there.
    const check = sh("npx", ["--no-install", "kube-observer", "config", "check", join(app, "node_modules/kube-observer/config/example.dhall")], app);
    expect(check).toMatch(/ok|valid/i);
  });
});
