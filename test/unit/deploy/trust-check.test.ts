// doctor's trust check: the config, its directory and plugin files writable by someone
// other than the agent's user (or root) can be made to run code as the agent.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { othersCanWrite, trustProblems } from "../../../core/ops/trust-check.js";

const me = process.getuid!();

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "kube-observer-trust-"));
  chmodSync(dir, 0o755);
  return dir;
}

describe("othersCanWrite", () => {
  it("says why by mode: everyone, the group; a sticky directory and the owner alone are fine", () => {
    const dir = scratch();
    const file = join(dir, "config.dhall");
    writeFileSync(file, "{=}");
    chmodSync(file, 0o666);
    expect(othersCanWrite(file, me)).toBe("writable by everyone (mode 0666)");
    chmodSync(file, 0o664);
    expect(othersCanWrite(file, me)).toMatch(/^writable by its group, gid \d+ \(mode 0664\)$/);
    chmodSync(file, 0o644);
    expect(othersCanWrite(file, me)).toBeUndefined();
    const shared = join(dir, "shared");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    expect(othersCanWrite(shared, me)).toBeUndefined();
    chmodSync(shared, 0o777);
    expect(othersCanWrite(shared, me)).toBe("writable by everyone (mode 0777)");
  });

  it("says when another user owns it (root is trusted)", () => {
    const dir = scratch();
    const file = join(dir, "plugin.mjs");
    writeFileSync(file, "export default {}");
    chmodSync(file, 0o644);
    if (me === 0) {
      expect(othersCanWrite(file, 10001)).toBeUndefined(); // root-owned: trusted
      chownSync(file, 4242, 4242);
      expect(othersCanWrite(file, 10001)).toBe("owned by uid 4242, not the agent's uid 10001");
    } else {
      expect(othersCanWrite(file, me)).toBeUndefined();
      expect(othersCanWrite(file, me + 1)).toBe(`owned by uid ${me}, not the agent's uid ${me + 1}`);
    }
  });
});

describe("trustProblems", () => {
  it("checks the config, its directory, each plugin directory and each plugin file in it", () => {
    const dir = scratch();
    const config = join(dir, "config.dhall");
    writeFileSync(config, "{=}");
    chmodSync(config, 0o644);
    const plugins = join(dir, "plugins");
    mkdirSync(plugins);
    chmodSync(plugins, 0o755);
    const plugin = join(plugins, "widget.mjs");
    writeFileSync(plugin, "export default {}");
    chmodSync(plugin, 0o666);
    expect(trustProblems(config, [plugins], me)).toStrictEqual([{ path: plugin, reason: "writable by everyone (mode 0666)" }]);
    chmodSync(dir, 0o775);
    expect(trustProblems(config, [plugins], me).map((p) => p.path)).toStrictEqual([dir, plugin]);
  });
});
