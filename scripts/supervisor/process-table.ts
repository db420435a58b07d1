import type { ProcessStatus } from "./supervisor.js";

/** `make run`'s table: process, pid, address, health, restarts (and the last exit, once there was one). */
export function processTable(statuses: readonly ProcessStatus[], url: (port: number) => string): string {
  const health: Record<ProcessStatus["state"], string> = {
    starting: "NOT SERVING",
    serving: "SERVING",
    backoff: "RESTARTING",
    "crash-loop": "CRASH LOOP",
    "port-in-use": "PORT IN USE",
    stopped: "STOPPED",
  };
  const header = ["process", "pid", "address", "health", "restarts"];
  const rows = statuses.map((s) => [
    s.name,
    String(s.pid ?? "-"),
    url(s.port),
    health[s.state],
    s.restarts === 0 ? "0" : `${s.restarts} (last: ${s.lastExit ?? "?"})`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
