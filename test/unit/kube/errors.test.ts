// classifyStatus: how HTTP errors and in-stream ERROR Status objects map onto the
// reflector's decisions (relist, back off, report forbidden). Status bodies below are
// shaped like kube-apiserver's. Case numbers refer to list-watch.md.
import { describe, expect, it } from "vitest";
import { ApiError, classifyStatus, parseRetryAfter } from "../../../core/kube/errors.js";

describe("classifyStatus", () => {
  it("410 Expired (an expired continue token, case 2) is expired", () => {
    const e = classifyStatus(410, {
      code: 410,
      reason: "Expired",
      message: "The provided continue parameter is too old to display a consistent list result.",
    });
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ApiError");
    expect(e.kind).toBe("expired");
    expect(e.status).toBe(410);
    expect(e.message).toMatch(/continue parameter is too old/);
  });

  it("an in-stream ERROR with code 410 Gone is expired even though the HTTP status was 200 (case 4)", () => {
    expect(classifyStatus(200, { code: 410, reason: "Gone", message: "too old resource version: 1 (2)" }).kind).toBe("expired");
  });

  it("the Status reason alone identifies an expiry", () => {
    expect(classifyStatus(500, { reason: "Expired", message: "x" }).kind).toBe("expired");
    expect(classifyStatus(500, { reason: "Gone", message: "x" }).kind).toBe("expired");
  });

  it('"too large resource version" (504 with a ResourceVersionTooLarge cause) is too-large-rv (case 11)', () => {
    const e = classifyStatus(504, {
      code: 504,
      reason: "Timeout",
      message: "Too large resource version: 1000123, current: 123",
      details: { causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }], retryAfterSeconds: 1 },
    });
    expect(e.kind).toBe("too-large-rv");
    expect(e.status).toBe(504);
    expect(e.retryAfterSeconds).toBe(1);
  });

  it("the too-large message without causes is recognised too, in any case", () => {
    expect(classifyStatus(504, { code: 504, message: "Timeout: Too large resource version: 5, current: 4" }).kind).toBe("too-large-rv");
  });

  it("a 504 that is just a timeout is a server error, not a relist", () => {
    expect(classifyStatus(504, { code: 504, reason: "Timeout", message: "request timed out" }).kind).toBe("server");
  });

  it.each([
    [403, "forbidden"],
    [401, "unauthorized"],
    [429, "throttled"],
    [500, "server"],
    [502, "server"],
    [503, "server"],
    [404, "not-found"],
    [400, "other"],
    [422, "other"],
  ] as const)("HTTP %i is %s", (code, kind) => {
    expect(classifyStatus(code, { code, message: "m" }).kind).toBe(kind);
    // The same when the body is not a Status at all.
    expect(classifyStatus(code, undefined).kind).toBe(kind);
  });

  it("without a body message, the message names the HTTP status", () => {
    expect(classifyStatus(503, undefined).message).toBe("HTTP 503");
    expect(classifyStatus(503, undefined).status).toBe(503);
  });

  it("the code in the Status body wins over the HTTP status", () => {
    expect(classifyStatus(500, { code: 403, message: "forbidden" }).kind).toBe("forbidden");
  });

  it("Retry-After: the header wins over details.retryAfterSeconds, which is the fallback", () => {
    const status = { code: 429, reason: "TooManyRequests", message: "slow down", details: { retryAfterSeconds: 2 } };
    expect(classifyStatus(429, status, "7").retryAfterSeconds).toBe(7);
    expect(classifyStatus(429, status).retryAfterSeconds).toBe(2);
    expect(classifyStatus(429, status, null).retryAfterSeconds).toBe(2);
    expect(classifyStatus(429, status, "").retryAfterSeconds).toBe(2);
    expect(classifyStatus(429, status, "not-a-number").retryAfterSeconds).toBe(2);
    expect(classifyStatus(429, { code: 429, message: "m" }).retryAfterSeconds).toBeUndefined();
  });

  it("Retry-After is carried on every kind (e.g. a 503 while the apiserver warms up, case 10)", () => {
    expect(classifyStatus(503, { code: 503, message: "warming up" }, "4")).toMatchObject({ kind: "server", retryAfterSeconds: 4 });
  });
});

describe("parseRetryAfter", () => {
  const now = () => Date.parse("2026-01-01T00:00:00Z");

  it("takes delay-seconds, however large (the backoff caps it, not the parser)", () => {
    expect(parseRetryAfter("0")).toBe(0);
    expect(parseRetryAfter(" 12 ")).toBe(12);
    expect(parseRetryAfter("1.5")).toBe(1.5);
    expect(parseRetryAfter("99999999999")).toBe(99_999_999_999);
    expect(parseRetryAfter("1000000000000")).toBe(1e12);
  });

  it("takes an HTTP-date as the seconds until then (a date past is 0)", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:01:30 GMT", undefined, now)).toBe(90);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", undefined, now)).toBe(0);
  });

  it("refuses garbage: negative, NaN, exponents, words, hex, Infinity, several values", () => {
    for (const header of ["-5", "NaN", "1e12", "soon", "0x10", "Infinity", "5, 6", "5s", "", "   "]) {
      expect(parseRetryAfter(header, undefined, now), header).toBeUndefined();
    }
  });

  it("falls back to the Status's details.retryAfterSeconds only when it is a number >= 0", () => {
    const status = (v: unknown) => ({ details: { retryAfterSeconds: v as number } });
    expect(parseRetryAfter(undefined, status(3))).toBe(3);
    expect(parseRetryAfter("garbage", status(3))).toBe(3);
    for (const bad of [-1, NaN, Infinity, "7", null, {}]) expect(parseRetryAfter(undefined, status(bad))).toBeUndefined();
  });

  it("a repeated header: the first value", () => {
    expect(parseRetryAfter(["4", "9"])).toBe(4);
  });

  it("classifyStatus never carries a garbage value", () => {
    expect(classifyStatus(429, { code: 429, message: "m" }, "-3").retryAfterSeconds).toBeUndefined();
    expect(classifyStatus(429, { code: 429, message: "m", details: { retryAfterSeconds: -3 } }).retryAfterSeconds).toBeUndefined();
    expect(classifyStatus(429, { code: 429, message: "m" }, "99999999999").retryAfterSeconds).toBe(99_999_999_999);
  });
});
