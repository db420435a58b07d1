// Pinning benchmark processes to cores with taskset (servers on one core, the
// load generator on another), where the machine allows it.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";

/** Said in a bench's header line when it cannot pin. */
export const notPinnedNote = "not pinned (no taskset or one core)";

/**
 * Whether processes can be pinned: taskset is installed and there are two
 * cores or more. Ask before this process pins itself: availableParallelism()
 * follows the affinity mask.
 */
export function canPin(cores: number = availableParallelism()): boolean {
  return spawnSync("taskset", ["-V"]).status === 0 && cores >= 2;
}

/**
 * Pins this process to `core`: every thread (-a: libuv pool, V8 helpers), not
 * just the main one. Returns undefined when done, else taskset's stderr.
 */
export function pinSelf(core: number): string | undefined {
  const result = spawnSync("taskset", ["-a", "-p", "-c", String(core), String(process.pid)]);
  return result.status === 0 ? undefined : result.stderr.toString();
}
