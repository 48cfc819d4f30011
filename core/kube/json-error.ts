// What went wrong parsing a response, without the response. V8's JSON.parse errors quote
// the input ("Unexpected token 'x', \"…\" is not valid JSON"); a LIST or watch body can be
// a Secret, and these messages travel into observer status, logs and metrics. Only the
// position is kept.

/** A description of a JSON.parse failure that quotes nothing of the input. */
export function jsonErrorWithoutInput(error: unknown, bytes: number): string {
  const message = error instanceof Error ? error.message : String(error);
  const position = /at position (\d+)/.exec(message)?.[1];
  if (/Unexpected end of JSON input|Unterminated string/.test(message)) return `not valid JSON: it ends early (${bytes} bytes)`;
  if (position !== undefined) return `not valid JSON at position ${position} of ${bytes} bytes`;
  return `not valid JSON (${bytes} bytes)`;
}
