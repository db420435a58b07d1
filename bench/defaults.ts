// Fast by default: the mesh exactly as `make run` starts it, against what a
// user would run instead, with one load generator (h2load), in one run.
//
//   npx tsx bench/defaults.ts [--rounds 3] [--duration 8] [--rate-duration 5]
//                             [--grpc-rate 1000] [--rest-rate 300] [--place-rate 10]
//                             [--place-in-flight 8] [--no-profile]
//                             [--keep-profiles <dir>]
//
// The mesh is scripts/run-mesh.ts itself (what `make run` runs) with its
// defaults: info logs through the supervisor's pipe (read and dropped here,
// as a terminal shows them), metrics, tracing from OTEL_* with no exporter,
// the gateway's /mesh collector polling every service every second, deadline
// propagation where the mains turn it on. Two changes: the gateway's rate
// limits are raised (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST, and so the
// per-address limits derived from them) and one subject may take the whole
// bulkhead (GATEWAY_BULKHEAD_SHARE_PERCENT=100, 25 by default), else it
// answers 429 to a load generator, which is one client; and mTLS is off (MESH_INSECURE=1), as h2load
// cannot present a client certificate and every baseline is cleartext. Beside it, each in its own process
// (bench/support/user-baselines.ts): a plain @grpc/grpc-js Server answering
// GetItem from the inventory's own SQLite file; Fastify with a plain grpc-js
// client as the REST edge to the same inventory process the gateway calls;
// canned node:http2 and node:http ceilings. The mesh and the baselines are
// pinned to core 0, h2load and this process to core 1.
//
// Per round and row: a closed-loop run (-c4 -m16 on h2c, -c64 on HTTP/1.1)
// for req/s and the CPU per request of every process in the path
// (/proc/<pid>/stat utime+stime over the run, descendants included, divided
// by the requests answered), then a run at a fixed offered rate for p50/p99
// (h2load --rps, every request's latency from its log). PlaceOrder goes
// through the gateway from a keep-alive HTTP client here (each order needs a
// request id of its own, which h2load cannot vary): `place-in-flight` orders
// in flight, then `place-rate` orders a second. Rows run in turn within a
// round; figures are medians over rounds, ratios medians of per-round ratios.
// A closed-loop run fails the bench on any error; at a fixed rate a process
// that cannot keep up may shed load (429, timeouts): those requests are
// counted and shown, not hidden.
// Then (unless --no-profile) the mesh is started again with every process
// profiled (bench/support/cpu-profile-preload.mjs) and the same closed-loop
// runs give each process's CPU per request by contributor: the measured CPU
// per request split by the profile's shares (bench/support/cost-breakdown.ts).
// Results also go to bench/results/defaults.json.
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { signDevToken } from "../gateway/auth/index.js";
import { createGrpcJsClient } from "../test/support/grpc-js-client.js";
import { positive } from "./support/cli-args.js";
import { contributors, costShares, otherContributor } from "./support/cost-breakdown.js";
import { DefaultMesh, meshProcessNames, type MeshProcessName } from "./support/default-mesh.js";
import { h2loadVersion, runH2load, type H2loadOptions } from "./support/h2load.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { percentile } from "./support/percentile.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { procTreeCpuUs } from "./support/proc-cpu.js";
import { benchCommand, packageVersion, writeResults } from "./support/results-file.js";
import { limitRun } from "./support/run-limit.js";
import { freePort, ServerProcess } from "./support/server-process.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const loadAtStart = loadavg();

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "8" },
    "rate-duration": { type: "string", default: "5" },
    "grpc-rate": { type: "string", default: "1000" },
    "rest-rate": { type: "string", default: "300" },
    "place-rate": { type: "string", default: "10" },
    "place-in-flight": { type: "string", default: "8" },
    "no-profile": { type: "boolean", default: false },
    "keep-profiles": { type: "string" },
  },
});
const settings = {
  rounds: positive("rounds", args.rounds, 20),
  durationS: positive("duration", args.duration, 600),
  rateDurationS: positive("rate-duration", args["rate-duration"], 600),
  grpcRate: positive("grpc-rate", args["grpc-rate"], 100_000),
  restRate: positive("rest-rate", args["rest-rate"], 100_000),
  placeRate: positive("place-rate", args["place-rate"], 10_000),
  placeInFlight: positive("place-in-flight", args["place-in-flight"], 1_000),
  profile: !args["no-profile"],
  /** Where the profiled run's .cpuprofile files are copied (as <process>.cpuprofile), to read by function. */
  keepProfiles: args["keep-profiles"],
  sku: "MUG-001",
  /** The changes from make run's environment. */
  // mTLS off (MESH_INSECURE=1): h2load cannot present a client certificate,
  // and the baselines (grpc-js server, Fastify edge, ceilings) are cleartext
  // too, so the rows compare like with like. The cost of mTLS is bench/mtls.ts's.
  meshEnv: { RATE_LIMIT_PER_SECOND: "1000000000", RATE_LIMIT_BURST: "1000000000", GATEWAY_BULKHEAD_SHARE_PERCENT: "100", MESH_INSECURE: "1" },
  timeLimitMs: 25 * 60_000,
};

type Family = "grpc" | "rest" | "place";
type RowId = "g-mesh" | "g-grpcjs" | "g-raw" | "j-mesh" | "d-mesh" | "r-gateway" | "r-fastify" | "r-raw" | "p-gateway";
interface RowSpec {
  readonly id: RowId;
  readonly family: Family;
  readonly label: string;
  /** The processes in the request's path, CPU per request charged to each. */
  readonly path: readonly string[];
}
const rows: readonly RowSpec[] = [
  { id: "g-mesh", family: "grpc", label: "inventory GetItem, gRPC (default config, make run)", path: ["inventory"] },
  { id: "g-grpcjs", family: "grpc", label: "plain @grpc/grpc-js Server, GetItem from the same SQLite file", path: ["grpc-js-sqlite"] },
  { id: "g-raw", family: "grpc", label: "raw node:http2 stream, canned gRPC answer (ceiling)", path: ["raw-h2"] },
  { id: "j-mesh", family: "grpc", label: "inventory GetItem, Connect JSON over h2c (default config)", path: ["inventory"] },
  { id: "d-mesh", family: "rest", label: "inventory GetItem, Connect JSON over HTTP/1.1, direct (default config)", path: ["inventory"] },
  { id: "r-gateway", family: "rest", label: "gateway REST GET /v1/inventory/items/{sku} -> inventory (default config)", path: ["gateway", "inventory"] },
  { id: "r-fastify", family: "rest", label: "Fastify + @grpc/grpc-js edge -> the same inventory", path: ["fastify-edge", "inventory"] },
  { id: "r-raw", family: "rest", label: "raw node:http, canned JSON (ceiling)", path: ["raw-http"] },
  { id: "p-gateway", family: "place", label: "PlaceOrder through the gateway, end to end (default config)", path: ["gateway", "orders", "inventory", "payments", "notifications"] },
];

interface Measured {
  readonly requestsPerSec: number;
  /** µs per request, by process. */
  readonly cpu: Record<string, number>;
  /** The other mesh processes' CPU per request (idle work: collector, sweepers, relays). */
  readonly restOfMesh: number;
  /** Requests not answered (fixed-rate runs only; a closed-loop run fails on any). */
  readonly failed: number;
}
interface RoundResult {
  readonly throughput: Measured;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly offeredRate: number;
  readonly achievedRate: number;
  readonly failedAtRate: number;
}

const version = h2loadVersion();
if (version === undefined) {
  console.error("h2load is not installed. Install it with: apt-get install -y nghttp2-client");
  process.exit(1);
}
const machineCores = availableParallelism();
const pinned = canPin(machineCores);
const serverCore = pinned ? 0 : undefined;
const loadCore = pinned ? 1 : undefined;
const tmp = mkdtempSync(join(tmpdir(), "meshwork-bench-defaults-"));
const baselines: ServerProcess[] = [];
let mesh: DefaultMesh | undefined;
let loadChild: ChildProcess | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1_000 });
/** Numbers the orders' request ids. */
let orderSeq = 0;

const killAll = (): void => {
  loadChild?.kill("SIGKILL");
  mesh?.killNow();
  for (const b of baselines) {
    b.killNow();
  }
  rmSync(tmp, { recursive: true, force: true });
};
const clearLimit = limitRun({ cleanup: killAll, limitMs: settings.timeLimitMs, sigterm: true });
const started = Date.now();

let exitCode = 0;
try {
  const pinFailure = pinned ? pinSelf(1) : undefined;
  if (pinFailure !== undefined) {
    throw new Error(`taskset on this process failed: ${pinFailure}`);
  }
  console.log(
    `${settings.rounds} rounds; per row a ${settings.durationS} s closed-loop run, then ${settings.rateDurationS} s at a fixed rate ` +
      `(gRPC and Connect ${settings.grpcRate}/s, REST ${settings.restRate}/s, PlaceOrder ${settings.placeRate}/s); ` +
      (pinned ? "mesh and baselines on core 0, h2load and this process on core 1" : notPinnedNote),
  );
  console.log(`machine: ${cpus()[0]?.model}, ${machineCores} cores, Linux ${release()}, Node ${process.version}, ${version}`);
  console.log(`load average at start: ${loadAtStart.map((l) => fmt(l, 2)).join(", ")}`);

  mesh = await startMesh(join(tmp, "data"));
  const meshPids = mesh.pids();
  const token = await signDevToken(join(tmp, "data", "auth"), { subject: "bench-alice" });
  const admin = await signDevToken(join(tmp, "data", "auth"), { subject: "bench-ops", scopes: ["meshwork:admin"] });
  // Enough stock for every order of the run.
  const adjusted = await httpCall(mesh.url("gateway"), "POST", `/v1/inventory/items/${settings.sku}:adjust`, admin, {
    adjustmentId: `bench-${Date.now()}`,
    delta: 100_000,
    reason: "bench/defaults.ts",
  });
  if (adjusted.status !== 200) {
    throw new Error(`stock adjustment answered ${adjusted.status}: ${adjusted.body}`);
  }

  const ports = { "grpc-js-sqlite": await freePort(), "fastify-edge": await freePort(), "raw-h2": await freePort(), "raw-http": await freePort() };
  const baselineArgs: Record<keyof typeof ports, string[]> = {
    "grpc-js-sqlite": [join(tmp, "data", "inventory.db")],
    "fastify-edge": [`127.0.0.1:${mesh.ports.inventory}`],
    "raw-h2": [],
    "raw-http": [],
  };
  const baselinePids: Record<string, number> = {};
  for (const [name, port] of Object.entries(ports) as [keyof typeof ports, number][]) {
    const server = ServerProcess.start({
      name,
      main: join(root, "bench", "support", "user-baselines.ts"),
      cwd: root,
      env: { PORT: String(port) },
      args: [name, ...baselineArgs[name]],
      ...(serverCore === undefined ? {} : { core: serverCore }),
    });
    baselines.push(server);
    await server.waitReady(async () => server.log.includes('"serving"'), 60_000);
    baselinePids[name] = server.pid;
  }
  const pidOf = (name: string): number => baselinePids[name] ?? meshPids[name as MeshProcessName];

  const meshUrl = mesh.url.bind(mesh);
  const getItemPath = `/${InventoryService.typeName}/GetItem`;
  const grpcBody = join(tmp, "getitem.grpc");
  const jsonBody = join(tmp, "getitem.json");
  const skuField = Buffer.from(settings.sku);
  writeFileSync(grpcBody, Buffer.concat([Buffer.from([0, 0, 0, 0, skuField.length + 2, 0x0a, skuField.length]), skuField]));
  writeFileSync(jsonBody, JSON.stringify({ sku: settings.sku }));
  const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
  const jsonHeaders = { "content-type": "application/json", "connect-protocol-version": "1" };
  const loadOf: Record<Exclude<RowId, "p-gateway">, Omit<H2loadOptions, "clients" | "streams" | "durationS">> = {
    "g-mesh": { url: meshUrl("inventory") + getItemPath, body: grpcBody, headers: grpcHeaders },
    "g-grpcjs": { url: `http://127.0.0.1:${ports["grpc-js-sqlite"]}${getItemPath}`, body: grpcBody, headers: grpcHeaders },
    "g-raw": { url: `http://127.0.0.1:${ports["raw-h2"]}${getItemPath}`, body: grpcBody, headers: grpcHeaders },
    "j-mesh": { url: meshUrl("inventory") + getItemPath, body: jsonBody, headers: jsonHeaders },
    "d-mesh": { url: meshUrl("inventory") + getItemPath, body: jsonBody, headers: jsonHeaders, h1: true },
    "r-gateway": { url: `${meshUrl("gateway")}/v1/inventory/items/${settings.sku}`, h1: true },
    "r-fastify": { url: `http://127.0.0.1:${ports["fastify-edge"]}/v1/inventory/items/${settings.sku}`, h1: true },
    "r-raw": { url: `http://127.0.0.1:${ports["raw-http"]}/v1/inventory/items/${settings.sku}`, h1: true },
  };

  await checkAnswers(mesh, ports, token);

  const measure = async (
    row: RowSpec,
    rate?: number,
    durationS = settings.durationS,
    warmUp = false,
  ): Promise<{ measured: Measured; latenciesMs?: Float64Array }> => {
    const watched = [...new Set([...row.path, ...meshProcessNames])];
    const before = watched.map((name) => procTreeCpuUs(pidOf(name)));
    let requests: number;
    let requestsPerSec: number;
    let failed = 0;
    let latenciesMs: Float64Array | undefined;
    if (row.id === "p-gateway") {
      const placed = await placeOrders(mesh!.url("gateway"), token, durationS, rate);
      ({ requests, requestsPerSec, latenciesMs, failed } = placed);
    } else {
      const load = loadOf[row.id];
      const h1 = load.h1 === true;
      const result = await runH2load(
        {
          ...load,
          clients: rate === undefined ? (h1 ? 64 : 4) : h1 ? 8 : 4,
          streams: rate === undefined && !h1 ? 16 : 1,
          durationS,
          ...(rate === undefined ? {} : { rate, logFile: join(tmp, `${row.id}.log`) }),
          ...(loadCore === undefined ? {} : { core: loadCore }),
        },
        (child) => (loadChild = child),
      );
      // A warm-up may time out while a process compiles its paths; a measured run may not.
      failed = result.failed + result.statusOther;
      if (!warmUp && ((rate === undefined && failed > 0) || result.succeeded === 0)) {
        throw new Error(`${row.id}: ${result.failed} failed, ${result.statusOther} non-2xx of ${result.succeeded + result.failed} (${result.command})`);
      }
      requests = Math.max(result.succeeded, 1);
      requestsPerSec = result.requestsPerSec;
      latenciesMs = result.latenciesMs;
    }
    const after = watched.map((name) => procTreeCpuUs(pidOf(name)));
    const cpu: Record<string, number> = {};
    let restOfMesh = 0;
    watched.forEach((name, i) => {
      const perRequest = (after[i]! - before[i]!) / requests;
      if (row.path.includes(name)) {
        cpu[name] = perRequest;
      } else {
        restOfMesh += perRequest;
      }
    });
    return { measured: { requestsPerSec, cpu, restOfMesh, failed }, ...(latenciesMs === undefined ? {} : { latenciesMs }) };
  };
  const rateOf = (row: RowSpec): number =>
    row.family === "place" ? settings.placeRate : row.family === "rest" ? settings.restRate : settings.grpcRate;

  // Warm-up: every row, short.
  for (const row of rows) {
    await measure(row, undefined, 5, true);
  }
  const results = new Map<RowId, RoundResult[]>(rows.map((r) => [r.id, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    for (const row of rows) {
      const throughput = (await measure(row)).measured;
      const fixed = await measure(row, rateOf(row), settings.rateDurationS);
      const latencies = fixed.latenciesMs!;
      const result: RoundResult = {
        throughput,
        p50Ms: percentile(latencies, 0.5),
        p99Ms: percentile(latencies, 0.99),
        offeredRate: rateOf(row),
        achievedRate: fixed.measured.requestsPerSec,
        failedAtRate: fixed.measured.failed,
      };
      results.get(row.id)!.push(result);
      console.log(
        `  round ${round} ${row.id.padEnd(9)} ${fmt(throughput.requestsPerSec, 0)} req/s, CPU µs/req ` +
          `${Object.entries(throughput.cpu).map(([n, us]) => `${n} ${fmt(us, 0)}`).join(", ")}; ` +
          `at ${rateOf(row)}/s p50 ${fmt(result.p50Ms, 2)} ms p99 ${fmt(result.p99Ms, 2)} ms` +
          (result.failedAtRate > 0 ? `, ${result.failedAtRate} not answered` : ""),
      );
    }
  }
  const meshLines = mesh.lines;
  const meshPorts = mesh.ports;
  await checkAnswers(mesh, ports, token);
  await mesh.stop();
  mesh = undefined;

  let breakdown: Map<RowId, Map<string, Map<string, number>>> | undefined;
  if (settings.profile) {
    // The measured rows stand on their own: a failed profile run costs the breakdown only.
    try {
      breakdown = await profileRows(results, loadOf, meshPorts);
    } catch (err) {
      console.error(`the profiled run failed, no breakdown: ${err instanceof Error ? err.message : String(err)}`);
      const left = mesh as DefaultMesh | undefined;
      if (left !== undefined) {
        console.error(`--- profiled mesh output (tail) ---\n${left.output.slice(-2_000)}`);
        await left.stop();
        mesh = undefined;
      }
    }
  }
  report(results, breakdown, meshLines);
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  if (mesh !== undefined) {
    console.error(`--- mesh output (tail) ---\n${mesh.output.slice(-2_000)}`);
  }
  for (const b of baselines) {
    console.error(`--- ${b.name} output (tail) ---\n${b.log}`);
  }
  exitCode = 1;
} finally {
  loadChild?.kill("SIGKILL");
  await mesh?.stop();
  await Promise.all(baselines.map((b) => b.stop()));
  agent.destroy();
  rmSync(tmp, { recursive: true, force: true });
  clearLimit();
}
process.exitCode = exitCode;

async function startMesh(dataDir: string, profileDir?: string): Promise<DefaultMesh> {
  mkdirSync(dataDir, { recursive: true });
  const started = await DefaultMesh.start({
    root,
    dataDir,
    env: settings.meshEnv,
    ...(serverCore === undefined ? {} : { core: serverCore }),
    ...(profileDir === undefined ? {} : { profileDir }),
  });
  mesh = started;
  await started.ready(180_000);
  return started;
}

/** Every target answers the item (gRPC targets through a grpc-js client, the rest over HTTP); PlaceOrder answers CONFIRMED. */
async function checkAnswers(m: DefaultMesh, ports: Record<string, number>, token: string): Promise<void> {
  for (const address of [`127.0.0.1:${m.ports.inventory}`, `127.0.0.1:${ports["grpc-js-sqlite"]}`, `127.0.0.1:${ports["raw-h2"]}`]) {
    const client = createGrpcJsClient(InventoryService, address);
    try {
      const answer = await client.getItem({ sku: settings.sku }, {}, { deadlineMs: 10_000 });
      if (answer.item?.sku !== settings.sku) {
        throw new Error(`${address}: GetItem answered ${answer.item?.sku}`);
      }
    } finally {
      client.close();
    }
  }
  for (const url of [`${m.url("gateway")}/v1/inventory/items/${settings.sku}`, `http://127.0.0.1:${ports["fastify-edge"]}/v1/inventory/items/${settings.sku}`, `http://127.0.0.1:${ports["raw-http"]}/v1/inventory/items/${settings.sku}`]) {
    const response = await fetch(url);
    const body = await response.text();
    if (response.status !== 200 || !body.includes(`"sku":"${settings.sku}"`)) {
      throw new Error(`${url}: ${response.status} ${body}`);
    }
  }
  const placed = await httpCall(m.url("gateway"), "POST", "/v1/orders", token, orderBody(`check-${Date.now()}`));
  if (placed.status !== 200 || !placed.body.includes("ORDER_STATE_CONFIRMED")) {
    throw new Error(`PlaceOrder answered ${placed.status}: ${placed.body}`);
  }
}

async function waitAnswers(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) {
        return;
      }
    } catch (err) {
      if (Date.now() > until) {
        throw err;
      }
    }
    if (Date.now() > until) {
      throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function orderBody(requestId: string): unknown {
  return { requestId, lines: [{ sku: settings.sku, quantity: 1 }], cardToken: "tok_visa" };
}

function httpCall(base: string, method: string, path: string, token: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

/**
 * PlaceOrder through the gateway for `durationS`: `placeInFlight` at a time
 * (closed loop), or at `rate` a second (open loop: each order starts on
 * schedule whether or not the previous ones answered). Every order must
 * answer 200 CONFIRMED.
 */
async function placeOrders(
  gateway: string,
  token: string,
  durationS: number,
  rate: number | undefined,
): Promise<{ requests: number; requestsPerSec: number; latenciesMs: Float64Array; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const prefix = `bench-${process.pid}-${Date.now()}`;
  const one = async (): Promise<void> => {
    const start = performance.now();
    const answer = await httpCall(gateway, "POST", "/v1/orders", token, orderBody(`${prefix}-${orderSeq++}`));
    if (rate !== undefined && (answer.status === 429 || answer.status === 503 || answer.status === 504)) {
      // Load shed at a rate the mesh cannot keep up with: counted, not hidden.
      failed++;
      return;
    }
    if (answer.status !== 200 || !answer.body.includes("ORDER_STATE_CONFIRMED")) {
      throw new Error(`PlaceOrder answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    }
    latencies.push(performance.now() - start);
  };
  const begin = performance.now();
  const end = begin + durationS * 1000;
  if (rate === undefined) {
    await Promise.all(
      Array.from({ length: settings.placeInFlight }, async () => {
        while (performance.now() < end) {
          await one();
        }
      }),
    );
  } else {
    const pending: Promise<void>[] = [];
    const total = Math.round(durationS * rate);
    for (let i = 0; i < total; i++) {
      const due = begin + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      pending.push(one());
    }
    await Promise.all(pending);
  }
  const elapsedS = (performance.now() - begin) / 1000;
  if (latencies.length === 0) {
    throw new Error(`no order was answered in ${durationS} s (${failed} shed)`);
  }
  return { requests: latencies.length, requestsPerSec: latencies.length / elapsedS, latenciesMs: Float64Array.from(latencies).sort(), failed };
}

/**
 * Starts the mesh again with every process profiled, runs each row that goes
 * through the mesh closed-loop once, and splits the measured (unprofiled)
 * CPU per request of each mesh process by the profile's shares.
 */
async function profileRows(
  results: Map<RowId, RoundResult[]>,
  loadOf: Record<Exclude<RowId, "p-gateway">, Omit<H2loadOptions, "clients" | "streams" | "durationS">>,
  measuredPorts: Readonly<Record<MeshProcessName, number>>,
): Promise<Map<RowId, Map<string, Map<string, number>>>> {
  const profileDir = join(tmp, "profiles");
  mkdirSync(profileDir, { recursive: true });
  const profiled = await startMesh(join(tmp, "data-profiled"), profileDir);
  // The supervisor restarts a process that exits; wait until the gateway answers before driving it.
  await waitAnswers(`${profiled.url("gateway")}/healthz`, 120_000);
  const pids = profiled.pids();
  const token = await signDevToken(join(tmp, "data-profiled", "auth"), { subject: "bench-alice" });
  const admin = await signDevToken(join(tmp, "data-profiled", "auth"), { subject: "bench-ops", scopes: ["meshwork:admin"] });
  await httpCall(profiled.url("gateway"), "POST", `/v1/inventory/items/${settings.sku}:adjust`, admin, { adjustmentId: "bench-profiled", delta: 100_000, reason: "bench" });
  const retarget = (url: string): string => {
    const u = new URL(url);
    const name = meshProcessNames.find((n) => measuredPorts[n] === Number(u.port));
    return name === undefined ? url : `${profiled.url(name)}${u.pathname}`;
  };
  const windows = new Map<RowId, [number, number]>();
  for (const row of rows.filter((r) => r.id === "g-mesh" || r.id === "j-mesh" || r.id === "r-gateway" || r.id === "p-gateway")) {
    const run = async (durationS: number): Promise<void> => {
      if (row.id === "p-gateway") {
        await placeOrders(profiled.url("gateway"), token, durationS, undefined);
        return;
      }
      const load = loadOf[row.id];
      const h1 = load.h1 === true;
      await runH2load(
        { ...load, url: retarget(load.url), clients: h1 ? 64 : 4, streams: h1 ? 1 : 16, durationS, ...(loadCore === undefined ? {} : { core: loadCore }) },
        (child) => (loadChild = child),
      );
    };
    await run(3);
    const from = Number(process.hrtime.bigint() / 1000n);
    await run(settings.durationS);
    windows.set(row.id, [from, Number(process.hrtime.bigint() / 1000n)]);
  }
  await profiled.stop();
  mesh = undefined;
  const breakdown = new Map<RowId, Map<string, Map<string, number>>>();
  const files = readdirSync(profileDir);
  if (settings.keepProfiles !== undefined) {
    mkdirSync(settings.keepProfiles, { recursive: true });
    for (const name of meshProcessNames) {
      const file = files.find((f) => f === `${pids[name]}.cpuprofile`);
      if (file !== undefined) {
        copyFileSync(join(profileDir, file), join(settings.keepProfiles, `${name}.cpuprofile`));
      }
    }
  }
  for (const [rowId, window] of windows) {
    const row = rows.find((r) => r.id === rowId)!;
    const perProcess = new Map<string, Map<string, number>>();
    for (const name of row.path) {
      const file = files.find((f) => f === `${pids[name as MeshProcessName]}.cpuprofile`);
      if (file === undefined) {
        continue;
      }
      const cpuUs = medianOf(results.get(rowId)!.map((r) => r.throughput.cpu[name]!));
      const shares = costShares(join(profileDir, file), window);
      perProcess.set(name, new Map([...shares].map(([contributor, share]) => [contributor, share * cpuUs])));
    }
    breakdown.set(rowId, perProcess);
  }
  return breakdown;
}

function report(results: Map<RowId, RoundResult[]>, breakdown: Map<RowId, Map<string, Map<string, number>>> | undefined, meshLines: number): void {
  const med = (id: RowId, pick: (r: RoundResult) => number): number => medianOf(results.get(id)!.map(pick));
  const ratio = (a: RowId, b: RowId, pick: (r: RoundResult) => number): number =>
    medianOf(results.get(a)!.map((r, i) => pick(r) / pick(results.get(b)![i]!)));
  const totalCpu = (r: RoundResult): number => Object.values(r.throughput.cpu).reduce((x, y) => x + y, 0);

  console.log();
  console.log("| row | path | req/s (closed loop) | CPU µs/req by process | CPU µs/req, path | rest of mesh µs/req | offered/s | p50 | p99 | not answered |");
  console.log("|---|---|---:|---|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const list = results.get(row.id)!;
    const byProcess = row.path.map((name) => `${name} ${fmt(medianOf(list.map((r) => r.throughput.cpu[name]!)), 0)}`).join(", ");
    const isMesh = row.path.some((p) => (meshProcessNames as readonly string[]).includes(p));
    console.log(
      `| ${row.id} | ${row.label} | ${fmt(med(row.id, (r) => r.throughput.requestsPerSec), 0)} | ${byProcess} | ` +
        `${fmt(med(row.id, totalCpu), 0)} | ${isMesh ? fmt(med(row.id, (r) => r.throughput.restOfMesh), 0) : "-"} | ` +
        `${list[0]!.offeredRate} | ${fmt(med(row.id, (r) => r.p50Ms), 2)} ms | ${fmt(med(row.id, (r) => r.p99Ms), 2)} ms | ` +
        `${list.map((r) => r.failedAtRate).reduce((a, b) => a + b, 0)} |`,
    );
  }

  const cpuOf = (name: string) => (r: RoundResult): number => r.throughput.cpu[name]!;
  const rps = (r: RoundResult): number => r.throughput.requestsPerSec;
  const goals = [
    { goal: "service calls/s >= 1.0x the plain grpc-js server", value: ratio("g-mesh", "g-grpcjs", rps), pass: (x: number) => x >= 1 },
    {
      goal: "service CPU per call <= 1.0x the plain grpc-js server",
      value: medianOf(results.get("g-mesh")!.map((r, i) => cpuOf("inventory")(r) / cpuOf("grpc-js-sqlite")(results.get("g-grpcjs")![i]!))),
      pass: (x: number) => x <= 1,
    },
    { goal: "service calls/s >= 0.5x the raw node:http2 ceiling", value: ratio("g-mesh", "g-raw", rps), pass: (x: number) => x >= 0.5 },
    { goal: "gateway req/s >= 1.0x the Fastify + grpc-js edge", value: ratio("r-gateway", "r-fastify", rps), pass: (x: number) => x >= 1 },
    {
      goal: "gateway CPU per request <= 1.0x the Fastify edge's (edge process only)",
      value: medianOf(results.get("r-gateway")!.map((r, i) => cpuOf("gateway")(r) / cpuOf("fastify-edge")(results.get("r-fastify")![i]!))),
      pass: (x: number) => x <= 1,
    },
    {
      goal: `gateway p50 overhead <= 0.3 ms over a direct Connect JSON call (HTTP/1.1, ${settings.restRate}/s offered)`,
      value: medianOf(results.get("r-gateway")!.map((r, i) => r.p50Ms - results.get("d-mesh")![i]!.p50Ms)),
      pass: (x: number) => x <= 0.3,
      unit: " ms",
    },
  ];
  console.log();
  console.log("| goal (issue 14) | measured (median of per-round ratios) | met |");
  console.log("|---|---:|---|");
  for (const g of goals) {
    console.log(`| ${g.goal} | ${fmt(g.value, 2)}${g.unit ?? "x"} | ${g.pass(g.value) ? "met" : "MISSED"} |`);
  }
  const spread = (id: RowId): string => {
    const values = results.get(id)!.map(rps);
    return `${fmt(((Math.max(...values) - Math.min(...values)) / medianOf(values)) * 100, 0)}%`;
  };
  console.log();
  console.log(`spread between rounds (max-min)/median of req/s: ${rows.map((r) => `${r.id} ${spread(r.id)}`).join(", ")}`);
  console.log(`log lines the mesh wrote during the run: ${meshLines}`);

  if (breakdown !== undefined) {
    const names = [...contributors.map((c) => c.name), otherContributor];
    for (const [rowId, perProcess] of breakdown) {
      const row = rows.find((r) => r.id === rowId)!;
      console.log();
      console.log(`CPU µs per request by contributor, ${row.label} (measured CPU split by a profile of the same closed-loop run):`);
      console.log();
      const processes = [...perProcess.keys()];
      console.log(`| contributor | ${processes.join(" | ")} |`);
      console.log(`|---|${processes.map(() => "---:").join("|")}|`);
      for (const name of names) {
        const cells = processes.map((p) => perProcess.get(p)!.get(name) ?? 0);
        if (cells.every((c) => c < 0.5)) {
          continue;
        }
        console.log(`| ${name} | ${cells.map((c) => fmt(c, 0)).join(" | ")} |`);
      }
      const totals = processes.map((p) => [...perProcess.get(p)!.values()].reduce((a, b) => a + b, 0));
      console.log(`| total | ${totals.map((t) => fmt(t, 0)).join(" | ")} |`);
    }
  }

  const elapsedS = (Date.now() - started) / 1000;
  console.log();
  console.log(`bench/defaults.ts took ${fmt(elapsedS / 60, 1)} min`);
  writeResults("defaults", {
    date: new Date().toISOString(),
    command: benchCommand(import.meta.url),
    versions: { node: process.version, h2load: version, fastify: packageVersion("fastify"), grpcJs: packageVersion("@grpc/grpc-js") },
    machine: { cpu: cpus()[0]?.model, cores: machineCores, os: `Linux ${release()}`, loadAverageAtStart: loadAtStart },
    pinned,
    settings,
    rows: rows.map((row) => ({ ...row, rounds: results.get(row.id) })),
    goals: goals.map((g) => ({ goal: g.goal, value: g.value, met: g.pass(g.value) })),
    ...(breakdown === undefined
      ? {}
      : { breakdown: Object.fromEntries([...breakdown].map(([id, m]) => [id, Object.fromEntries([...m].map(([p, c]) => [p, Object.fromEntries(c)]))])) }),
    elapsedS,
  });
}
