// Server CPU per unary gRPC call: Meshwork serve() against connect-node's own
// gRPC path, a @grpc/grpc-js Server and a raw node:http2 floor, in one run.
//
//   npx tsx bench/grpc-serving.ts [--calls 20000] [--warmup 2000] [--rounds 3]
//                                 [--concurrency 64] [--channels 4] [--cpu-prof mesh]
//
// Every server runs in its own child process (bench/support/serving-target.ts)
// pinned to core 0; this process, the grpc-js load generator, pins itself to
// core 1. A server's CPU per call is its process.cpuUsage() delta (user +
// system, all threads) over a round's calls divided by their number. Rounds
// run the servers in turn, so that drift in the machine hits them alike;
// figures are medians over rounds. Compare ratios within one run only: the
// spread between runs on a shared VM is large. Results also go to
// bench/results/grpc-serving.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { createGrpcJsClient, type GrpcJsCallError, type GrpcJsClient } from "../test/support/grpc-js-client.js";
import { fail, positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { percentile } from "./support/percentile.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { limitRun } from "./support/run-limit.js";
import type { TargetKind } from "./support/serving-target.js";
import { TargetProcess } from "./support/target-process.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const resultsDir = join(root, "bench", "results");

const targets: readonly { kind: TargetKind; row: string; label: string }[] = [
  { kind: "mesh", row: "a", label: "Meshwork serve(), gRPC fast path (leaf service)" },
  { kind: "mesh-propagating", row: "a'", label: "Meshwork serve(), gRPC fast path, deadline propagation on" },
  {
    kind: "mesh-production",
    row: "a+",
    label: "Meshwork serve() as serviceRuntime sets it up (production: info logs to a pipe, metrics, tracing wiring, no exporter)",
  },
  { kind: "connect", row: "b", label: "connect-node, gRPC" },
  { kind: "grpc-js", row: "c", label: "@grpc/grpc-js Server" },
  { kind: "raw", row: "d", label: "raw node:http2 stream, canned" },
];

const { values: args } = parseArgs({
  options: {
    calls: { type: "string", default: "20000" },
    warmup: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    channels: { type: "string", default: "4" },
    "cpu-prof": { type: "string" },
  },
});
const settings = {
  callsPerRound: positive("calls", args.calls, 1_000_000),
  warmupCalls: positive("warmup", args.warmup, 1_000_000),
  rounds: positive("rounds", args.rounds, 20),
  concurrency: positive("concurrency", args.concurrency, 1_000),
  channels: positive("channels", args.channels, 64),
  /** Per call: a stuck server fails the run instead of hanging it. */
  deadlineMs: 10_000,
  /** For the whole run. */
  timeLimitMs: 10 * 60_000,
};
const profiled = args["cpu-prof"];
if (profiled !== undefined && !targets.some((t) => t.kind === profiled)) {
  fail(`--cpu-prof takes one of ${targets.map((t) => t.kind).join(", ")}`);
}

const request = { sku: "MUG-001" };

interface Round {
  callsPerSec: number;
  serverCpuUsPerCall: number;
  /** Share of one core the server used during the round. */
  serverBusy: number;
  clientCpuUsPerCall: number;
  p50Ms: number;
  p99Ms: number;
}

const pinned = canPin();
const started: TargetProcess[] = [];
let clients: GrpcJsClient<typeof InventoryService>[] = [];

const clearLimit = limitRun({
  cleanup: () => {
    for (const target of started) {
      target.process.kill("SIGKILL");
    }
  },
  limitMs: settings.timeLimitMs,
});

try {
  const pinFailure = pinned ? pinSelf(1) : undefined;
  if (pinFailure !== undefined) {
    fail(`taskset on the load generator failed: ${pinFailure}`);
  }
  console.log(
    `${settings.rounds} rounds x ${settings.callsPerRound} calls (warm-up ${settings.warmupCalls}), ` +
      `${settings.concurrency} in flight over ${settings.channels} channels; ` +
      (pinned ? "servers on core 0, load on core 1" : notPinnedNote),
  );

  for (const { kind } of targets) {
    started.push(
      TargetProcess.start(kind, {
        ...(pinned ? { core: 0 } : {}),
        ...(profiled === kind ? { nodeArgs: ["--cpu-prof", "--cpu-prof-dir", join(resultsDir, "profiles")] } : {}),
      }),
    );
  }
  for (const target of started) {
    await target.ready(180_000);
  }

  const channelsOf = new Map<TargetKind, GrpcJsClient<typeof InventoryService>[]>();
  for (const target of started) {
    const channels = Array.from({ length: settings.channels }, () =>
      // A subchannel pool of its own: one connection per client.
      createGrpcJsClient(InventoryService, `127.0.0.1:${target.port}`, { "grpc.use_local_subchannel_pool": 1 }),
    );
    clients = clients.concat(channels);
    channelsOf.set(target.kind, channels);
    await checkAnswers(target.kind, channels[0]!);
    await runCalls(channels, settings.warmupCalls);
  }

  const rounds = new Map<TargetKind, Round[]>(targets.map(({ kind }) => [kind, []]));
  for (let r = 0; r < settings.rounds; r++) {
    for (const target of started) {
      const round = await measureRound(target, channelsOf.get(target.kind)!);
      rounds.get(target.kind)!.push(round);
      console.log(
        `  round ${r + 1} ${target.kind.padEnd(7)} ${fmt(round.callsPerSec, 0)} calls/s, ` +
          `server ${fmt(round.serverCpuUsPerCall, 1)} µs/call (${fmt(round.serverBusy * 100, 0)}% of a core)`,
      );
    }
  }

  report(rounds);
} finally {
  for (const client of clients) {
    client.close();
  }
  await Promise.all(started.map((target) => target.stop()));
  clearLimit();
}

/** Fails the run unless the server answers like the implementation (and, for Meshwork, validates). */
async function checkAnswers(kind: TargetKind, client: GrpcJsClient<typeof InventoryService>): Promise<void> {
  const response = await client.getItem(request, {}, { deadlineMs: settings.deadlineMs });
  if (response.item?.sku !== request.sku || response.item.priceMinor !== 1299n) {
    throw new Error(`${kind}: unexpected response ${JSON.stringify(response.item, (_, v) => (typeof v === "bigint" ? `${v}` : v))}`);
  }
  if (kind.startsWith("mesh")) {
    const refused = await client.getItem({ sku: "not a sku" }, {}, { deadlineMs: settings.deadlineMs }).then(
      () => undefined,
      (err: GrpcJsCallError) => err,
    );
    if (refused?.code !== 3) {
      throw new Error(`mesh: an invalid request was not refused with InvalidArgument (${refused?.code})`);
    }
  }
}

async function measureRound(target: TargetProcess, channels: GrpcJsClient<typeof InventoryService>[]): Promise<Round> {
  const latencies = new Float64Array(settings.callsPerRound);
  const serverBefore = await target.cpu();
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  await runCalls(channels, settings.callsPerRound, latencies);
  const wallMs = performance.now() - start;
  const client = process.cpuUsage(clientBefore);
  const serverUs = (await target.cpu()) - serverBefore;
  latencies.sort();
  return {
    callsPerSec: (settings.callsPerRound / wallMs) * 1000,
    serverCpuUsPerCall: serverUs / settings.callsPerRound,
    serverBusy: serverUs / (wallMs * 1000),
    clientCpuUsPerCall: (client.user + client.system) / settings.callsPerRound,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

/** `total` calls, `concurrency` in flight, spread over the channels; latencies in ms if asked. */
async function runCalls(channels: GrpcJsClient<typeof InventoryService>[], total: number, latencies?: Float64Array): Promise<void> {
  let next = 0;
  const worker = async (client: GrpcJsClient<typeof InventoryService>): Promise<void> => {
    while (next < total) {
      const i = next++;
      const start = performance.now();
      await client.getItem(request, undefined, { deadlineMs: settings.deadlineMs });
      if (latencies !== undefined) {
        latencies[i] = performance.now() - start;
      }
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, (_, w) => worker(channels[w % channels.length]!)));
}

/**
 * Medians over rounds. CPU against grpc-js is the median of per-round ratios:
 * each pairs two servers measured seconds apart, which cancels most of the
 * drift a shared VM shows between rounds.
 */
function report(rounds: Map<TargetKind, Round[]>): void {
  const grpcJsRounds = rounds.get("grpc-js")!;
  const summary = targets.map(({ kind, row, label }) => {
    const list = rounds.get(kind)!;
    const median = (pick: (r: Round) => number): number => medianOf(list.map(pick));
    return {
      kind,
      row,
      label,
      callsPerSec: median((r) => r.callsPerSec),
      serverCpuUsPerCall: median((r) => r.serverCpuUsPerCall),
      cpuVsGrpcJs: medianOf(list.map((r, i) => r.serverCpuUsPerCall / grpcJsRounds[i]!.serverCpuUsPerCall)),
      serverBusy: median((r) => r.serverBusy),
      clientCpuUsPerCall: median((r) => r.clientCpuUsPerCall),
      p50Ms: median((r) => r.p50Ms),
      p99Ms: median((r) => r.p99Ms),
      rounds: list,
    };
  });
  const baseline = summary.find((s) => s.kind === "grpc-js")!;
  const mesh = summary.find((s) => s.kind === "mesh")!;
  const roundsNoCostlier = mesh.rounds.filter((r, i) => r.serverCpuUsPerCall <= grpcJsRounds[i]!.serverCpuUsPerCall).length;

  console.log();
  console.log("| | server | calls/s | server CPU µs/call | CPU vs (c) | server core busy | client CPU µs/call | p50 | p99 |");
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const s of summary) {
    console.log(
      `| (${s.row}) | ${s.label} | ${fmt(s.callsPerSec, 0)} | ${fmt(s.serverCpuUsPerCall, 1)} | ` +
        `${fmt(s.cpuVsGrpcJs, 2)} | ${fmt(s.serverBusy * 100, 0)}% | ${fmt(s.clientCpuUsPerCall, 1)} | ` +
        `${fmt(s.p50Ms * 1000, 0)} µs | ${fmt(s.p99Ms * 1000, 0)} µs |`,
    );
  }
  const noCostlier = mesh.cpuVsGrpcJs <= 1;
  const verdict =
    `(a) <= (c) in server CPU per call: ${noCostlier ? "YES" : "NO"} ` +
    `(ratio ${fmt(mesh.cpuVsGrpcJs, 2)}, median of ${mesh.rounds.length} rounds; ` +
    `${fmt(mesh.serverCpuUsPerCall, 1)} vs ${fmt(baseline.serverCpuUsPerCall, 1)} µs median; ` +
    `(a) <= (c) in ${roundsNoCostlier} of ${mesh.rounds.length} rounds)`;
  console.log();
  console.log(verdict);
  // The production configuration against the stripped one, per round (issue 14: within 15%).
  const production = rounds.get("mesh-production")!;
  const stripped = rounds.get("mesh")!;
  const callsRatio = medianOf(production.map((r, i) => r.callsPerSec / stripped[i]!.callsPerSec));
  const cpuRatio = medianOf(production.map((r, i) => r.serverCpuUsPerCall / stripped[i]!.serverCpuUsPerCall));
  console.log(
    `(a+) production vs (a) stripped: calls/s ${fmt(callsRatio, 2)}x, server CPU per call ${fmt(cpuRatio, 2)}x ` +
      `(medians of per-round ratios; within 15%: ${callsRatio >= 0.85 && cpuRatio <= 1.15 ? "YES" : "NO"})`,
  );

  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, "grpc-serving.json");
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: availableParallelism(),
        pinned,
        settings,
        results: summary,
        meshNoCostlierThanGrpcJs: noCostlier,
        meshRoundsNoCostlier: roundsNoCostlier,
        verdict,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
}
