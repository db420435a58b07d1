import { readFileSync } from "node:fs";

/**
 * This process's soft limit on open files (RLIMIT_NOFILE), read from
 * /proc/self/limits; undefined where that file does not exist (not Linux) or
 * says "unlimited". Node has no call for getrlimit.
 */
export function openFileLimit(limitsFile = "/proc/self/limits"): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, "utf8");
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft === undefined || !/^\d+$/.test(soft) ? undefined : Number(soft);
}
