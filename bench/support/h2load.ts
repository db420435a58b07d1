// h2load (Debian nghttp2-client) as the one load generator of bench/defaults.ts:
// HTTP/2 (h2c, prior knowledge) for gRPC and Connect, HTTP/1.1 with --h1 for
// REST; closed loop (clients x streams in flight) for throughput, or a fixed
// offered rate (--rps per client) with every request's latency from its log.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

export interface H2loadOptions {
  readonly url: string;
  /** Connections (-c). */
  readonly clients: number;
  /** Streams in flight per connection (-m); 1 for HTTP/1.1. */
  readonly streams: number;
  readonly durationS: number;
  /** HTTP/1.1 instead of h2c. */
  readonly h1?: boolean;
  /** A file whose bytes every request posts (-d); none: GET. */
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Offered rate in requests per second, spread over the clients; none: as fast as answers come. */
  readonly rate?: number;
  /** Pin h2load to this core. */
  readonly core?: number;
  /** Where h2load writes one line per request (start µs, status, latency µs). */
  readonly logFile?: string;
}

export interface H2loadResult {
  readonly command: string;
  readonly requestsPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Responses by status class; gRPC answers 200 whatever its grpc-status (checked apart). */
  readonly status2xx: number;
  readonly statusOther: number;
  /** Sorted ascending, ms; only with a log file. */
  readonly latenciesMs?: Float64Array;
}

/** h2load's version line, or undefined when it is not installed. */
export function h2loadVersion(): string | undefined {
  const result = spawnSync("h2load", ["--version"], { encoding: "utf8" });
  return result.error === undefined ? result.stdout.trim().split("\n")[0] : undefined;
}

export function h2loadCommand(o: H2loadOptions): string[] {
  const args = [
    "h2load",
    `-c${o.clients}`,
    `-m${o.streams}`,
    `-D${o.durationS}`,
    ...(o.h1 === true ? ["--h1"] : []),
    ...(o.body === undefined ? [] : ["-d", o.body]),
    ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    ...(o.rate === undefined ? [] : [`--rps=${o.rate / o.clients}`]),
    ...(o.logFile === undefined ? [] : [`--log-file=${o.logFile}`]),
    o.url,
  ];
  return o.core === undefined ? args : ["taskset", "-c", String(o.core), ...args];
}

/** Runs h2load; `track` receives the child so that a caller can kill it (by PID) on error. */
export function runH2load(options: H2loadOptions, track?: (child: ChildProcess | undefined) => void): Promise<H2loadResult> {
  const argv = h2loadCommand(options);
  const command = argv.join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    track?.(child);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      track?.(undefined);
      if (code !== 0) {
        reject(new Error(`${command} exited with ${code ?? signal}: ${out}`));
        return;
      }
      try {
        resolve({ ...parseH2load(out, command), ...(options.logFile === undefined ? {} : { latenciesMs: readLog(options.logFile) }) });
      } catch (e) {
        reject(e);
      }
    });
  });
}

export function parseH2load(text: string, command: string): H2loadResult {
  const need = (re: RegExp, what: string): RegExpMatchArray => {
    const m = text.match(re);
    if (m === null) {
      throw new Error(`cannot find ${what} in the output of ${command}:\n${text}`);
    }
    return m;
  };
  const finished = need(/finished in [\d.]+(?:s|ms), ([\d.]+) req\/s/, "req/s");
  const requests = need(/requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/, "requests");
  const codes = need(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/, "status codes");
  return {
    command,
    requestsPerSec: Number(finished[1]),
    succeeded: Number(requests[1]),
    failed: Number(requests[2]) + Number(requests[3]) + Number(requests[4]),
    status2xx: Number(codes[1]),
    statusOther: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
  };
}

/** The latencies (ms, ascending) of h2load's per-request log, which it then removes. */
function readLog(file: string): Float64Array {
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
  rmSync(file, { force: true });
  const latencies = Float64Array.from(lines, (line) => Number(line.split("\t")[2]) / 1000);
  return latencies.sort();
}
