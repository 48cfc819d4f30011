// doctor's table: aligned columns CHECK, TARGET, RESULT (with its detail), HINT, and a
// summary line.
import { describe, expect, it } from "vitest";
import { formatDoctorTable, type DoctorRow } from "../../../core/ops/doctor.js";

const row = (check: DoctorRow["check"], target: string, result: DoctorRow["result"], detail = "", hint = ""): DoctorRow => ({
  check,
  target,
  result,
  detail,
  hint,
});

describe("formatDoctorTable", () => {
  it("aligns the columns and counts the failures", () => {
    const text = formatDoctorTable([
      row("config", "c.dhall", "ok", "1 cluster, 2 actors"),
      row("permission", "local: list secrets (cluster-wide)", "FAIL", "denied", "needed by actors[0] (secret)"),
      row("wal", "/w", "ok"),
    ]);
    expect(text).toBe(
      [
        "CHECK       TARGET                              RESULT                   HINT",
        "config      c.dhall                             ok: 1 cluster, 2 actors",
        "permission  local: list secrets (cluster-wide)  FAIL: denied             needed by actors[0] (secret)",
        "wal         /w                                  ok",
        "",
        "1 check failed",
        "",
      ].join("\n"),
    );
  });

  it("says when everything passed, and counts warnings", () => {
    expect(formatDoctorTable([row("config", "c", "ok")]).endsWith("\n\nall checks passed\n")).toBe(true);
    expect(formatDoctorTable([row("config", "c", "ok"), row("plugin", "p.js", "warn", "bad", "fix it")]).endsWith("\n\nall checks passed, 1 warning\n")).toBe(
      true,
    );
  });
});
