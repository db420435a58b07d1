// What one log line costs the process that writes it, by destination: the
// mesh's default (mesh/log-destination.ts: lines gathered into writes of
// about 8 KiB) against pino's own default (one asynchronous write per line)
// and one synchronous write per line, each writing to a pipe that another
// process drains, as a service's stdout under `make run`'s supervisor or a
// container runtime.
//
//   npx tsx bench/log-destination.ts [--lines 50000] [--rounds 3]
//
// Each measurement is a child process (this file with "child <mode>") that
// logs --lines call lines (the shape of log-call.ts's "rpc" line) at 5,000
// lines/s, 5 every millisecond; its CPU (process.cpuUsage: user + system, all
// threads) from the first line to 200 ms after the last, divided by the
// lines, less the same loop logging nothing ("off"), is the line's cost. The
// children run on core 0, this process (the reader) on core 1; modes take
// turns in each round; figures are medians over rounds. Every line must
// arrive, whole: the run fails otherwise.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino, type DestinationStream } from "pino";
import { createLogger } from "../mesh/logger.js";
import { positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";

const modes = [
  { mode: "off", label: "the same loop, level warn: no line written (subtracted from the others)" },
  { mode: "pino-default", label: "pino's default destination: one asynchronous write per line" },
  { mode: "sync-per-line", label: "one synchronous write per line" },
  { mode: "batched", label: "the mesh's default (mesh/log-destination.ts): batches of about 8 KiB, 50 ms at most" },
] as const;
type Mode = (typeof modes)[number]["mode"];

if (process.argv[2] === "child") {
  child(process.argv[3] as Mode, Number(process.argv[4]));
} else {
  await parent();
}

function child(mode: Mode, lines: number): void {
  const destination: DestinationStream | undefined =
    mode === "pino-default" ? pino.destination(1) : mode === "sync-per-line" ? pino.destination({ dest: 1, sync: true }) : undefined;
  const logger = createLogger("log-bench", mode === "off" ? "warn" : "info", destination);
  const line = (n: number) => ({
    request_id: "3f1c2a9e-1b2c-4d5e-8f90-123456789abc",
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    span_id: "b7ad6b7169203331",
    rpc: "meshwork.inventory.v1.InventoryService/GetItem",
    code: "ok",
    duration_ms: 0.123,
    protocol: "grpc",
    peer: "127.0.0.1:51234",
    n,
  });
  let n = 0;
  const start = process.cpuUsage();
  const tick = setInterval(() => {
    for (let i = 0; i < 5 && n < lines; i++, n++) {
      logger.info(line(n), "rpc");
    }
    if (n >= lines) {
      clearInterval(tick);
      setTimeout(() => {
        const used = process.cpuUsage(start);
        process.send!({ cpuUs: used.user + used.system }, () => process.exit(0));
      }, 200);
    }
  }, 1);
}

async function parent(): Promise<void> {
  const { values: args } = parseArgs({
    options: { lines: { type: "string", default: "50000" }, rounds: { type: "string", default: "3" } },
  });
  const lines = positive("lines", args.lines, 10_000_000);
  const rounds = positive("rounds", args.rounds, 20);
  const pinned = canPin();
  if (pinned) {
    pinSelf(1);
  }
  console.log(
    `${rounds} rounds x ${lines} lines per mode at 5,000 lines/s into a pipe this process drains; ` +
      (pinned ? "writers on core 0, reader on core 1" : notPinnedNote),
  );
  const perLine = new Map<Mode, number[]>(modes.map(({ mode }) => [mode, []]));
  for (let r = 0; r < rounds; r++) {
    for (const { mode } of modes) {
      const { cpuUs, received } = await measure(mode, lines, pinned);
      const expected = mode === "off" ? 0 : lines;
      if (received !== expected) {
        throw new Error(`${mode}: ${received} whole lines arrived, ${expected} were written`);
      }
      perLine.get(mode)!.push(cpuUs / lines);
      console.log(`  round ${r + 1} ${mode.padEnd(13)} ${fmt(cpuUs / lines, 2)} µs of CPU per loop turn`);
    }
  }
  const off = medianOf(perLine.get("off")!);
  const costOf = (mode: Mode): number => medianOf(perLine.get(mode)!.map((v, i) => v - perLine.get("off")![i]!));
  console.log("");
  console.log("| destination | CPU µs per line (less \"off\") | vs pino's default |");
  console.log("|---|---:|---:|");
  for (const { mode, label } of modes) {
    if (mode === "off") {
      continue;
    }
    console.log(`| ${label} | ${fmt(costOf(mode), 2)} | ${fmt(costOf(mode) / costOf("pino-default"), 2)} |`);
  }
  console.log("");
  console.log(`"off" (the loop itself): ${fmt(off, 2)} µs per turn; medians of per-round differences over ${rounds} rounds`);
}

function measure(mode: Mode, lines: number, pinned: boolean): Promise<{ cpuUs: number; received: number }> {
  const script = fileURLToPath(import.meta.url);
  const argv = ["--import", "tsx", script, "child", mode, String(lines)];
  const proc = pinned
    ? spawn("taskset", ["-c", "0", process.execPath, ...argv], { stdio: ["ignore", "pipe", "inherit", "ipc"] })
    : spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit", "ipc"] });
  let received = 0;
  let partial = "";
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    for (const part of parts) {
      // Whole and in order: each line parses and carries the next number.
      const parsed = JSON.parse(part) as { msg?: string; n?: number };
      if (parsed.msg === "rpc") {
        if (parsed.n !== received) {
          throw new Error(`${mode}: line ${received} expected, ${parsed.n} arrived`);
        }
        received++;
      }
    }
  });
  return new Promise((resolve, reject) => {
    let cpuUs: number | undefined;
    proc.on("message", (m: { cpuUs: number }) => (cpuUs = m.cpuUs));
    proc.on("close", (code) =>
      code === 0 && cpuUs !== undefined ? resolve({ cpuUs, received }) : reject(new Error(`${mode}: the writer exited with ${code}`)),
    );
  });
}
