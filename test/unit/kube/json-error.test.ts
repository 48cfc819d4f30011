// Parse errors of a response never quote it: a LIST or watch body can hold Secret data.
import { describe, expect, it } from "vitest";
import { jsonErrorWithoutInput } from "../../../core/kube/json-error.js";

const secret = "hunter2-s3cr3t-value";

function failureOf(text: string): unknown {
  try {
    JSON.parse(text);
  } catch (error) {
    return error;
  }
  throw new Error(`parsed: ${text}`);
}

describe("jsonErrorWithoutInput", () => {
  const bodies = [
    `{"kind":"Secret","data":{"password":"${secret}"} trailing`,
    `${secret}`,
    `{"data":{"password":"${secret}`,
    `{"data":{"password":"${secret}"`,
    `{"data":{"password":${secret}}}`,
    `{"data":{"password":"${secret}\u0001"}}`,
  ];

  it.each(bodies)("keeps the position and never the input: %s", (body) => {
    const error = failureOf(body);
    // V8's own message does quote it (what this guards against).
    if (body.startsWith(secret)) expect((error as Error).message).toContain(secret.slice(0, 10));
    const described = jsonErrorWithoutInput(error, body);
    expect(described).toMatch(/^not valid JSON/);
    expect(described).not.toContain(secret.slice(0, 4));
    expect(described).toContain(`${Buffer.byteLength(body)} bytes`);
  });

  it("says where when V8 says where", () => {
    expect(jsonErrorWithoutInput(failureOf('{"a":1 x}'), '{"a":1 x}')).toBe("not valid JSON at position 7 of 9 bytes");
  });

  it("says where when V8 only quotes the place: the excerpt is found in the input, then dropped", () => {
    const long = "x".repeat(300);
    const cases: Array<[string, number]> = [
      [`{"pad":"${long}","password":${secret}}`, `{"pad":"${long}","password":`.length], // fault mid-input
      [`{"password":${secret}}`, `{"password":`.length], // within the first characters
      [`{"pad":"${long}","p":1}x`, `{"pad":"${long}","p":1}`.length], // at the very end
      [`nope`, 1], // a short input V8 shows whole ("n" could start null)
    ];
    for (const [body, position] of cases) {
      const described = jsonErrorWithoutInput(failureOf(body), body);
      expect(described, body).toBe(`not valid JSON at position ${position} of ${Buffer.byteLength(body)} bytes`);
    }
  });
});
