// What tracing and metrics cost a call that crosses two hops: a ClientFactory
// client -> a serve() front service -> a serve() leaf service, unary GetItem,
// with four configurations in one run:
//
//   (a) no tracing, no metrics (the baseline);
//   (b) tracing, every trace sampled, spans to a no-op exporter through the
//       BatchSpanProcessor, as production exports them;
//   (c) tracing, every trace sampled out (ratio 0);
//   (d) metrics (mesh-metrics server and client interceptors,
//       observeResilience, process series as the mains turn them on), no tracing;
//   (e) tracing, every trace sampled, spans exported for real: the
//       OTLP/HTTP exporter a main gets from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
//       (tracingFromEnv, batch processor with its default settings) sending
//       to a receiver in another process (this file with --role receiver, on
//       the load generators' core), which parses each export and counts its
//       spans.
//
//   npx tsx bench/observability.ts [--rounds 3] [--calls 15000] [--concurrency 64]
//                                  [--seq-calls 2000] [--warmup 3000]
//                                  [--cpu-prof a|b|c|d|e[,...]] [--only a,b[,...]]
//                                  [--time-limit-s 900]
//
// Each configuration runs in processes of its own, so that what one turns on
// (async hooks, timers, the batch processor) costs the others nothing: the
// leaf and the front server pinned to core 0, the load generator (this file
// with --role load, a ClientFactory client) pinned to core 1, where this
// process also sits. Per round and configuration: `seq-calls` calls one at a
// time (p50/p99 at 1), then `calls` calls with `concurrency` in flight
// (calls/s, p50/p99 at 64), with the servers' CPU time (process.cpuUsage,
// asked over IPC) and the load generator's over that phase. Rounds run the
// configurations in turn (a, b, c, d, a, b, ...); ratios to (a) are medians of
// per-round ratios, other figures medians over rounds. Compare ratios within
// one run only.
//
// The run checks that it measured what it says: after the rounds the load
// generators make 200 probe calls each (SKU MUG-002, the only calls whose
// traceparent the leaf reads, so the measured calls leave header parsing to
// the configuration), then every process flushes its tracer and reports the
// spans its no-op exporter got, the leaf the probes' traceparents (and how
// many were sampled), and the metrics processes their request counters. (b)
// must have exported every span (a client and a server span per hop, 4 per
// call), (c) none while its traceparent still reaches the leaf unsampled, (a)
// and (d) none and no traceparent, (d) counters that match the calls; any
// failed call or mismatch fails the run. Results go to
// bench/results/observability.json (not with --cpu-prof, which profiles one
// configuration's servers and so slows them; the profiles are summarized and
// left in a temporary directory). Profiling two or more configurations
// (--cpu-prof a,b) prints, per configuration and server, the CPU µs per call
// each contributor took while the rounds ran (bench/support/cost-breakdown.ts
// shares of the profile times the server's measured CPU µs per call), so
// that (b) - (a) shows where tracing's cost goes. --only runs some of the
// configurations ((a) always), e.g. --only a,b to measure tracing alone in a
// shorter run; its results are not written either.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { Tracer } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  GetItemResponseSchema,
  InventoryService,
  type GetItemRequest,
  type GetItemResponse,
} from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory } from "../mesh/client/client-factory.js";
import { createLogger } from "../mesh/logger.js";
import { createMeshMetrics, type MeshMetrics } from "../mesh/metrics/mesh-metrics.js";
import { serve, type ServiceRegistration } from "../mesh/server/serve.js";
import { createTracing, tracingFromEnv, type Tracing } from "../mesh/telemetry/index.js";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fail, positive } from "./support/cli-args.js";
import { costShares } from "./support/cost-breakdown.js";
import { tracingOpTimes } from "./support/tracing-ops.js";
import { printProfileSummaries, summarizeProfile } from "./support/cpu-profile-summary.js";
import { medianOf } from "./support/median.js";
import { IpcChild } from "./support/ipc-child.js";
import { fmt } from "./support/number-format.js";
import { answerParent, hasParent } from "./support/parent-channel.js";
import { percentile } from "./support/percentile.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { benchCommand, packageVersion, writeResults } from "./support/results-file.js";
import { limitRun } from "./support/run-limit.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const thisFile = fileURLToPath(import.meta.url);
const loadAtStart = loadavg();

type ConfigId = "a" | "b" | "c" | "d" | "e";
interface Config {
  readonly id: ConfigId;
  readonly label: string;
  readonly tracing: "off" | "sampled" | "sampled-out" | "otlp";
  readonly metrics: boolean;
  /** Minimum calls/s relative to (a), from the issue; undefined for (a). */
  readonly target?: number;
}
const configs: readonly Config[] = [
  { id: "a", label: "no tracing, no metrics (baseline)", tracing: "off", metrics: false },
  { id: "b", label: "tracing, always sampled, no-op exporter (batch)", tracing: "sampled", metrics: false, target: 0.9 },
  { id: "c", label: "tracing, sampled out (ratio 0)", tracing: "sampled-out", metrics: false, target: 0.97 },
  { id: "d", label: "metrics (server + client + resilience + process), no tracing", tracing: "off", metrics: true, target: 0.95 },
  {
    id: "e",
    label: "tracing, always sampled, real OTLP/HTTP exporter to a receiver process (batch, default settings)",
    tracing: "otlp",
    metrics: false,
    target: 0.9,
  },
];
const configIds = configs.map((c) => c.id);
/** The configurations this run measures: all, or (a) and those --only names. */
let runConfigs: readonly Config[] = configs;

type Role = "leaf" | "front" | "load" | "receiver";

/** The SKU of the calls after the rounds whose traceparent the leaf counts. */
const probeSku = "MUG-002";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    calls: { type: "string", default: "15000" },
    concurrency: { type: "string", default: "64" },
    "seq-calls": { type: "string", default: "2000" },
    warmup: { type: "string", default: "3000" },
    "cpu-prof": { type: "string" },
    only: { type: "string" },
    "time-limit-s": { type: "string", default: "900" },
    // A child's part; set by the parent only.
    role: { type: "string" },
    config: { type: "string" },
    upstream: { type: "string" },
    otlp: { type: "string" },
  },
});
const settings = {
  rounds: positive("rounds", args.rounds, 20),
  concurrentCalls: positive("calls", args.calls, 1_000_000),
  concurrency: positive("concurrency", args.concurrency, 1_000),
  sequentialCalls: positive("seq-calls", args["seq-calls"], 1_000_000),
  warmupCalls: positive("warmup", args.warmup, 1_000_000),
  /** Every call's deadline (the factory's default); a stuck call fails the run. */
  deadlineMs: 5_000,
  sku: "MUG-001",
  /** Calls made after the rounds to check propagation (see `probeSku`). */
  probeCalls: 200,
  /** The whole run; a round that would not fit is left out, past it the run is killed. */
  timeLimitMs: positive("time-limit-s", args["time-limit-s"], 3_600) * 1_000,
  /**
   * The servers are the bottleneck (core 0, 2 hops, against one client hop on
   * core 1), so they should keep core 0 busy; below this share something
   * else was taking the core and that measurement's throughput says little.
   */
  saturatedBusy: 0.85,
};

/** What a child has seen, for the checks after the rounds. */
interface Counts {
  /** Spans the no-op exporter received, after a forceFlush. */
  readonly spansExported: number;
  /** Leaf only: probe calls that carried a traceparent header, and those with the sampled flag. */
  readonly traceparentCalls: number;
  readonly sampledCalls: number;
  /** With metrics: the sum of the process's request counters (server and client series). */
  readonly serverRequestsCounted: number;
  readonly clientRequestsCounted: number;
}

interface RunResult {
  readonly wallMs: number;
  readonly failures: number;
  readonly firstError?: string;
  readonly p50Us: number;
  readonly p99Us: number;
  /** The load generator's own CPU time over the calls, µs. */
  readonly cpuUs: number;
}

type ParentMessage =
  | { type: "cpu" }
  | { type: "counts" }
  | { type: "run"; calls: number; concurrency: number; sku: string }
  | { type: "stop" };
type ChildMessage =
  | { type: "ready"; port: number }
  | { type: "cpu"; us: number }
  | { type: "counts"; counts: Counts }
  | { type: "ran"; result: RunResult }
  | { type: "error"; message: string };

// ---------------------------------------------------------------- children

/** A SpanExporter that counts what it is given and reports success at once. */
class NoopExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exported += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** One process's tracing and metrics for a configuration, as a main would set them up. */
interface Observability {
  readonly tracing: Tracing | undefined;
  readonly exporter: NoopExporter;
  readonly metrics: MeshMetrics | undefined;
}

function observability(config: Config, role: Role, otlpUrl: string | undefined): Observability {
  const exporter = new NoopExporter();
  const tracing =
    config.tracing === "off"
      ? undefined
      : config.tracing === "otlp"
        ? // What a main's serviceRuntime makes of OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, nothing else set.
          tracingFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlpUrl}/v1/traces` }, `bench-${role}`)
        : createTracing({ sampleRatio: config.tracing === "sampled" ? 1 : 0, exporter, export: "batch" });
  const metrics = config.metrics ? createMeshMetrics({ collectProcess: true }) : undefined;
  return { tracing, exporter, metrics };
}

function clientFactory(o: Observability): ClientFactory {
  const tracer: Tracer | undefined = o.tracing?.tracer;
  const factory = new ClientFactory({
    ...(tracer === undefined ? {} : { tracer }),
    ...(o.metrics === undefined ? {} : { interceptors: [o.metrics.clientInterceptor()] }),
  });
  o.metrics?.observeResilience(factory.events);
  return factory;
}

/** The same ClientTarget options for both hops, whatever the configuration. */
function target(name: string, url: string) {
  return { name, endpoints: url, bulkhead: { maxConcurrent: Math.max(64, settings.concurrency) } };
}

/** An OTLP/HTTP traces receiver that parses each JSON export and counts its spans, as a collector's front would. */
async function runReceiver(): Promise<void> {
  let spans = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] };
      for (const r of body.resourceSpans ?? []) {
        for (const scope of r.scopeSpans ?? []) {
          spans += scope.spans?.length ?? 0;
        }
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  answerParent<ParentMessage>((server.address() as AddressInfo).port, {
    answer: (message): ChildMessage => {
      if (message.type === "counts") {
        return { type: "counts", counts: { spansExported: spans, traceparentCalls: 0, sampledCalls: 0, serverRequestsCounted: 0, clientRequestsCounted: 0 } };
      }
      const { user, system } = process.cpuUsage();
      return { type: "cpu", us: user + system };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
    closeGraceMs: 2_000,
  });
}

async function runChild(role: Role, id: ConfigId, upstream: string | undefined): Promise<void> {
  if (role === "receiver" && hasParent()) {
    return runReceiver();
  }
  const config = configs.find((c) => c.id === id);
  if (config === undefined || !["leaf", "front", "load"].includes(role) || !hasParent()) {
    fail("--role and --config are set by bench/observability.ts itself, which talks to its children over IPC");
  }
  if (role !== "leaf" && upstream === undefined) {
    fail(`--role ${role} needs --upstream`);
  }
  if (config.tracing === "otlp" && args.otlp === undefined) {
    fail(`--config ${id} needs --otlp`);
  }
  const o = observability(config, role, args.otlp);
  let traceparentCalls = 0;
  let sampledCalls = 0;
  let close: () => Promise<void>;
  let loadCall: ((sku: string) => Promise<unknown>) | undefined;
  let port = 0;

  if (role === "leaf") {
    const leaf = {
      getItem(request: GetItemRequest, context: HandlerContext): GetItemResponse {
        // Only probe calls read the header: reading it builds the call's
        // Headers, which the measured calls leave to the configuration.
        const traceparent = request.sku === probeSku ? context.requestHeader.get("traceparent") : null;
        if (traceparent !== null) {
          traceparentCalls++;
          // W3C trace-flags, the last field: bit 0 is "sampled".
          sampledCalls += Number.parseInt(traceparent.slice(-2), 16) & 1;
        }
        return create(GetItemResponseSchema, {
          item: { sku: request.sku, name: "Bench mug", priceMinor: 1299n, currencyCode: "USD", available: 100 },
        });
      },
    };
    const server = await serve({
      services: [{ service: InventoryService, impl: leaf as unknown as ServiceRegistration["impl"] }],
      logger: createLogger("bench-leaf", "warn"),
      port: 0,
      ...(o.tracing === undefined ? {} : { tracer: o.tracing.tracer }),
      ...(o.metrics === undefined ? {} : { interceptors: [o.metrics.serverInterceptor()] }),
    });
    port = server.port;
    close = () => server.shutdown();
  } else if (role === "front") {
    const factory = clientFactory(o);
    const leafClient = factory.client(InventoryService, target("leaf", upstream!));
    const front = {
      getItem: (request: GetItemRequest): Promise<GetItemResponse> => leafClient.getItem({ sku: request.sku }),
    };
    const server = await serve({
      services: [{ service: InventoryService, impl: front as unknown as ServiceRegistration["impl"] }],
      logger: createLogger("bench-front", "warn"),
      port: 0,
      ...(o.tracing === undefined ? {} : { tracer: o.tracing.tracer }),
      ...(o.metrics === undefined ? {} : { interceptors: [o.metrics.serverInterceptor()] }),
    });
    port = server.port;
    close = async () => {
      await server.shutdown();
      factory.close();
    };
  } else {
    const factory = clientFactory(o);
    const frontClient = factory.client(InventoryService, target("front", upstream!));
    loadCall = (sku) => frontClient.getItem({ sku });
    close = async () => factory.close();
  }

  const counterSum = async (name: string): Promise<number> => {
    const metric = o.metrics?.registry.getSingleMetric(name);
    return metric === undefined ? 0 : (await metric.get()).values.reduce((n, v) => n + v.value, 0);
  };

  answerParent<ParentMessage>(port, {
    answer: async (message): Promise<ChildMessage> => {
      switch (message.type) {
        case "cpu": {
          const { user, system } = process.cpuUsage();
          return { type: "cpu", us: user + system };
        }
        case "run":
          return { type: "ran", result: await runCalls(loadCall!, message.sku, message.calls, message.concurrency) };
        case "counts":
          await o.tracing?.provider.forceFlush();
          return {
            type: "counts",
            counts: {
              spansExported: o.exporter.exported,
              traceparentCalls,
              sampledCalls,
              serverRequestsCounted: await counterSum("meshwork_server_requests_total"),
              clientRequestsCounted: await counterSum("meshwork_client_requests_total"),
            },
          };
      }
    },
    close: async () => {
      await close().catch(() => undefined);
      await o.tracing?.provider.shutdown();
    },
    closeGraceMs: 2_000,
  });
}

/** `total` calls, `concurrency` in flight; latencies of every call (failed ones included). */
async function runCalls(call: (sku: string) => Promise<unknown>, sku: string, total: number, concurrency: number): Promise<RunResult> {
  const latencies = new Float64Array(total);
  let next = 0;
  let failures = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const start = performance.now();
      try {
        await call(sku);
      } catch (e) {
        failures++;
        firstError ??= String(e);
      }
      latencies[i] = performance.now() - start;
    }
  };
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort();
  return {
    wallMs,
    failures,
    ...(firstError === undefined ? {} : { firstError }),
    p50Us: percentile(latencies, 0.5) * 1000,
    p99Us: percentile(latencies, 0.99) * 1000,
    cpuUs: cpu.user + cpu.system,
  };
}

// ---------------------------------------------------------------- the parent

/** A child process of this file (a leaf, front or load role). */
class Child {
  static start(name: string, childArgs: readonly string[], core: number | undefined, nodeArgs: readonly string[] = []): Child {
    return new Child(IpcChild.start(name, thisFile, childArgs, { cwd: root, core, nodeArgs }));
  }

  private constructor(private readonly ipc: IpcChild<ParentMessage, ChildMessage>) {}

  get process(): ChildProcess {
    return this.ipc.process;
  }

  async ready(timeoutMs: number): Promise<number> {
    return (await this.ipc.ask(undefined, "ready", timeoutMs)).port;
  }

  async cpu(): Promise<number> {
    return (await this.ipc.ask({ type: "cpu" }, "cpu", 10_000)).us;
  }

  async counts(): Promise<Counts> {
    return (await this.ipc.ask({ type: "counts" }, "counts", 30_000)).counts;
  }

  async run(calls: number, concurrency: number, sku = settings.sku): Promise<RunResult> {
    const { result } = await this.ipc.ask({ type: "run", calls, concurrency, sku }, "ran", settings.timeLimitMs);
    if (result.failures > 0) {
      throw new Error(`${this.ipc.name}: ${result.failures} of ${calls} calls failed; first: ${result.firstError}`);
    }
    return result;
  }

  /** Asks the child to exit; kills it (by its PID) if it has not within 5 s. */
  stop(): Promise<void> {
    return this.ipc.stop();
  }
}

/** The three processes of one configuration. */
interface Stack {
  readonly config: Config;
  readonly leaf: Child;
  readonly front: Child;
  readonly load: Child;
  /** Calls the load generator has made so far: what the checks expect. */
  calls: number;
}

interface Round {
  callsPerSec: number;
  /** At `concurrency` in flight. */
  p50Us: number;
  p99Us: number;
  /** One call at a time. */
  seqP50Us: number;
  seqP99Us: number;
  frontCpuUsPerCall: number;
  leafCpuUsPerCall: number;
  serverCpuUsPerCall: number;
  /** Share of core 0 the two servers used while the calls ran. */
  serverBusy: number;
  clientCpuUsPerCall: number;
}

async function runBench(): Promise<void> {
  if (args.only !== undefined) {
    const only = args.only.split(",");
    if (only.some((id) => !configIds.includes(id as ConfigId))) {
      fail(`--only takes one or more (comma-separated) of ${configIds.join(", ")}`);
    }
    runConfigs = configs.filter((c) => c.id === "a" || only.includes(c.id));
  }
  const profiledIds = args["cpu-prof"] === undefined ? [] : (args["cpu-prof"].split(",") as ConfigId[]);
  if (profiledIds.some((id) => !configIds.includes(id))) {
    fail(`--cpu-prof takes one or more (comma-separated) of ${configIds.join(", ")}`);
  }
  const profiled = profiledIds.length === 0 ? undefined : profiledIds.join(",");
  const profileDir = profiled === undefined ? undefined : mkdtempSync(join(tmpdir(), "meshwork-observability-prof-"));
  /** Per profiled configuration: the monotonic window (µs) of its rounds, its servers' pids and median CPU µs/call. */
  const profiledStacks: { id: ConfigId; window: [number, number]; pids: Record<"front" | "leaf", number> }[] = [];
  const pinned = canPin();
  const children: Child[] = [];
  const stacks: Stack[] = [];
  const startedAt = performance.now();
  const clearLimit = limitRun({
    cleanup: () => {
      for (const child of children) {
        child.process.kill("SIGKILL");
      }
    },
    limitMs: settings.timeLimitMs,
    graceMs: 60_000,
    sigterm: true,
  });

  let exitCode = 0;
  try {
    const pinFailure = pinned ? pinSelf(1) : undefined;
    if (pinFailure !== undefined) {
      fail(`taskset on the bench process failed: ${pinFailure}`);
    }
    console.log(
      `${settings.rounds} rounds; per configuration and round: ${settings.sequentialCalls} calls one at a time, then ` +
        `${settings.concurrentCalls} calls at ${settings.concurrency} in flight (warm-up ${settings.warmupCalls}); ` +
        `client -> front serve() -> leaf serve(), default "grpc" transport; ` +
        (pinned ? "servers on core 0, load generators on core 1" : notPinnedNote),
    );

    const serverCore = pinned ? 0 : undefined;
    const loadCore = pinned ? 1 : undefined;
    // (e)'s spans go to this receiver, beside the load generators.
    const receiver = Child.start("OTLP receiver", ["--role", "receiver"], loadCore);
    children.push(receiver);
    otlpReceiver = receiver;
    otlpUrl = `http://127.0.0.1:${await receiver.ready(60_000)}`;
    for (const config of runConfigs) {
      const prof = profiledIds.includes(config.id) ? ["--cpu-prof", "--cpu-prof-dir", profileDir!] : [];
      const leaf = Child.start(`(${config.id}) leaf`, ["--role", "leaf", "--config", config.id, ...passOn(config)], serverCore, prof);
      children.push(leaf);
      const leafPort = await leaf.ready(60_000);
      const front = Child.start(
        `(${config.id}) front`,
        ["--role", "front", "--config", config.id, "--upstream", `http://127.0.0.1:${leafPort}`, ...passOn(config)],
        serverCore,
        prof,
      );
      children.push(front);
      const frontPort = await front.ready(60_000);
      const load = Child.start(
        `(${config.id}) load`,
        ["--role", "load", "--config", config.id, "--upstream", `http://127.0.0.1:${frontPort}`, ...passOn(config)],
        loadCore,
      );
      children.push(load);
      await load.ready(60_000);
      const stack: Stack = { config, leaf, front, load, calls: 0 };
      stacks.push(stack);
      if (prof.length > 0) {
        profiledStacks.push({ id: config.id, window: [Infinity, 0], pids: { front: front.process.pid!, leaf: leaf.process.pid! } });
      }
      await stack.load.run(1, 1); // fails the run on a wrong setup
      await stack.load.run(Math.min(300, settings.warmupCalls), 1);
      await stack.load.run(settings.warmupCalls, settings.concurrency);
      stack.calls += 1 + Math.min(300, settings.warmupCalls) + settings.warmupCalls;
    }

    const rounds = new Map<ConfigId, Round[]>(configIds.map((id) => [id, []]));
    let roundMs = 0;
    let roundsRun = 0;
    for (let r = 0; r < settings.rounds; r++) {
      if (r > 0 && performance.now() - startedAt + roundMs > settings.timeLimitMs) {
        console.log(`  time limit: stopping after ${r} round(s)`);
        break;
      }
      const roundStart = performance.now();
      for (const stack of stacks) {
        const from = Number(process.hrtime.bigint() / 1000n);
        const round = await measure(stack);
        const p = profiledStacks.find((x) => x.id === stack.config.id);
        if (p !== undefined) {
          p.window = [Math.min(p.window[0], from), Number(process.hrtime.bigint() / 1000n)];
        }
        rounds.get(stack.config.id)!.push(round);
        console.log(
          `  round ${r + 1} (${stack.config.id}) ${fmt(round.callsPerSec, 0)} calls/s, p50/p99 at ${settings.concurrency} ` +
            `${fmt(round.p50Us, 0)}/${fmt(round.p99Us, 0)} µs, at 1 ${fmt(round.seqP50Us, 0)}/${fmt(round.seqP99Us, 0)} µs, ` +
            `server ${fmt(round.serverCpuUsPerCall, 1)} µs/call (front ${fmt(round.frontCpuUsPerCall, 1)}, leaf ${fmt(round.leafCpuUsPerCall, 1)}; ` +
            `${fmt(round.serverBusy * 100, 0)}% of core 0), client ${fmt(round.clientCpuUsPerCall, 1)} µs/call`,
        );
      }
      roundMs = performance.now() - roundStart;
      roundsRun++;
    }

    lastRounds = rounds;
    const checks = await checkCounts(stacks);
    report(rounds, roundsRun, checks, pinned, profiled !== undefined);
    if (checks.some((c) => !c.ok)) {
      throw new Error("the counts do not show what the configurations claim: see the checks above");
    }
  } catch (e) {
    console.error(e);
    exitCode = 1;
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    clearLimit();
  }
  if (profileDir !== undefined) {
    printProfileSummaries(profileDir, root);
    if (profiledStacks.length > 1) {
      printCostBreakdown(profileDir, profiledStacks, lastRounds);
    }
  }
  process.exit(exitCode);
}

/** The children's copies of the settings they use (concurrency sizes the bulkheads). */
function passOn(config: Config): string[] {
  return ["--concurrency", String(settings.concurrency), ...(config.tracing === "otlp" ? ["--otlp", otlpUrl] : [])];
}

/** The rounds measured, for the cost breakdown after the children have stopped (and written their profiles). */
let lastRounds = new Map<ConfigId, Round[]>();

/**
 * For each profiled configuration and server: CPU µs per call by contributor
 * (the profile's shares within the rounds' window times the median measured
 * CPU µs per call), and by file for the files that matter most, with the
 * difference to the first profiled configuration.
 */
function printCostBreakdown(
  dir: string,
  stacks: readonly { id: ConfigId; window: [number, number]; pids: Record<"front" | "leaf", number> }[],
  rounds: Map<ConfigId, Round[]>,
): void {
  const files = readdirSync(dir);
  const table = new Map<string, Map<string, number>>(); // row -> column "(id) role" -> µs/call
  const byFile = new Map<string, Map<string, number>>();
  const byOp = new Map<string, Map<string, number>>();
  const columns: string[] = [];
  for (const s of stacks) {
    for (const role of ["front", "leaf"] as const) {
      const file = files.find((f) => f.includes(`.${s.pids[role]}.`) || f === `${s.pids[role]}.cpuprofile`);
      const list = rounds.get(s.id) ?? [];
      if (file === undefined || list.length === 0) {
        continue;
      }
      const column = `(${s.id}) ${role}`;
      columns.push(column);
      const cpuUs = medianOf(list.map((r) => (role === "front" ? r.frontCpuUsPerCall : r.leafCpuUsPerCall)));
      const add = (m: Map<string, Map<string, number>>, row: string, us: number): void => {
        const r = m.get(row) ?? new Map<string, number>();
        r.set(column, (r.get(column) ?? 0) + us);
        m.set(row, r);
      };
      add(table, "total (measured, process.cpuUsage)", cpuUs);
      for (const [name, share] of costShares(join(dir, file), s.window)) {
        add(table, name, share * cpuUs);
      }
      const ops = tracingOpTimes(join(dir, file), s.window);
      for (const [op, us] of ops.byOp) {
        add(byOp, op, (us / Math.max(ops.busyUs, 1)) * cpuUs);
      }
      console.log(`profile of ${column}: ${file}, window ${s.window[0]}..${s.window[1]} µs (monotonic)`);
      const summary = summarizeProfile(join(dir, file), 40, root, s.window);
      for (const f of summary.selfByFile) {
        add(byFile, f.name, (f.percent / 100) * cpuUs);
      }
    }
  }
  const print = (title: string, m: Map<string, Map<string, number>>): void => {
    console.log(`\n${title} (CPU µs per call, profile shares x measured CPU; diff = sum of the last configuration's servers - the first's)\n`);
    console.log(`| | ${columns.join(" | ")} | diff |`);
    console.log(`|---|${columns.map(() => "---:").join("|")}|---:|`);
    const first = columns.filter((c) => c.startsWith(`(${stacks[0]!.id})`));
    const last = columns.filter((c) => c.startsWith(`(${stacks[stacks.length - 1]!.id})`));
    const rows = [...m].map(([row, cells]) => {
      const sum = (cs: string[]): number => cs.reduce((acc, c) => acc + (cells.get(c) ?? 0), 0);
      return { row, cells, diff: sum(last) - sum(first) };
    });
    rows.sort((x, y) => Math.abs(y.diff) - Math.abs(x.diff));
    for (const { row, cells, diff } of rows) {
      console.log(`| ${row} | ${columns.map((c) => fmt(cells.get(c) ?? 0, 1)).join(" | ")} | ${fmt(diff, 1)} |`);
    }
  };
  print("Cost by contributor", table);
  print("Tracing by operation, and GC (bench/support/tracing-ops.ts)", byOp);
  print("Self time by file (top 40 of each profile)", byFile);
}

/** The OTLP receiver child and its URL, once started. */
let otlpReceiver: Child | undefined;
let otlpUrl = "";

async function measure(stack: Stack): Promise<Round> {
  const sequential = await stack.load.run(settings.sequentialCalls, 1);
  const frontBefore = await stack.front.cpu();
  const leafBefore = await stack.leaf.cpu();
  const run = await stack.load.run(settings.concurrentCalls, settings.concurrency);
  const frontUs = (await stack.front.cpu()) - frontBefore;
  const leafUs = (await stack.leaf.cpu()) - leafBefore;
  stack.calls += settings.sequentialCalls + settings.concurrentCalls;
  const n = settings.concurrentCalls;
  return {
    callsPerSec: (n / run.wallMs) * 1000,
    p50Us: run.p50Us,
    p99Us: run.p99Us,
    seqP50Us: sequential.p50Us,
    seqP99Us: sequential.p99Us,
    frontCpuUsPerCall: frontUs / n,
    leafCpuUsPerCall: leafUs / n,
    serverCpuUsPerCall: (frontUs + leafUs) / n,
    serverBusy: (frontUs + leafUs) / (run.wallMs * 1000),
    clientCpuUsPerCall: run.cpuUs / n,
  };
}

interface Check {
  readonly config: ConfigId;
  readonly what: string;
  readonly expected: number;
  readonly measured: number;
  readonly ok: boolean;
}

/**
 * Makes the probe calls, then asks every process what it saw and compares it
 * with what its configuration must produce.
 */
async function checkCounts(stacks: readonly Stack[]): Promise<Check[]> {
  const checks: Check[] = [];
  for (const stack of stacks) {
    await stack.load.run(settings.probeCalls, 1, probeSku);
    stack.calls += settings.probeCalls;
  }
  for (const { config, leaf, front, load, calls } of stacks) {
    const [l, f, g] = [await leaf.counts(), await front.counts(), await load.counts()];
    const probes = settings.probeCalls;
    const sampled = config.tracing === "sampled" || config.tracing === "otlp";
    const noopExported = config.tracing === "sampled";
    const traced = config.tracing !== "off";
    const check = (what: string, expected: number, measured: number): void => {
      checks.push({ config: config.id, what, expected, measured, ok: expected === measured });
    };
    // (b): a client span in the load generator, a server and a client span in
    // the front, a server span in the leaf, per call.
    check("spans exported (load generator, client spans)", noopExported ? calls : 0, g.spansExported);
    check("spans exported (front, server + client spans)", noopExported ? 2 * calls : 0, f.spansExported);
    check("spans exported (leaf, server spans)", noopExported ? calls : 0, l.spansExported);
    if (config.tracing === "otlp") {
      // Every process flushed its batch processor before answering counts.
      check("spans received by the OTLP receiver (all three processes)", 4 * calls, (await otlpReceiver!.counts()).spansExported);
    }
    check(`leaf probe calls (${probes}) with a traceparent`, traced ? probes : 0, l.traceparentCalls);
    check(`leaf probe calls (${probes}) with a sampled traceparent`, sampled ? probes : 0, l.sampledCalls);
    if (config.metrics) {
      check("requests counted (load generator, client series)", calls, g.clientRequestsCounted);
      check("requests counted (front, server series)", calls, f.serverRequestsCounted);
      check("requests counted (front, client series)", calls, f.clientRequestsCounted);
      check("requests counted (leaf, server series)", calls, l.serverRequestsCounted);
    }
  }
  return checks;
}

function report(rounds: Map<ConfigId, Round[]>, roundsRun: number, checks: readonly Check[], pinned: boolean, profiling: boolean): void {
  const base = rounds.get("a")!;
  const summary = runConfigs.map((config) => {
    const list = rounds.get(config.id)!;
    const median = (pick: (r: Round) => number): number => medianOf(list.map(pick));
    const ratio = (pick: (r: Round) => number): number => medianOf(list.map((r, i) => pick(r) / pick(base[i]!)));
    const throughputVsBaseline = ratio((r) => r.callsPerSec);
    return {
      id: config.id,
      label: config.label,
      tracing: config.tracing,
      metrics: config.metrics,
      callsPerSec: median((r) => r.callsPerSec),
      throughputVsBaseline,
      throughputVsBaselineByRound: list.map((r, i) => r.callsPerSec / base[i]!.callsPerSec),
      target: config.target,
      pass: config.target === undefined ? undefined : throughputVsBaseline >= config.target,
      /** Whether a round of it or of (a) ran with core 0 not saturated (see settings.saturatedBusy). */
      contended: [...list, ...base].some((r) => r.serverBusy < settings.saturatedBusy),
      p50Us: median((r) => r.p50Us),
      p99Us: median((r) => r.p99Us),
      seqP50Us: median((r) => r.seqP50Us),
      seqP99Us: median((r) => r.seqP99Us),
      seqP50VsBaseline: ratio((r) => r.seqP50Us),
      serverCpuUsPerCall: median((r) => r.serverCpuUsPerCall),
      serverCpuVsBaseline: ratio((r) => r.serverCpuUsPerCall),
      frontCpuUsPerCall: median((r) => r.frontCpuUsPerCall),
      leafCpuUsPerCall: median((r) => r.leafCpuUsPerCall),
      serverBusy: median((r) => r.serverBusy),
      clientCpuUsPerCall: median((r) => r.clientCpuUsPerCall),
      rounds: list,
    };
  });

  console.log();
  console.log(`Medians of ${roundsRun} round(s); ratios to (a) are medians of per-round ratios.`);
  console.log();
  console.log(
    `| | configuration | calls/s at ${settings.concurrency} | vs (a) | target | | p50 / p99 at ${settings.concurrency} µs | ` +
      "p50 / p99 at 1 µs | server CPU µs/call (front + leaf) | vs (a) | core 0 busy | client CPU µs/call |",
  );
  console.log("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
  for (const s of summary) {
    console.log(
      `| (${s.id}) | ${s.label} | ${fmt(s.callsPerSec, 0)} | ${fmt(s.throughputVsBaseline, 3)} | ` +
        `${s.target === undefined ? "" : `>= ${fmt(s.target, 2)}`} | ${s.pass === undefined ? "" : `${s.pass ? "PASS" : "MISS"}${s.contended ? "*" : ""}`} | ` +
        `${fmt(s.p50Us, 0)} / ${fmt(s.p99Us, 0)} | ${fmt(s.seqP50Us, 0)} / ${fmt(s.seqP99Us, 0)} | ` +
        `${fmt(s.serverCpuUsPerCall, 1)} (${fmt(s.frontCpuUsPerCall, 1)} + ${fmt(s.leafCpuUsPerCall, 1)}) | ` +
        `${fmt(s.serverCpuVsBaseline, 3)} | ${fmt(s.serverBusy * 100, 0)}% | ${fmt(s.clientCpuUsPerCall, 1)} |`,
    );
  }
  const measurements = summary.flatMap((s) => s.rounds);
  const unsaturated = measurements.filter((r) => r.serverBusy < settings.saturatedBusy).length;
  if (unsaturated > 0) {
    console.log();
    console.log(
      `WARNING: in ${unsaturated} of ${measurements.length} measurements the servers kept core 0 less than ` +
        `${fmt(settings.saturatedBusy * 100, 0)}% busy: other work was using the machine (load average at start ` +
        `${fmt(loadAtStart[0]!, 1)}, at end ${fmt(loadavg()[0]!, 1)}), so calls/s and its ratios measure that, not ` +
        "the configurations; server CPU per call is the steadier figure. Verdicts so affected carry a *. Rerun on a quiet machine.",
    );
  }
  console.log();
  console.log("Per-round throughput vs (a): " + summary.filter((s) => s.id !== "a").map((s) => `(${s.id}) ${s.throughputVsBaselineByRound.map((v) => fmt(v, 3)).join(", ")}`).join("; "));
  console.log();
  console.log("Checks (counted by the processes themselves after the rounds):");
  console.log();
  console.log("| | what | expected | counted | |");
  console.log("|---|---|---:|---:|---|");
  for (const c of checks) {
    console.log(`| (${c.config}) | ${c.what} | ${fmt(c.expected, 0)} | ${fmt(c.measured, 0)} | ${c.ok ? "ok" : "WRONG"} |`);
  }

  if (profiling || runConfigs.length < configs.length) {
    console.log(`\n${profiling ? "--cpu-prof" : "--only"}: results not written`);
    return;
  }
  writeResults("observability", {
    date: new Date().toISOString(),
    command: benchCommand(import.meta.url),
    argv: process.argv,
    execArgv: process.execArgv,
    node: process.version,
    versions: Object.fromEntries(
      [
        "@connectrpc/connect",
        "@connectrpc/connect-node",
        "@bufbuild/protobuf",
        "@opentelemetry/api",
        "@opentelemetry/core",
        "@opentelemetry/sdk-trace-base",
        "prom-client",
      ].map((name) => [name, packageVersion(name)]),
    ),
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), kernel: release() },
    pinned,
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    unsaturatedMeasurements: unsaturated,
    settings,
    roundsRun,
    results: summary,
    checks,
  });
}

// Last, once every class above is initialized.
if (args.role !== undefined) {
  await runChild(args.role as Role, args.config as ConfigId, args.upstream);
} else {
  await runBench();
}
