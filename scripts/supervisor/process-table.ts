import type { ProcessStatus } from "./supervisor.js";

export interface ProcessTableOptions {
  /** A line above the table, e.g. the mode the mesh runs in. */
  readonly caption?: string;
  /** What a process was configured with that a reader must know (e.g. a simulated dependency), by process name; a "notes" column when any. */
  readonly notes?: ReadonlyMap<string, string>;
}

/** `make run`'s table: process, pid, address, health, restarts (and the last exit, once there was one), and notes when any. */
export function processTable(statuses: readonly ProcessStatus[], url: (port: number) => string, options: ProcessTableOptions = {}): string {
  const health: Record<ProcessStatus["state"], string> = {
    starting: "NOT SERVING",
    serving: "SERVING",
    backoff: "RESTARTING",
    "crash-loop": "CRASH LOOP",
    "port-in-use": "PORT IN USE",
    stopped: "STOPPED",
  };
  const notes = options.notes ?? new Map<string, string>();
  const noted = statuses.some((s) => notes.has(s.name));
  const header = ["process", "pid", "address", "health", "restarts", ...(noted ? ["notes"] : [])];
  const rows = statuses.map((s) => [
    s.name,
    String(s.pid ?? "-"),
    url(s.port),
    health[s.state],
    s.restarts === 0 ? "0" : `${s.restarts} (last: ${s.lastExit ?? "?"})`,
    ...(noted ? [notes.get(s.name) ?? ""] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [
    ...(options.caption === undefined ? [] : [options.caption]),
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}
