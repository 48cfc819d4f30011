// Who else can change what the agent trusts. Whoever can write the config file, its
// directory, a plugin directory or a plugin file can run code as the agent (README,
// "Security"): doctor warns when any of them is writable by a user other than the agent's
// own (or root), or by a group or everyone.
import { accessSync, constants, readdirSync, statSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";

export interface TrustProblem {
  path: string;
  /** e.g. "writable by everyone (mode 0777)". */
  reason: string;
}

/** Why others can change `path`, or undefined when only the agent's user (or root) can. */
export function othersCanWrite(path: string, agentUid: number | undefined = process.getuid?.()): string | undefined {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    return undefined; // a missing path is reported by the checks that need it
  }
  // A read-only mount (a ConfigMap volume in a pod) cannot be changed through this path.
  try {
    accessSync(path, constants.W_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EROFS") return undefined;
  }
  const mode = `mode 0${(stats.mode & 0o7777).toString(8)}`;
  // A sticky directory (/tmp) lets others add files, not replace ours.
  const sticky = stats.isDirectory() && (stats.mode & 0o1000) !== 0;
  if ((stats.mode & 0o002) !== 0 && !sticky) return `writable by everyone (${mode})`;
  if ((stats.mode & 0o020) !== 0 && !sticky) return `writable by its group, gid ${stats.gid} (${mode})`;
  if (agentUid !== undefined && stats.uid !== agentUid && stats.uid !== 0) return `owned by uid ${stats.uid}, not the agent's uid ${agentUid}`;
  return undefined;
}

/** The config file and its directory, every plugin directory and the plugin files in it. */
export function trustProblems(configFile: string, pluginDirs: readonly string[], agentUid?: number): TrustProblem[] {
  const config = resolve(configFile);
  const paths = [config, dirname(config)];
  for (const dir of pluginDirs.map((d) => resolve(d))) {
    paths.push(dir);
    try {
      for (const name of readdirSync(dir)) paths.push(join(dir, name));
    } catch {
      /* an unreadable plugin directory is reported as a plugin problem */
    }
  }
  const problems: TrustProblem[] = [];
  for (const path of new Set(paths)) {
    const reason = othersCanWrite(path, agentUid);
    if (reason) problems.push({ path, reason });
  }
  return problems;
}
