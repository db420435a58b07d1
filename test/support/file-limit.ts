import { execFileSync } from "node:child_process";

/**
 * The command and arguments that run `command args...` with its open-file
 * limit (ulimit -n) raised to `limit`: to the hard limit when that is lower
 * and cannot be raised (only root may raise it). For tests that hold
 * thousands of connections in a child process.
 */
export function withFileLimit(limit: number, command: string, args: readonly string[]): { command: string; args: string[] } {
  const script = `ulimit -n ${limit} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; exec "$@"`;
  return { command: "/bin/sh", args: ["-c", script, "sh", command, ...args] };
}

/** The open-file limit a child started through withFileLimit(limit, ...) gets on this machine. */
export function reachableFileLimit(limit: number): number {
  const out = execFileSync("/bin/sh", ["-c", `ulimit -n ${limit} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; ulimit -n`], { encoding: "utf8" });
  const value = out.trim();
  return value === "unlimited" ? Number.POSITIVE_INFINITY : Number(value);
}
