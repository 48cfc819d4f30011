// What went wrong parsing a response, without the response. V8's JSON.parse errors quote
// the input ("Unexpected token 'x', \"…\" is not valid JSON"); a LIST or watch body can be
// a Secret, and these messages travel into observer status, logs and metrics. Only the
// position (in characters) and the size are kept. Where V8 gives no position, only its
// excerpt, the position is found by locating the excerpt in the input.

/** V8 shows this many characters either side of the fault in its excerpt. */
const V8_CONTEXT = 10;

/** A description of a JSON.parse failure of `input` that quotes nothing of it. */
export function jsonErrorWithoutInput(error: unknown, input: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const bytes = Buffer.byteLength(input);
  if (/Unexpected end of JSON input/.test(message)) return `not valid JSON: it ends early (${bytes} bytes)`;
  const position = /at position (\d+)/.exec(message)?.[1] ?? positionFromExcerpt(message, input);
  if (position !== undefined) return `not valid JSON at position ${position} of ${bytes} bytes`;
  return `not valid JSON (${bytes} bytes)`;
}

/** Where the unexpected token is, from V8's excerpt of the text around it. */
function positionFromExcerpt(message: string, input: string): number | undefined {
  // Unexpected token 'h', ..."password":hunter2-s3"... is not valid JSON
  const match = /^Unexpected token '(.)', (\.\.\.)?"(.*)"(\.\.\.)? is not valid JSON$/s.exec(message);
  if (!match) return undefined;
  const token = match[1]!;
  const cutLeft = match[2] !== undefined;
  const excerpt = match[3]!;
  const cutRight = match[4] !== undefined;
  const at = input.indexOf(excerpt);
  if (at < 0 || excerpt === "") return undefined;
  // Cut on the left: the fault is V8_CONTEXT characters in. Otherwise the excerpt starts
  // at the input's start: the fault is V8_CONTEXT before its end, or (a short input shown
  // whole) the first such token.
  if (cutLeft) return at + V8_CONTEXT;
  if (cutRight) return at + excerpt.length - V8_CONTEXT;
  const first = excerpt.indexOf(token);
  return first < 0 ? undefined : at + first;
}
