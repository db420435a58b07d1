// wrk as a load generator: run it (pinned to a core when asked) and parse its report.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export interface WrkOptions {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationS: number;
  /** A Lua script for wrk -s. */
  readonly script?: string;
  /** Pin wrk (every thread) to this core with taskset. */
  readonly core?: number;
}

export interface WrkResult {
  readonly command: string;
  readonly requests: number;
  readonly durationS: number;
  readonly requestsPerSec: number;
  readonly latencyAvgMs: number;
  readonly p50Ms: number;
  readonly p75Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** "Non-2xx or 3xx responses", 0 when wrk printed none. */
  readonly non2xx3xx: number;
  readonly socketErrors: { connect: number; read: number; write: number; timeout: number };
}

/** wrk's version line, or undefined when wrk is not installed. */
export function wrkVersion(): string | undefined {
  const result = spawnSync("wrk", ["-v"], { encoding: "utf8" });
  if (result.error !== undefined) {
    return undefined;
  }
  const line = `${result.stdout}${result.stderr}`.split("\n").find((l) => l.startsWith("wrk "));
  return line?.trim() ?? "wrk (version unknown)";
}

export function wrkCommand(options: WrkOptions): string[] {
  const args = [
    "wrk",
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.durationS}s`,
    "--latency",
    ...(options.script === undefined ? [] : ["-s", options.script]),
    options.url,
  ];
  return options.core === undefined ? args : ["taskset", "-c", String(options.core), ...args];
}

/** Runs wrk; `track` receives the child so that a caller can kill it (by PID) on error. */
export function runWrk(options: WrkOptions, track?: (child: ChildProcess | undefined) => void): Promise<WrkResult> {
  const argv = wrkCommand(options);
  const command = argv.join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    track?.(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("error", (e) => {
      track?.(undefined);
      reject(e);
    });
    child.once("exit", (code, signal) => {
      track?.(undefined);
      if (code !== 0) {
        reject(new Error(`${command} exited with ${code ?? signal}: ${err}${out}`));
        return;
      }
      try {
        resolve(parseWrk(out, command));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** Parses wrk 4's text report (needs --latency for the percentiles). */
export function parseWrk(text: string, command = "wrk"): WrkResult {
  const need = (re: RegExp, what: string): RegExpMatchArray => {
    const m = text.match(re);
    if (m === null) {
      throw new Error(`cannot find ${what} in wrk output of ${command}:\n${text}`);
    }
    return m;
  };
  const percentile = (p: string): number => {
    const m = need(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m"), `the ${p}% latency`);
    return toMs(m[1]!, m[2]!);
  };
  const total = need(/^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m, "the request count");
  const avg = need(/^\s+Latency\s+([\d.]+)(us|ms|s|m)\s/m, "the mean latency");
  const non = text.match(/Non-2xx or 3xx responses:\s*(\d+)/);
  const sock = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    command,
    requests: Number(total[1]),
    durationS: toMs(total[2]!, total[3]!) / 1000,
    requestsPerSec: Number(need(/^Requests\/sec:\s+([\d.]+)/m, "Requests/sec")[1]),
    latencyAvgMs: toMs(avg[1]!, avg[2]!),
    p50Ms: percentile("50"),
    p75Ms: percentile("75"),
    p90Ms: percentile("90"),
    p99Ms: percentile("99"),
    non2xx3xx: non === null ? 0 : Number(non[1]),
    socketErrors:
      sock === null
        ? { connect: 0, read: 0, write: 0, timeout: 0 }
        : { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) },
  };
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case "us":
      return n / 1000;
    case "ms":
      return n;
    case "s":
      return n * 1000;
    case "m":
      return n * 60_000;
    default:
      throw new Error(`unknown wrk time unit ${unit}`);
  }
}
