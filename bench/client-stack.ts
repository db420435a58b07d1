// What the mesh's client stub costs a caller: raw connect-node and grpc-js
// clients against the mesh stub layer by layer (deadline, breaker, retry,
// bulkhead, the full ClientFactory with its balancer) on both transports, in
// one run, plus a failure storm.
//
//   npx tsx bench/client-stack.ts [--seq-calls 3000] [--calls 20000] [--concurrency 64]
//                                 [--rounds 3] [--warmup 2000] [--storm-seq-calls 2000]
//                                 [--storm-calls 10000] [--only id,id] [--time-limit-s 720]
//
// Servers run in child processes (bench/support/serving-target.ts) pinned to
// core 0: Meshwork serve() (a leaf service), a @grpc/grpc-js Server and a raw
// node:http2 server with a canned answer (the ceiling). The clients run here,
// pinned to core 1, one connection per client. Per row and round: p50 and p99
// of `seq-calls` sequential calls (concurrency 1), then calls/s over `calls`
// calls with `concurrency` in flight, with this process's CPU per call
// (process.cpuUsage) and the server's (asked over IPC). Rows are interleaved
// within each round; figures are medians over rounds, ratios medians of
// per-round ratios (both sides measured seconds apart). Every call has a 5 s
// deadline: raw clients pass it per call, the mesh stub gives it itself.
//
// The failure storm: the server fails half of the calls for SKU STORM-1 with
// Unavailable (bench/support/storm.ts). GetItem is NO_SIDE_EFFECTS, so the mesh stub retries within its
// budget, and its breaker may open; each storm measurement gets a fresh stub so
// that breaker and budget state does not leak between them. Results also go
// to bench/results/client-stack.json (not with --only, which is for profiling
// a row: node --cpu-prof --import tsx bench/client-stack.ts --only connect-full).
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { availableParallelism, cpus, release } from "node:os";
import { parseArgs } from "node:util";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory, type TransportKind } from "../mesh/client/client-factory.js";
import { createGrpcJsTransport } from "../mesh/client/grpc-js-transport.js";
import { withInterceptors } from "../mesh/client/intercepted-transport.js";
import { bulkheadInterceptor } from "../mesh/resilience/bulkhead.js";
import { circuitBreakerInterceptor } from "../mesh/resilience/circuit-breaker.js";
import { deadlineInterceptor } from "../mesh/resilience/deadline.js";
import type { ResilienceEvents } from "../mesh/resilience/resilience-events.js";
import { retryInterceptor } from "../mesh/resilience/retry.js";
import { createGrpcJsClient } from "../test/support/grpc-js-client.js";
import { fail, positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { percentile } from "./support/percentile.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { benchCommand, packageVersion, writeResults } from "./support/results-file.js";
import { limitRun } from "./support/run-limit.js";
import { stormSku } from "./support/storm.js";
import { TargetProcess } from "./support/target-process.js";

const { values: args } = parseArgs({
  options: {
    "seq-calls": { type: "string", default: "3000" },
    calls: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "2000" },
    "storm-seq-calls": { type: "string", default: "2000" },
    "storm-calls": { type: "string", default: "10000" },
    only: { type: "string" },
    "time-limit-s": { type: "string", default: "720" },
  },
});
const settings = {
  sequentialCalls: positive("seq-calls", args["seq-calls"], 1_000_000),
  concurrentCalls: positive("calls", args.calls, 1_000_000),
  concurrency: positive("concurrency", args.concurrency, 1_000),
  rounds: positive("rounds", args.rounds, 20),
  warmupCalls: positive("warmup", args.warmup, 1_000_000),
  stormSequentialCalls: positive("storm-seq-calls", args["storm-seq-calls"], 1_000_000),
  stormConcurrentCalls: positive("storm-calls", args["storm-calls"], 1_000_000),
  /** Every call's deadline: the raw clients' per-call one, the stub's default. */
  deadlineMs: 5_000,
  /** The whole run; a round that would not fit is left out, past it the run is killed. */
  timeLimitMs: positive("time-limit-s", args["time-limit-s"], 3_600) * 1_000,
};

const sku = "MUG-001";
type ServerKind = "mesh" | "grpc-js" | "raw";
const serverLabels: Record<ServerKind, string> = {
  mesh: "Meshwork serve()",
  "grpc-js": "grpc-js Server",
  raw: "raw http2 (canned)",
};

/** One client under test; `call` rejects when the call fails. */
interface Stub {
  call(sku: string): Promise<unknown>;
  close(): void;
  /** The mesh stub's resilience events, when it is a ClientFactory. */
  readonly events?: ResilienceEvents;
}

interface RowSpec {
  readonly id: string;
  readonly label: string;
  readonly server: ServerKind;
  /** Full-stub rows are checked against the targets. */
  readonly full?: boolean;
  make(address: string): Stub;
}

type Layer = "deadline" | "breaker" | "retry" | "bulkhead";
const layerOrder: readonly Layer[] = ["deadline", "breaker", "retry", "bulkhead"];
const layerLabels: Record<Layer, string> = {
  deadline: "deadline only",
  breaker: "+ breaker",
  retry: "+ retry",
  bulkhead: "+ bulkhead",
};

/** A grpc-js channel with a connection of its own, not shared through the global subchannel pool. */
const ownConnection = { "grpc.use_local_subchannel_pool": 1 };

const rows: readonly RowSpec[] = [
  { id: "connect", label: "connect-node gRPC client", server: "mesh", make: rawConnect },
  { id: "grpc-js", label: "@grpc/grpc-js client", server: "mesh", make: rawGrpcJs },
  { id: "grpc-js@grpc-js", label: "@grpc/grpc-js client (fastest raw reference)", server: "grpc-js", make: rawGrpcJs },
  { id: "grpc-js@raw", label: "@grpc/grpc-js client (ceiling)", server: "raw", make: rawGrpcJs },
  ...layerOrder.map((layer, i) => ({
    id: `connect+${layer}`,
    label: `mesh stub on connect gRPC: ${layerLabels[layer]}`,
    server: "mesh" as const,
    make: (address: string) => partialStub(address, "grpc", i + 1),
  })),
  { id: "connect-full", label: "mesh stub, default \"grpc\" transport (h2 unary): full ClientFactory", server: "mesh", full: true, make: (a) => meshStub(a, "grpc") },
  ...layerOrder.map((layer, i) => ({
    id: `grpc-js-transport+${layer}`,
    label: `mesh stub on grpc-js: ${layerLabels[layer]}`,
    server: "mesh" as const,
    make: (address: string) => partialStub(address, "grpc-js", i + 1),
  })),
  { id: "grpc-js-full", label: "mesh stub on grpc-js: full ClientFactory", server: "mesh", full: true, make: (a) => meshStub(a, "grpc-js") },
];

/** Storm rows, all against the Meshwork server; made afresh for every measurement. */
const stormRows: readonly RowSpec[] = [
  { id: "storm-grpc-js", label: "@grpc/grpc-js client (no retries)", server: "mesh", make: rawGrpcJs },
  { id: "storm-connect-full", label: "mesh stub, default \"grpc\" transport (h2 unary): full ClientFactory", server: "mesh", full: true, make: (a) => meshStub(a, "grpc") },
  { id: "storm-grpc-js-full", label: "mesh stub on grpc-js: full ClientFactory", server: "mesh", full: true, make: (a) => meshStub(a, "grpc-js") },
  {
    id: "storm-connect-full-noretry",
    label: "diagnostic: default \"grpc\" transport full ClientFactory, retry: false",
    server: "mesh",
    make: (a) => meshStub(a, "grpc", { retry: false }),
  },
  {
    id: "storm-grpc-js-full-noretry",
    label: "diagnostic: grpc-js full ClientFactory, retry: false",
    server: "mesh",
    make: (a) => meshStub(a, "grpc-js", { retry: false }),
  },
];

function rawConnect(address: string): Stub {
  const client = createClient(InventoryService, createGrpcTransport({ baseUrl: `http://${address}` }));
  return {
    call: (s) => client.getItem({ sku: s }, { timeoutMs: settings.deadlineMs }),
    // The transport's session manager closes its idle session on its own.
    close: () => undefined,
  };
}

function rawGrpcJs(address: string): Stub {
  const client = createGrpcJsClient(InventoryService, address, ownConnection);
  return {
    call: (s) => client.getItem({ sku: s }, undefined, { deadlineMs: settings.deadlineMs }),
    close: () => client.close(),
  };
}

/** The first `depth` interceptors of the ClientFactory chain around one endpoint transport. */
function partialStub(address: string, transport: "grpc" | "grpc-js", depth: number): Stub {
  const name = `bench-${transport}-${depth}`;
  const chain: Interceptor[] = [deadlineInterceptor({ defaultTimeoutMs: settings.deadlineMs })];
  if (depth >= 2) chain.push(circuitBreakerInterceptor({ target: name }));
  if (depth >= 3) chain.push(retryInterceptor({ target: name }));
  if (depth >= 4) chain.push(bulkheadInterceptor({ target: name, maxConcurrent: 64 }));
  const baseUrl = `http://${address}`;
  let inner: Transport;
  let close: () => void = () => undefined;
  if (transport === "grpc") {
    inner = createGrpcTransport({ baseUrl });
  } else {
    const grpcJs = createGrpcJsTransport({ address, channelOptions: ownConnection });
    inner = grpcJs;
    close = () => grpcJs.close();
  }
  const client = createClient(InventoryService, withInterceptors(inner, chain, baseUrl));
  return { call: (s) => client.getItem({ sku: s }), close };
}

/** The real thing: a ClientFactory client, as services get it. */
function meshStub(address: string, transport: TransportKind, extra: { retry?: false } = {}): Stub {
  const factory = new ClientFactory();
  const client = factory.client(InventoryService, {
    endpoints: `http://${address}`,
    transport,
    timeouts: { defaultTimeoutMs: settings.deadlineMs },
    ...extra,
  });
  return { call: (s) => client.getItem({ sku: s }), close: () => factory.close(), events: factory.events };
}

interface Round {
  p50Us: number;
  p99Us: number;
  callsPerSec: number;
  clientCpuUsPerCall: number;
  serverCpuUsPerCall: number;
  failures: number;
}

interface StormRound {
  p50Us: number;
  p99Us: number;
  /** Share of the sequential calls that succeeded. */
  sequentialSuccess: number;
  callsPerSec: number;
  /** Share of the concurrent calls that succeeded. */
  concurrentSuccess: number;
  clientCpuUsPerCall: number;
  /** Resilience events over both phases (mesh stubs only). */
  retries: number;
  budgetExhausted: number;
  breakerOpened: number;
  breakerRejected: number;
}

const only = args.only === undefined ? undefined : new Set(args.only.split(",").map((s) => s.trim()));
const selectedRows = rows.filter((r) => only === undefined || only.has(r.id));
const selectedStorm = stormRows.filter((r) => only === undefined || only.has(r.id));
if (only !== undefined) {
  const known = new Set([...rows, ...stormRows].map((r) => r.id));
  const unknown = [...only].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    fail(`--only: unknown row(s) ${unknown.join(", ")}; rows: ${[...known].join(", ")}`);
  }
}

const pinned = canPin();
const servers = new Map<ServerKind, TargetProcess>();
const stubs = new Map<string, Stub>();
const startedAt = performance.now();

const clearLimit = limitRun({
  cleanup: () => {
    for (const server of servers.values()) {
      server.process.kill("SIGKILL");
    }
  },
  limitMs: settings.timeLimitMs,
  graceMs: 60_000,
});

let exitCode = 0;
try {
  const pinFailure = pinned ? pinSelf(1) : undefined;
  if (pinFailure !== undefined) {
    fail(`taskset on the client process failed: ${pinFailure}`);
  }
  console.log(
    `${settings.rounds} rounds; per row: ${settings.sequentialCalls} sequential calls, ` +
      `${settings.concurrentCalls} calls at ${settings.concurrency} in flight (warm-up ${settings.warmupCalls}); ` +
      `storm: ${settings.stormSequentialCalls} sequential, ${settings.stormConcurrentCalls} at ${settings.concurrency}; ` +
      (pinned ? "servers on core 0, clients on core 1" : notPinnedNote),
  );

  const needed = new Set<ServerKind>([...selectedRows, ...selectedStorm].map((r) => r.server));
  for (const kind of needed) {
    servers.set(kind, TargetProcess.start(kind, pinned ? { core: 0 } : {}));
  }
  for (const server of servers.values()) {
    await server.ready(60_000);
  }
  const addressOf = (kind: ServerKind): string => `127.0.0.1:${servers.get(kind)!.port}`;

  for (const row of selectedRows) {
    const stub = row.make(addressOf(row.server));
    stubs.set(row.id, stub);
    await stub.call(sku); // fails the run on a wrong setup
    await runCalls(stub, sku, Math.min(300, settings.warmupCalls), 1);
    await runCalls(stub, sku, settings.warmupCalls, settings.concurrency);
  }
  for (const row of selectedStorm) {
    // Warms the code paths (the stubs are made afresh per measurement) and checks the storm.
    const stub = row.make(addressOf(row.server));
    await runCalls(stub, sku, Math.min(300, settings.warmupCalls), 1);
    const { failures } = await runCalls(stub, stormSku, 100, 1);
    stub.close();
    if (failures === 0 && !row.id.includes("full")) {
      throw new Error(`${row.id}: the storm SKU did not fail; is serving-target.ts up to date?`);
    }
  }

  const results = new Map<string, Round[]>(selectedRows.map((r) => [r.id, []]));
  const stormResults = new Map<string, StormRound[]>(selectedStorm.map((r) => [r.id, []]));
  let roundMs = 0;
  let roundsRun = 0;
  for (let r = 0; r < settings.rounds; r++) {
    const elapsed = performance.now() - startedAt;
    if (r > 0 && elapsed + roundMs > settings.timeLimitMs) {
      console.log(`  time limit: stopping after ${r} round(s)`);
      break;
    }
    const roundStart = performance.now();
    for (const row of selectedRows) {
      const round = await measure(stubs.get(row.id)!, servers.get(row.server)!);
      results.get(row.id)!.push(round);
      console.log(
        `  round ${r + 1} ${row.id.padEnd(26)} p50 ${fmt(round.p50Us, 0)} µs, p99 ${fmt(round.p99Us, 0)} µs, ` +
          `${fmt(round.callsPerSec, 0)} calls/s, client ${fmt(round.clientCpuUsPerCall, 1)} µs/call, ` +
          `server ${fmt(round.serverCpuUsPerCall, 1)} µs/call${round.failures > 0 ? `, ${round.failures} FAILED` : ""}`,
      );
    }
    for (const row of selectedStorm) {
      const round = await measureStorm(row, addressOf(row.server));
      stormResults.get(row.id)!.push(round);
      console.log(
        `  round ${r + 1} ${row.id.padEnd(26)} p50 ${fmt(round.p50Us, 0)} µs, p99 ${fmt(round.p99Us, 0)} µs ` +
          `(${pct(round.sequentialSuccess)} ok), ${fmt(round.callsPerSec, 0)} calls/s (${pct(round.concurrentSuccess)} ok), ` +
          `retries ${round.retries}, budget out ${round.budgetExhausted}, breaker opened ${round.breakerOpened}, rejected ${round.breakerRejected}`,
      );
    }
    roundMs = performance.now() - roundStart;
    roundsRun++;
  }

  report(results, stormResults, roundsRun);
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  for (const stub of stubs.values()) {
    stub.close();
  }
  await Promise.all([...servers.values()].map((server) => server.stop()));
  clearLimit();
}
// Explicitly, so that --cpu-prof writes its profile even if a session lingers.
process.exit(exitCode);

async function measure(stub: Stub, server: TargetProcess): Promise<Round> {
  const latencies = new Float64Array(settings.sequentialCalls);
  const sequential = await runCalls(stub, sku, settings.sequentialCalls, 1, latencies);
  latencies.sort();

  const serverBefore = await server.cpu();
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  const concurrent = await runCalls(stub, sku, settings.concurrentCalls, settings.concurrency);
  const wallMs = performance.now() - start;
  const client = process.cpuUsage(clientBefore);
  const serverUs = (await server.cpu()) - serverBefore;
  return {
    p50Us: percentile(latencies, 0.5) * 1000,
    p99Us: percentile(latencies, 0.99) * 1000,
    callsPerSec: (settings.concurrentCalls / wallMs) * 1000,
    clientCpuUsPerCall: (client.user + client.system) / settings.concurrentCalls,
    serverCpuUsPerCall: serverUs / settings.concurrentCalls,
    failures: sequential.failures + concurrent.failures,
  };
}

/** Both storm phases, each with a stub of its own, so that breaker and budget start closed and full. */
async function measureStorm(row: RowSpec, address: string): Promise<StormRound> {
  const counts = { retries: 0, budgetExhausted: 0, breakerOpened: 0, breakerRejected: 0 };
  const fresh = async (): Promise<Stub> => {
    const stub = row.make(address);
    stub.events?.on("retry", () => counts.retries++);
    stub.events?.on("retryBudgetExhausted", () => counts.budgetExhausted++);
    stub.events?.on("breakerStateChange", ({ to }) => to === "open" && counts.breakerOpened++);
    stub.events?.on("breakerRejected", () => counts.breakerRejected++);
    await runCalls(stub, sku, 20, 1); // connects
    return stub;
  };

  const latencies = new Float64Array(settings.stormSequentialCalls);
  let stub = await fresh();
  const sequential = await runCalls(stub, stormSku, settings.stormSequentialCalls, 1, latencies);
  stub.close();
  latencies.sort();

  stub = await fresh();
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  const concurrent = await runCalls(stub, stormSku, settings.stormConcurrentCalls, settings.concurrency);
  const wallMs = performance.now() - start;
  const client = process.cpuUsage(clientBefore);
  stub.close();
  return {
    p50Us: percentile(latencies, 0.5) * 1000,
    p99Us: percentile(latencies, 0.99) * 1000,
    sequentialSuccess: 1 - sequential.failures / settings.stormSequentialCalls,
    callsPerSec: (settings.stormConcurrentCalls / wallMs) * 1000,
    concurrentSuccess: 1 - concurrent.failures / settings.stormConcurrentCalls,
    clientCpuUsPerCall: (client.user + client.system) / settings.stormConcurrentCalls,
    ...counts,
  };
}

/** `total` calls, `concurrency` in flight; latencies (ms, failed calls included) if asked. */
async function runCalls(
  stub: Stub,
  callSku: string,
  total: number,
  concurrency: number,
  latencies?: Float64Array,
): Promise<{ failures: number; firstError?: unknown }> {
  let next = 0;
  let failures = 0;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const start = performance.now();
      try {
        await stub.call(callSku);
      } catch (e) {
        failures++;
        firstError ??= e;
      }
      if (latencies !== undefined) {
        latencies[i] = performance.now() - start;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { failures, firstError };
}

interface Summary {
  id: string;
  label: string;
  server: ServerKind;
  full: boolean;
  p50Us: number;
  p99Us: number;
  callsPerSec: number;
  clientCpuUsPerCall: number;
  serverCpuUsPerCall: number;
  failures: number;
  /** Medians of per-round ratios; undefined when the baseline row was not run. */
  throughputVsFastestRaw: number | undefined;
  throughputVsRawGrpcJsSameServer: number | undefined;
  p50VsRawGrpcJsSameServer: number | undefined;
  p99VsRawGrpcJsSameServer: number | undefined;
  rounds: Round[];
}

interface Target {
  row: string;
  metric: string;
  baseline: string;
  target: string;
  value: number | undefined;
  pass: boolean | undefined;
}

function report(results: Map<string, Round[]>, stormResults: Map<string, StormRound[]>, roundsRun: number): void {
  const rawOn: Record<ServerKind, string> = { mesh: "grpc-js", "grpc-js": "grpc-js@grpc-js", raw: "grpc-js@raw" };
  const fastest = results.get("grpc-js@grpc-js");
  /** The median of per-round ratios to `base`; undefined when the baseline row was not run (or not as often). */
  const ratio = <R>(list: R[], base: R[] | undefined, pick: (r: R) => number): number | undefined =>
    base === undefined || base.length !== list.length ? undefined : medianOf(list.map((r, i) => pick(r) / pick(base[i]!)));

  const summary: Summary[] = selectedRows.map((row) => {
    const list = results.get(row.id)!;
    const same = results.get(rawOn[row.server]);
    const median = (pick: (r: Round) => number): number => medianOf(list.map(pick));
    return {
      id: row.id,
      label: row.label,
      server: row.server,
      full: row.full === true,
      p50Us: median((r) => r.p50Us),
      p99Us: median((r) => r.p99Us),
      callsPerSec: median((r) => r.callsPerSec),
      clientCpuUsPerCall: median((r) => r.clientCpuUsPerCall),
      serverCpuUsPerCall: median((r) => r.serverCpuUsPerCall),
      failures: list.reduce((n, r) => n + r.failures, 0),
      throughputVsFastestRaw: ratio(list, fastest, (r) => r.callsPerSec),
      throughputVsRawGrpcJsSameServer: ratio(list, same, (r) => r.callsPerSec),
      p50VsRawGrpcJsSameServer: ratio(list, same, (r) => r.p50Us),
      p99VsRawGrpcJsSameServer: ratio(list, same, (r) => r.p99Us),
      rounds: list,
    };
  });

  const rawStorm = stormResults.get("storm-grpc-js");
  const stormSummary = selectedStorm.map((row) => {
    const list = stormResults.get(row.id)!;
    const median = (pick: (r: StormRound) => number): number => medianOf(list.map(pick));
    return {
      id: row.id,
      label: row.label,
      full: row.full === true,
      p50Us: median((r) => r.p50Us),
      p99Us: median((r) => r.p99Us),
      sequentialSuccess: median((r) => r.sequentialSuccess),
      callsPerSec: median((r) => r.callsPerSec),
      concurrentSuccess: median((r) => r.concurrentSuccess),
      clientCpuUsPerCall: median((r) => r.clientCpuUsPerCall),
      p99VsRawGrpcJs: ratio(list, rawStorm, (r) => r.p99Us),
      throughputVsRawGrpcJs: ratio(list, rawStorm, (r) => r.callsPerSec),
      retries: median((r) => r.retries),
      budgetExhausted: median((r) => r.budgetExhausted),
      breakerOpened: median((r) => r.breakerOpened),
      breakerRejected: median((r) => r.breakerRejected),
      rounds: list,
    };
  });

  const targets: Target[] = [];
  const check = (row: string, metric: string, baseline: string, target: string, value: number | undefined, ok: (v: number) => boolean) =>
    targets.push({ row, metric, baseline, target, value, pass: value === undefined ? undefined : ok(value) });
  for (const s of summary.filter((s) => s.full)) {
    check(s.id, "calls/s at 64", "raw grpc-js -> grpc-js Server (issue's reference)", ">= 0.90", s.throughputVsFastestRaw, (v) => v >= 0.9);
    check(s.id, "calls/s at 64", "raw grpc-js -> Meshwork (same server)", ">= 0.90", s.throughputVsRawGrpcJsSameServer, (v) => v >= 0.9);
    check(s.id, "p50 at 1", "raw grpc-js -> Meshwork", "<= 1.10x", s.p50VsRawGrpcJsSameServer, (v) => v <= 1.1);
    check(s.id, "p99 at 1", "raw grpc-js -> Meshwork", "<= 1.25x", s.p99VsRawGrpcJsSameServer, (v) => v <= 1.25);
  }
  for (const s of stormSummary.filter((s) => s.full)) {
    check(s.id, "storm p99 at 1", "raw grpc-js -> Meshwork, storm", "<= 1.5x", s.p99VsRawGrpcJs, (v) => v <= 1.5);
  }

  const na = (v: number | undefined, digits = 2, suffix = ""): string => (v === undefined ? "–" : `${fmt(v, digits)}${suffix}`);
  console.log();
  console.log(`Medians of ${roundsRun} round(s); ratios are medians of per-round ratios.`);
  console.log();
  console.log(
    "| row | client | server | p50 µs | p99 µs | p50 vs raw grpc-js | p99 vs raw grpc-js | calls/s at 64 | vs fastest raw | vs raw grpc-js same server | client CPU µs/call | server CPU µs/call | failed |",
  );
  console.log("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const s of summary) {
    console.log(
      `| ${s.id} | ${s.label} | ${serverLabels[s.server]} | ${fmt(s.p50Us, 0)} | ${fmt(s.p99Us, 0)} | ` +
        `${na(s.p50VsRawGrpcJsSameServer, 2, "x")} | ${na(s.p99VsRawGrpcJsSameServer, 2, "x")} | ${fmt(s.callsPerSec, 0)} | ` +
        `${na(s.throughputVsFastestRaw)} | ${na(s.throughputVsRawGrpcJsSameServer)} | ${fmt(s.clientCpuUsPerCall, 1)} | ` +
        `${fmt(s.serverCpuUsPerCall, 1)} | ${s.failures} |`,
    );
  }
  if (stormSummary.length > 0) {
    console.log();
    console.log(`Failure storm (Meshwork server fails half of the ${stormSku} calls with Unavailable):`);
    console.log();
    console.log(
      "| row | client | p50 µs | p99 µs | p99 vs raw grpc-js | ok at 1 | calls/s at 64 | vs raw grpc-js | ok at 64 | client CPU µs/call | retries | budget out | breaker opened | breaker rejected |",
    );
    console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const s of stormSummary) {
      console.log(
        `| ${s.id} | ${s.label} | ${fmt(s.p50Us, 0)} | ${fmt(s.p99Us, 0)} | ${na(s.p99VsRawGrpcJs, 2, "x")} | ` +
          `${pct(s.sequentialSuccess)} | ${fmt(s.callsPerSec, 0)} | ${na(s.throughputVsRawGrpcJs)} | ${pct(s.concurrentSuccess)} | ` +
          `${fmt(s.clientCpuUsPerCall, 1)} | ${fmt(s.retries, 0)} | ${fmt(s.budgetExhausted, 0)} | ${fmt(s.breakerOpened, 0)} | ${fmt(s.breakerRejected, 0)} |`,
      );
    }
  }
  if (targets.length > 0) {
    console.log();
    console.log("Targets (full stub):");
    console.log();
    console.log("| row | metric | against | target | measured | |");
    console.log("|---|---|---|---|---:|---|");
    for (const t of targets) {
      const verdict = t.pass === undefined ? "–" : t.pass ? "PASS" : "MISS";
      const value = t.metric.startsWith("calls") ? na(t.value) : na(t.value, 2, "x");
      console.log(`| ${t.row} | ${t.metric} | ${t.baseline} | ${t.target} | ${value} | ${verdict} |`);
    }
  }

  if (only !== undefined) {
    console.log("\n--only: results not written");
    return;
  }
  writeResults("client-stack", {
    date: new Date().toISOString(),
    command: benchCommand(import.meta.url),
    argv: process.argv,
    execArgv: process.execArgv,
    node: process.version,
    versions: Object.fromEntries(
      ["@connectrpc/connect", "@connectrpc/connect-node", "@grpc/grpc-js", "@bufbuild/protobuf", "opossum"].map((name) => [
        name,
        packageVersion(name),
      ]),
    ),
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), kernel: release() },
    pinned,
    settings,
    roundsRun,
    results: summary,
    storm: stormSummary,
    targets,
  });
}

function pct(share: number): string {
  return `${fmt(share * 100, 1)}%`;
}
