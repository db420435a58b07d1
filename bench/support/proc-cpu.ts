// CPU time of a process (all its threads) from /proc/<pid>/stat: utime + stime.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc times (getconf CLK_TCK; 100 almost everywhere). */
export const clockTicksPerSecond: number = (() => {
  const result = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number(result.stdout?.trim());
  return result.status === 0 && Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/** utime + stime of the process so far, in µs (resolution 1/CLK_TCK s). */
export function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: split after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot read CPU times of ${pid} from /proc: ${stat}`);
  }
  return ((utime + stime) * 1_000_000) / clockTicksPerSecond;
}

/** The process's descendants, from /proc/<pid>/task/<tid>/children (Linux 3.5+, CONFIG_PROC_CHILDREN). */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const visit = (parent: number): void => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let children = "";
      try {
        children = readFileSync(`/proc/${parent}/task/${tid}/children`, "utf8");
      } catch {
        continue;
      }
      for (const child of children.trim().split(/\s+/).filter((s) => s !== "")) {
        found.push(Number(child));
        visit(Number(child));
      }
    }
  };
  visit(pid);
  return found;
}

/**
 * CPU time, in µs, of the process and every live descendant (e.g. the esbuild
 * service process tsx and the web bundler keep), summed.
 */
export function procTreeCpuUs(pid: number): number {
  let total = procCpuUs(pid);
  for (const child of descendantsOf(pid)) {
    try {
      total += procCpuUs(child);
    } catch {
      // Gone between listing and reading.
    }
  }
  return total;
}
