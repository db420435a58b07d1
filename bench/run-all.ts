// `make bench`: runs every benchmark in turn, shows its output as it comes,
// and rewrites bench/RESULTS.md from that output: the command, date, machine,
// Node version and commit, then each benchmark's tables and lines as it
// printed them, with when it ran and how long it took. With --only, the
// sections of the benchmarks not run are carried over from the file as they
// were. Every run carries over, as written, each block between
// `<!-- NAME:start -->` and `<!-- NAME:end -->` markers: what no benchmark
// prints, such as the breakdown measured before the defaults were made cheap
// ("before") or an analysis written from a profile ("notes").
//
//   node --import tsx bench/run-all.ts [--only defaults,gateway]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fmt } from "./support/number-format.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const resultsFile = join(root, "bench", "RESULTS.md");
/** A block written by hand, carried over by every run: `<!-- NAME:start -->` to `<!-- NAME:end -->`. */
const carriedBlock = /<!-- ([a-z][a-z-]*):start -->[\s\S]*?<!-- \1:end -->/g;

/** In the order make bench runs them, each with what it answers. */
const benches: readonly { readonly name: string; readonly about: string }[] = [
  { name: "defaults", about: "the mesh as `make run` starts it against a plain grpc-js server, a Fastify + grpc-js edge and the raw node ceilings; PlaceOrder end to end; CPU per request by contributor" },
  { name: "grpc-serving", about: "server CPU per unary gRPC call: serve() stripped and in the production configuration, connect-node, a @grpc/grpc-js Server, a raw node:http2 floor" },
  { name: "log-destination", about: "what one log line costs the process that writes it to a pipe: the mesh's batched default against pino's default and a write per line" },
  { name: "client-stack", about: "what the mesh's client stub costs a caller, layer by layer, on both transports" },
  { name: "mtls", about: "mTLS against plaintext in the production configuration (inventory's main, the mesh client stack): calls/s, latency and CPU per call at 64 in flight, connection set-up apart" },
  { name: "gateway", about: "REST through the gateway against a direct Connect JSON call and a node:http ceiling, stripped and in the production configuration" },
  { name: "observability", about: "what tracing (no-op and real OTLP/HTTP exporter) and metrics cost a two-hop call" },
  { name: "events", about: "events from outbox commit to consumer effect, embedded bus and NATS JetStream" },
  { name: "pg-client", about: "the PostgreSQL client the stores use (pg with its pool) against postgres, on keyed reads and store-shaped transactions" },
  { name: "slowloris", about: "fresh /healthz and RPCs on the gateway and on a service with 5,000 idle and 500 dribbling connections held, against the same requests with no attack (default timeouts)" },
  { name: "stores", about: "orders placed per second through the gateway and outbox-to-consumer lag, on PostgreSQL (one and two orders replicas) against SQLite (one), the real mains as users run them" },
];

const { values: args } = parseArgs({ options: { only: { type: "string" } } });
const only = args.only?.split(",").map((s) => s.trim());
const selected = only === undefined ? benches : benches.filter((b) => only.includes(b.name));
if (selected.length === 0) {
  console.error(`--only takes some of ${benches.map((b) => b.name).join(", ")}`);
  process.exit(2);
}

const started = new Date();
const loadAtStart = loadavg();
const sections = new Map<string, string>();
let failed: string[] = [];
for (const bench of selected) {
  console.log(`\n=== bench/${bench.name}.ts ===`);
  const begin = Date.now();
  const { code, output } = await run(join(root, "bench", `${bench.name}.ts`));
  const minutes = (Date.now() - begin) / 60_000;
  if (code !== 0) {
    failed = [...failed, bench.name];
  }
  sections.set(
    bench.name,
    [
      `## bench/${bench.name}.ts`,
      "",
      `${bench.about}. Run ${new Date(begin).toISOString()}, took ${fmt(minutes, 1)} min${code === 0 ? "" : `; **exited with ${code}**`}.`,
      "",
      asMarkdown(output),
    ].join("\n"),
  );
}
const totalMinutes = (Date.now() - started.getTime()) / 60_000;

const previous = existsSync(resultsFile) ? readFileSync(resultsFile, "utf8") : "";
const carried = [...previous.matchAll(carriedBlock)].map((m) => m[0]);
// The sections this run did not replace, as the file had them.
const kept = new Map<string, string>();
const withoutCarried = previous.replace(carriedBlock, "");
for (const bench of benches) {
  const start = withoutCarried.indexOf(`## bench/${bench.name}.ts\n`);
  if (start < 0 || sections.has(bench.name)) {
    continue;
  }
  const next = withoutCarried.indexOf("\n## ", start + 1);
  kept.set(bench.name, withoutCarried.slice(start, next < 0 ? undefined : next).trimEnd() + "\n");
}
const ordered = benches.map((b) => sections.get(b.name) ?? kept.get(b.name)).filter((s): s is string => s !== undefined);
const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).stdout.trim();
const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8" }).stdout.trim() !== "";
const header = [
  "# Benchmark results",
  "",
  "Written by `make bench` (bench/run-all.ts) from the benchmarks' own output; run it again to",
  "replace everything below except the blocks written by hand (\"before\", \"notes\": each says",
  "when and how it was measured). Every benchmark compares rows measured",
  "in the same run: read the ratios, not the absolute figures, which move with the machine and",
  "its load (the spread between rounds is printed where a benchmark has rounds).",
  "",
  `- command: \`make bench\`${only === undefined ? "" : ` (\`node --import tsx bench/run-all.ts --only ${only.join(",")}\`)`}`,
  `- date: ${started.toISOString()}`,
  `- machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${availableParallelism()} cores, Linux ${release()}; load average at start ${loadAtStart.map((l) => fmt(l, 2)).join(", ")}`,
  `- Node ${process.version}; commit ${commit}${dirty ? " with local changes" : ""}`,
  `- took ${fmt(totalMinutes, 1)} min in all${kept.size === 0 ? "" : `; the sections of ${[...kept.keys()].join(", ")} are from an earlier run (its date in each)`}`,
  "",
].join("\n");
writeFileSync(resultsFile, [header, ...ordered, ...carried].join("\n") + "\n");
console.log(`\nbench/RESULTS.md written (${fmt(totalMinutes, 1)} min)`);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exitCode = 1;
}

/** Runs a benchmark with node --import tsx, its output shown and kept. */
function run(script: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (stream: NodeJS.WriteStream) => (chunk: Buffer): void => {
      stream.write(chunk);
      output += chunk.toString();
    };
    child.stdout.on("data", keep(process.stdout));
    child.stderr.on("data", keep(process.stderr));
    child.once("exit", (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), output }));
  });
}

/** Table lines as they are (markdown), every other run of lines in a text block; absolute paths made relative. */
function asMarkdown(output: string): string {
  const lines = output.replaceAll(`${root}/`, "").split("\n");
  const out: string[] = [];
  let text: string[] = [];
  const flush = (): void => {
    while (text.length > 0 && text[text.length - 1]!.trim() === "") {
      text.pop();
    }
    if (text.length > 0) {
      out.push("```text", ...text, "```", "");
    }
    text = [];
  };
  for (const line of lines) {
    if (line.startsWith("|")) {
      flush();
      out.push(line);
    } else {
      if (out.length > 0 && out[out.length - 1]!.startsWith("|")) {
        out.push("");
      }
      if (text.length > 0 || line.trim() !== "") {
        text.push(line);
      }
    }
  }
  flush();
  return out.join("\n");
}
