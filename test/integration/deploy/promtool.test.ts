// The alerting rules pass Prometheus's own checks: `promtool check rules`, and promtool's
// rule unit tests (deploy/monitoring/alerts.test.yaml), which fire each alert after its
// `for` and not before. promtool is built from the Go module proxy by the set-up
// (scripts/promtool/build.sh, once per machine).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = join(import.meta.dirname, "../../..");
const promtool = (): string =>
  execFileSync("bash", [join(root, "scripts/promtool/build.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
const run = (...args: string[]): string =>
  execFileSync(promtool(), args, { cwd: join(root, "deploy/monitoring"), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("deploy/monitoring/alerts.yaml", () => {
  it("passes promtool check rules", () => {
    const out = run("check", "rules", "alerts.yaml");
    const count = (parse(readFileSync(join(root, "deploy/monitoring/alerts.yaml"), "utf8")) as { groups: Array<{ rules: unknown[] }> }).groups[0]!.rules.length;
    expect(out).toContain(`SUCCESS: ${count} rules found`);
  });

  it("passes its promtool unit tests, which cover every alert", () => {
    const out = run("test", "rules", "alerts.test.yaml");
    expect(out).toMatch(/SUCCESS/);
    const alerts = (
      parse(readFileSync(join(root, "deploy/monitoring/alerts.yaml"), "utf8")) as { groups: Array<{ rules: Array<{ alert: string }> }> }
    ).groups[0]!.rules.map((r) => r.alert);
    const tests = parse(readFileSync(join(root, "deploy/monitoring/alerts.test.yaml"), "utf8")) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const fired = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect([...fired].sort()).toEqual([...alerts].sort());
  });

  it("fails a unit test that expects an alert before its `for` (the tests can fail)", () => {
    const dir = mkdtempSync(join(tmpdir(), "promtool-"));
    try {
      copyFileSync(join(root, "deploy/monitoring/alerts.yaml"), join(dir, "alerts.yaml"));
      const early = [
        "rule_files: [alerts.yaml]",
        "evaluation_interval: 1m",
        "tests:",
        "  - interval: 1m",
        "    input_series:",
        "      - { series: 'kube_observer_sink_open{namespace=\"ko\",pod=\"a\"}', values: '0+0x10' }",
        "    alert_rule_test:",
        "      - eval_time: 2m",
        "        alertname: KubeObserverSinkDown",
        "        exp_alerts: [{ exp_labels: { severity: critical, namespace: ko, pod: a } }]",
      ].join("\n");
      writeFileSync(join(dir, "early.test.yaml"), `${early}\n`);
      let failure: { status?: number; stdout?: string; stderr?: string } | undefined;
      try {
        execFileSync(promtool(), ["test", "rules", "early.test.yaml"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (error) {
        failure = error as { status?: number; stdout?: string; stderr?: string };
      }
      expect(failure?.status).toBe(1);
      expect(`${failure?.stdout}${failure?.stderr}`).toMatch(/FAILED:[\s\S]*alertname: KubeObserverSinkDown, time: 2m/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
