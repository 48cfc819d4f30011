// What to say when a plugin's code throws on an object. The thrower's message is never
// repeated: plugins build messages from the object they were handed ("bad value " + v),
// and the text would travel into the parked table, logs and `wal status`. What is kept
// is what finds the bug without the object: the error's class, where in the plugin it
// was thrown (file:line:column, from the stack's frames, never its first line, which is
// the message) and how long the message was.
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/** A plugin threw; `message` names the plugin, the step, the error class and the place. */
export class PluginFailureError extends Error {
  override readonly name = "PluginFailureError";
  /** Same object, same throw: parking it is right; retrying never helps. */
  readonly deterministic = true;
}

export type PluginStep = "reduce" | "toGraph";

export function describePluginFailure(error: unknown, plugin: string, step: PluginStep, pluginFile?: string): string {
  const what = error instanceof Error ? className(error) : `${article(error === null ? "null" : typeof error)} value`;
  const where = error instanceof Error ? throwSite(error, pluginFile) : undefined;
  const length = messageLength(error);
  const withheld = length > 0 ? `; its message (${length} characters) is not shown, as it may quote the object` : "";
  return `plugin "${plugin}" ${step} threw ${what}${where ? ` at ${where}` : ""}${withheld}`;
}

function className(error: Error): string {
  // `name` is settable by anyone; only an identifier is shown.
  const name = typeof error.name === "string" && /^[A-Za-z_$][\w$]{0,63}$/.test(error.name) ? error.name : "Error";
  return article(name);
}

function article(word: string): string {
  return /^[AEIOUaeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

function messageLength(error: unknown): number {
  if (error instanceof Error) return typeof error.message === "string" ? error.message.length : 0;
  if (typeof error === "string") return error.length;
  return 0;
}

const FRAME = /^\s+at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/;

/** The first stack frame in the plugin's own file, else the first frame at all. */
export function throwSite(error: Error, pluginFile?: string): string | undefined {
  const stack = typeof error.stack === "string" ? error.stack : "";
  const frames: Array<{ file: string; line: string; column: string }> = [];
  for (const line of stack.split("\n")) {
    const match = FRAME.exec(line);
    if (match) frames.push({ file: localPath(match[1]!), line: match[2]!, column: match[3]! });
  }
  // A third-party plugin runs in the workers from its source as a data: URL (the version
  // the agent loaded, whatever is on disk now): such a frame is the plugin's file.
  const isOwn = (f: { file: string }): boolean => f.file.startsWith("data:") || (pluginFile !== undefined && f.file === pluginFile);
  const own = frames.find(isOwn);
  const frame = own ?? frames[0];
  if (!frame) return undefined;
  const file = own ? (pluginFile === undefined ? "the plugin's source" : basename(pluginFile)) : frame.file.slice(0, 300);
  return `${file}:${frame.line}:${frame.column}`;
}

function localPath(location: string): string {
  if (!location.startsWith("file://")) return location;
  try {
    return fileURLToPath(location);
  } catch {
    return location;
  }
}
