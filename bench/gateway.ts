// The gateway's REST route against a direct Connect JSON call to the same
// service and a minimal node:http ceiling, side by side in one run, with wrk
// as the load generator.
//
//   npx tsx bench/gateway.ts [--rounds 3] [--duration 10] [--latency-duration 5]
//                            [--connections 64] [--warmup 3] [--cpu-prof]
//
// (g) GET /v1/inventory/items/MUG-001 through the gateway (gateway process +
//     the real inventory service process);
// (d) POST /meshwork.inventory.v1.InventoryService/GetItem straight to the
//     inventory service, Connect JSON over HTTP/1.1;
// (c) a node:http handler answering the gateway's own response bytes, canned;
// (g+) the same route in the production configuration: the gateway and the
//     inventory mains exactly as a user runs them (info logs to a pipe this
//     process drains, metrics, tracing wiring from OTEL_* with nothing
//     exported, mTLS between them with certificates of a CA made here),
//     against the same (d) baseline. (g), (d) and (c) run stripped (logs at
//     warn, MESH_INSECURE=1: plaintext, so that wrk can call (d)).
// Servers run pinned to core 0, wrk (and this process) to core 1. Per round
// and target: wrk -t1 -c64 for throughput, then wrk -t1 -c1 --latency for
// latency. CPU per request is the utime+stime delta (/proc/<pid>/stat) of
// every process in the path, and their descendants, over the wrk run divided
// by the requests wrk completed. Figures are medians over rounds; compare
// ratios within one run only. Any non-2xx/3xx response or socket error fails
// the run. --cpu-prof adds, after the measured rounds, a c64 run against a
// second gateway started with node --cpu-prof, and summarizes the profile.
// Results go to bench/results/gateway.json.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, release, tmpdir, type as osType } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { positive } from "./support/cli-args.js";
import { summarizeProfile, type ProfileSummary } from "./support/cpu-profile-summary.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { clockTicksPerSecond, procTreeCpuUs } from "./support/proc-cpu.js";
import { limitRun } from "./support/run-limit.js";
import { freePort, ServerProcess } from "./support/server-process.js";
import { runWrk, wrkCommand, wrkVersion, type WrkResult } from "./support/wrk.js";
import { buildApiImage } from "../scripts/support/api-image.js";
import { defaultTrustDomain, MeshCa, workloadId, writeCredentialFiles } from "../mesh/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const resultsDir = join(root, "bench", "results");

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    "latency-duration": { type: "string", default: "5" },
    connections: { type: "string", default: "64" },
    warmup: { type: "string", default: "3" },
    "cpu-prof": { type: "boolean", default: false },
  },
});
const settings = {
  rounds: positive("rounds", args.rounds, 20),
  throughputDurationS: positive("duration", args.duration, 600),
  latencyDurationS: positive("latency-duration", args["latency-duration"], 600),
  connections: positive("connections", args.connections, 10_000),
  warmupDurationS: positive("warmup", args.warmup, 600),
  wrkThreads: 1,
  sku: "MUG-001",
  rateLimitPerSecond: 1_000_000_000,
  rateLimitBurst: 1_000_000_000,
  logLevel: "warn",
  /** For the whole run. */
  timeLimitMs: 20 * 60_000,
};
const targetsSpec = {
  throughputRatioMin: 0.5,
  p50OverheadMaxMs: 0.3,
};

type Kind = "gateway" | "production" | "direct" | "ceiling";
const labels: Record<Kind, string> = {
  gateway: "(g) gateway REST GET → inventory (Connect, gRPC), stripped",
  production: "(g+) the same, production configuration (info logs, metrics, tracing wiring, mTLS)",
  direct: "(d) inventory direct, Connect JSON POST over HTTP/1.1",
  ceiling: "(c) node:http canned JSON (ceiling)",
};
const kinds: readonly Kind[] = ["gateway", "production", "direct", "ceiling"];

interface Run {
  wrk: WrkResult;
  /** CPU µs per request, all processes in the path. */
  cpuUsPerRequest: number;
  /** Per process, µs per request. */
  cpuUsPerRequestByProcess: Record<string, number>;
}
interface Round {
  round: number;
  throughput: Run;
  latency: Run;
}

const version = wrkVersion();
if (version === undefined) {
  console.error("wrk is not installed. Install it with: apt-get install -y wrk");
  process.exit(1);
}

/** Read before this process pins itself: availableParallelism() follows the affinity mask. */
const machineCores = availableParallelism();
const pinned = canPin(machineCores);
const serverCore = pinned ? 0 : undefined;
const loadCore = pinned ? 1 : undefined;
const servers: ServerProcess[] = [];
let wrkChild: ChildProcess | undefined;
const tmp = mkdtempSync(join(tmpdir(), "meshwork-bench-gateway-"));
/** Filled in once the ports are known. */
const urls: Record<Kind, string> = { gateway: "", production: "", direct: "", ceiling: "" };
const pathOf: Record<Kind, ServerProcess[]> = { gateway: [], production: [], direct: [], ceiling: [] };
let luaScript = "";

const killAll = (): void => {
  if (wrkChild?.pid !== undefined && wrkChild.exitCode === null && wrkChild.signalCode === null) {
    wrkChild.kill("SIGKILL");
  }
  for (const server of servers) {
    server.killNow();
  }
  rmSync(tmp, { recursive: true, force: true });
};
const clearLimit = limitRun({ cleanup: killAll, limitMs: settings.timeLimitMs, sigterm: true });

let exitCode = 0;
try {
  const pinFailure = pinned ? pinSelf(1) : undefined;
  if (pinFailure !== undefined) {
    throw new Error(`taskset on this process failed: ${pinFailure}`);
  }
  console.log(
    `${settings.rounds} rounds; per target wrk -t1 -c${settings.connections} -d${settings.throughputDurationS}s, ` +
      `then wrk -t1 -c1 -d${settings.latencyDurationS}s --latency; ` +
      (pinned ? "servers on core 0, wrk on core 1" : notPinnedNote),
  );

  // --- servers ---
  const [inventoryPort, gatewayPort, ceilingPort] = [await freePort(), await freePort(), await freePort()];
  const commonEnv = { HOST: "127.0.0.1", LOG_LEVEL: settings.logLevel, MESH_INSECURE: "1" };
  const inventory = startServer("inventory", join(root, "services", "inventory", "main.ts"), {
    ...commonEnv,
    PORT: String(inventoryPort),
    DATA_DIR: join(tmp, "inventory"),
  });
  const gatewayEnv = {
    ...commonEnv,
    PORT: String(gatewayPort),
    DATA_DIR: join(tmp, "gateway"),
    INVENTORY_URL: `http://127.0.0.1:${inventoryPort}`,
    // Not called by this bench; closed ports (every upstream of gateway/gateway.yaml needs one).
    ORDERS_URL: `http://127.0.0.1:${await freePort()}`,
    NOTIFICATIONS_URL: `http://127.0.0.1:${await freePort()}`,
    // The descriptors gateway/gateway.yaml names.
    API_IMAGE: await buildApiImage(join(tmp, "api.binpb")),
    RATE_LIMIT_PER_SECOND: String(settings.rateLimitPerSecond),
    RATE_LIMIT_BURST: String(settings.rateLimitBurst),
    // wrk is one client (one address, one subject): by default one subject
    // gets a quarter of the gateway's bulkhead, and the rest of wrk's
    // connections would be refused 429, as an abusive client's are.
    GATEWAY_BULKHEAD_SHARE_PERCENT: "100",
  };
  const gateway = startServer("gateway", join(root, "gateway", "main.ts"), gatewayEnv);

  // The production pair: each main with its own mTLS identity, everything else as it defaults.
  const ca = await MeshCa.create(defaultTrustDomain);
  const tlsDir = async (name: string): Promise<string> => {
    const dir = join(tmp, "tls", name);
    writeCredentialFiles(dir, await ca.issue(workloadId(defaultTrustDomain, "service", name), { ttlMs: 24 * 3_600_000 }));
    return dir;
  };
  const [inventoryProdPort, gatewayProdPort] = [await freePort(), await freePort()];
  const productionEnv = { HOST: "127.0.0.1", LOG_LEVEL: "info", MESH_INSECURE: "" };
  const inventoryProd = startServer("inventory (production)", join(root, "services", "inventory", "main.ts"), {
    ...productionEnv,
    PORT: String(inventoryProdPort),
    DATA_DIR: join(tmp, "inventory-production"),
    MESH_TLS_DIR: await tlsDir("inventory"),
  });
  const gatewayProd = startServer("gateway (production)", join(root, "gateway", "main.ts"), {
    ...productionEnv,
    PORT: String(gatewayProdPort),
    DATA_DIR: join(tmp, "gateway-production"),
    MESH_TLS_DIR: await tlsDir("gateway"),
    INVENTORY_URL: `https://127.0.0.1:${inventoryProdPort}`,
    ORDERS_URL: `https://127.0.0.1:${await freePort()}`,
    NOTIFICATIONS_URL: `https://127.0.0.1:${await freePort()}`,
    API_IMAGE: gatewayEnv.API_IMAGE,
    RATE_LIMIT_PER_SECOND: String(settings.rateLimitPerSecond),
    RATE_LIMIT_BURST: String(settings.rateLimitBurst),
    // wrk is one client (one address, one subject): by default one subject
    // gets a quarter of the gateway's bulkhead, and the rest of wrk's
    // connections would be refused 429, as an abusive client's are.
    GATEWAY_BULKHEAD_SHARE_PERCENT: "100",
  });

  urls.gateway = `http://127.0.0.1:${gatewayPort}/v1/inventory/items/${settings.sku}`;
  urls.production = `http://127.0.0.1:${gatewayProdPort}/v1/inventory/items/${settings.sku}`;
  urls.direct = `http://127.0.0.1:${inventoryPort}/meshwork.inventory.v1.InventoryService/GetItem`;
  urls.ceiling = `http://127.0.0.1:${ceilingPort}/v1/inventory/items/${settings.sku}`;
  const directBody = JSON.stringify({ sku: settings.sku });
  const call = (kind: Kind): Promise<Response> =>
    kind === "direct"
      ? fetch(urls.direct, { method: "POST", headers: { "content-type": "application/json", "connect-protocol-version": "1" }, body: directBody })
      : fetch(urls[kind]);
  const answers200 = async (kind: Kind): Promise<boolean> => (await call(kind)).status === 200;

  await inventory.waitReady(() => answers200("direct"), 60_000);
  await gateway.waitReady(() => answers200("gateway"), 60_000);
  // Over mTLS inventory answers only mesh identities: it is up once the production gateway gets the item through it.
  await inventoryProd.waitReady(() => answers200("production"), 60_000);
  await gatewayProd.waitReady(() => answers200("production"), 60_000);
  const gatewayAnswer = await (await call("gateway")).text();
  // The ceiling answers exactly the gateway's bytes.
  const ceiling = startServer("ceiling", join(root, "bench", "support", "ceiling-http.ts"), {
    ...commonEnv,
    PORT: String(ceilingPort),
    CANNED_BODY: gatewayAnswer,
  });
  await ceiling.waitReady(() => answers200("ceiling"), 30_000);

  // Every target answers 200 with the item.
  const answers: Record<string, unknown> = {};
  for (const kind of kinds) {
    const response = await call(kind);
    const text = await response.text();
    answers[kind] = { status: response.status, body: text };
    if (response.status !== 200 || !text.includes(`"${settings.sku}"`)) {
      throw new Error(`${kind}: expected 200 with ${settings.sku}, got ${response.status} ${text}`);
    }
  }
  console.log(`gateway answers: ${gatewayAnswer}`);

  pathOf.gateway = [gateway, inventory];
  pathOf.production = [gatewayProd, inventoryProd];
  pathOf.direct = [inventory];
  pathOf.ceiling = [ceiling];
  const script = join(tmp, "connect-post.lua");
  luaScript = [
    `wrk.method = "POST"`,
    `wrk.body = '${directBody}'`,
    `wrk.headers["Content-Type"] = "application/json"`,
    `wrk.headers["Connect-Protocol-Version"] = "1"`,
    "",
  ].join("\n");
  writeFileSync(script, luaScript);
  const scriptOf = (kind: Kind): string | undefined => (kind === "direct" ? script : undefined);

  const measure = async (kind: Kind, connections: number, durationS: number, processes = pathOf[kind]): Promise<Run> => {
    const before = processes.map((p) => procTreeCpuUs(p.pid));
    const wrk = await runWrk(
      { url: urls[kind], threads: settings.wrkThreads, connections, durationS, script: scriptOf(kind), core: loadCore },
      (child) => (wrkChild = child),
    );
    const after = processes.map((p) => procTreeCpuUs(p.pid));
    const errors = wrk.socketErrors;
    if (wrk.non2xx3xx > 0 || errors.connect + errors.read + errors.write + errors.timeout > 0 || wrk.requests === 0) {
      throw new Error(
        `${kind}: ${wrk.non2xx3xx} non-2xx/3xx responses, socket errors ${JSON.stringify(errors)}, ` +
          `${wrk.requests} requests (${wrk.command})`,
      );
    }
    const byProcess: Record<string, number> = {};
    processes.forEach((p, i) => (byProcess[p.name] = (after[i]! - before[i]!) / wrk.requests));
    return {
      wrk,
      cpuUsPerRequest: Object.values(byProcess).reduce((a, b) => a + b, 0),
      cpuUsPerRequestByProcess: byProcess,
    };
  };

  // --- warm-up ---
  for (const kind of kinds) {
    await measure(kind, settings.connections, settings.warmupDurationS);
  }

  // --- rounds: targets in turn, so drift hits them alike ---
  const rounds = new Map<Kind, Round[]>(kinds.map((k) => [k, []]));
  for (let r = 1; r <= settings.rounds; r++) {
    for (const kind of kinds) {
      const throughput = await measure(kind, settings.connections, settings.throughputDurationS);
      const latency = await measure(kind, 1, settings.latencyDurationS);
      rounds.get(kind)!.push({ round: r, throughput, latency });
      console.log(
        `  round ${r} ${kind.padEnd(7)} c${settings.connections}: ${fmt(throughput.wrk.requestsPerSec, 0)} req/s, ` +
          `${fmt(throughput.cpuUsPerRequest, 1)} µs CPU/req; c1: p50 ${fmt(latency.wrk.p50Ms, 3)} ms, ` +
          `p99 ${fmt(latency.wrk.p99Ms, 3)} ms, ${fmt(latency.cpuUsPerRequest, 1)} µs CPU/req`,
      );
    }
  }

  // --- optional profile of the gateway under c64 ---
  let profile: ProfileSummary | undefined;
  if (args["cpu-prof"]) {
    const profileDir = join(resultsDir, "profiles");
    mkdirSync(profileDir, { recursive: true });
    const existing = new Set(readdirSync(profileDir));
    const profiledPort = await freePort();
    const profiled = startServer(
      "gateway-profiled",
      join(root, "gateway", "main.ts"),
      { ...gatewayEnv, PORT: String(profiledPort), DATA_DIR: join(tmp, "gateway-profiled") },
      ["--cpu-prof", "--cpu-prof-dir", profileDir],
    );
    const profiledUrl = `http://127.0.0.1:${profiledPort}/v1/inventory/items/${settings.sku}`;
    await profiled.waitReady(async () => (await fetch(profiledUrl)).status === 200, 60_000);
    const saved = urls.gateway;
    urls.gateway = profiledUrl;
    // Warm the profiled gateway up, then sample only the measured run.
    await measure("gateway", settings.connections, settings.warmupDurationS, [profiled, inventory]);
    const from = Number(process.hrtime.bigint() / 1000n);
    const run = await measure("gateway", settings.connections, settings.throughputDurationS, [profiled, inventory]);
    const to = Number(process.hrtime.bigint() / 1000n);
    urls.gateway = saved;
    console.log(`  profiled gateway c${settings.connections}: ${fmt(run.wrk.requestsPerSec, 0)} req/s (profiler on)`);
    await profiled.stop(15_000);
    // One file per thread; the main thread's is thread 0 (the others are tsx's loader worker).
    const written = readdirSync(profileDir)
      .filter((f) => f.endsWith(".cpuprofile") && !existing.has(f))
      .sort((a, b) => Number(/\.0\.\d+\.cpuprofile$/.test(b)) - Number(/\.0\.\d+\.cpuprofile$/.test(a)));
    if (written.length === 0) {
      console.error("the profiled gateway wrote no .cpuprofile");
    } else {
      profile = summarizeProfile(join(profileDir, written[0]!), 30, root, [from, to]);
    }
  }

  // A missed target is a finding to report, not a broken run: make bench goes on.
  report(rounds, answers, profile);
} catch (err) {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  for (const server of servers) {
    if (server.log !== "") {
      console.error(`--- ${server.name} output (tail) ---\n${server.log}`);
    }
  }
  exitCode = 1;
} finally {
  if (wrkChild?.pid !== undefined && wrkChild.exitCode === null && wrkChild.signalCode === null) {
    wrkChild.kill("SIGKILL");
  }
  await Promise.all(servers.map((server) => server.stop()));
  rmSync(tmp, { recursive: true, force: true });
  clearLimit();
}
process.exitCode = exitCode;

function processNames(kind: Kind): string[] {
  return pathOf[kind].map((p) => p.name);
}

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function startServer(name: string, main: string, env: Record<string, string>, nodeArgs: string[] = []): ServerProcess {
  const server = ServerProcess.start({ name, main, cwd: root, env, nodeArgs, ...(serverCore === undefined ? {} : { core: serverCore }) });
  servers.push(server);
  return server;
}

/** Prints the table and verdicts, writes the JSON; true when every target is met. */
function report(rounds: Map<Kind, Round[]>, answers: Record<string, unknown>, profile: ProfileSummary | undefined): boolean {
  const summary = Object.fromEntries(
    kinds.map((kind) => {
      const list = rounds.get(kind)!;
      const median = (pick: (r: Round) => number): number => medianOf(list.map(pick));
      return [
        kind,
        {
          label: labels[kind],
          url: urls[kind],
          processes: processNames(kind),
          throughput: {
            requestsPerSec: median((r) => r.throughput.wrk.requestsPerSec),
            p50Ms: median((r) => r.throughput.wrk.p50Ms),
            p99Ms: median((r) => r.throughput.wrk.p99Ms),
            cpuUsPerRequest: median((r) => r.throughput.cpuUsPerRequest),
          },
          latency: {
            requestsPerSec: median((r) => r.latency.wrk.requestsPerSec),
            p50Ms: median((r) => r.latency.wrk.p50Ms),
            p99Ms: median((r) => r.latency.wrk.p99Ms),
            cpuUsPerRequest: median((r) => r.latency.cpuUsPerRequest),
          },
          rounds: list,
        },
      ];
    }),
  ) as Record<Kind, {
    label: string;
    url: string;
    processes: string[];
    throughput: { requestsPerSec: number; p50Ms: number; p99Ms: number; cpuUsPerRequest: number };
    latency: { requestsPerSec: number; p50Ms: number; p99Ms: number; cpuUsPerRequest: number };
    rounds: Round[];
  }>;
  const g = summary.gateway;
  const d = summary.direct;
  const perRoundRatio = g.rounds.map((r, i) => r.throughput.wrk.requestsPerSec / d.rounds[i]!.throughput.wrk.requestsPerSec);
  const perRoundOverhead = g.rounds.map((r, i) => r.latency.wrk.p50Ms - d.rounds[i]!.latency.wrk.p50Ms);
  const throughputRatio = g.throughput.requestsPerSec / d.throughput.requestsPerSec;
  const p50OverheadMs = g.latency.p50Ms - d.latency.p50Ms;
  const throughputPass = throughputRatio >= targetsSpec.throughputRatioMin;
  const latencyPass = p50OverheadMs <= targetsSpec.p50OverheadMaxMs;

  console.log();
  console.log(
    `| target | processes | c${settings.connections} req/s | vs (d) | c${settings.connections} p50 | c${settings.connections} p99 | ` +
      `CPU µs/req (c${settings.connections}) | c1 p50 | c1 p99 | c1 req/s | CPU µs/req (c1) |`,
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const kind of kinds) {
    const s = summary[kind];
    console.log(
      `| ${s.label} | ${s.processes.join(" + ")} | ${fmt(s.throughput.requestsPerSec, 0)} | ` +
        `${fmt(s.throughput.requestsPerSec / d.throughput.requestsPerSec, 2)}x | ${fmt(s.throughput.p50Ms, 2)} ms | ` +
        `${fmt(s.throughput.p99Ms, 2)} ms | ${fmt(s.throughput.cpuUsPerRequest, 1)} | ${fmt(s.latency.p50Ms, 3)} ms | ` +
        `${fmt(s.latency.p99Ms, 3)} ms | ${fmt(s.latency.requestsPerSec, 0)} | ${fmt(s.latency.cpuUsPerRequest, 1)} |`,
    );
  }
  const split = (kind: Kind, phase: "throughput" | "latency"): string => {
    const list = rounds.get(kind)!;
    return processNames(kind)
      .map((name) => `${name} ${fmt(medianOf(list.map((r) => r[phase].cpuUsPerRequestByProcess[name]!)), 1)}`)
      .join(", ");
  };
  console.log();
  console.log(
    `CPU µs/req by process (c${settings.connections}): gateway path: ${split("gateway", "throughput")}; ` +
      `production path: ${split("production", "throughput")}; direct: ${split("direct", "throughput")}`,
  );
  console.log(
    `CPU µs/req by process (c1): gateway path: ${split("gateway", "latency")}; ` +
      `production path: ${split("production", "latency")}; direct: ${split("direct", "latency")}`,
  );
  const p = summary.production;
  console.log(
    `production (g+) against stripped (g): ${fmt(p.throughput.requestsPerSec / g.throughput.requestsPerSec, 2)}x req/s at c${settings.connections}, ` +
      `${fmt(p.throughput.cpuUsPerRequest / g.throughput.cpuUsPerRequest, 2)}x CPU per request, c1 p50 ${fmt(p.latency.p50Ms - g.latency.p50Ms, 3)} ms more; ` +
      `(g+) against (d): ${fmt(p.throughput.requestsPerSec / d.throughput.requestsPerSec, 2)}x req/s, c1 p50 overhead ${fmt(p.latency.p50Ms - d.latency.p50Ms, 3)} ms`,
  );
  console.log();
  const verdicts = [
    `${throughputPass ? "PASS" : "MISS"}: gateway throughput >= ${targetsSpec.throughputRatioMin}x direct Connect JSON: ` +
      `${fmt(throughputRatio, 2)}x (${fmt(g.throughput.requestsPerSec, 0)} vs ${fmt(d.throughput.requestsPerSec, 0)} req/s, medians; ` +
      `per round ${perRoundRatio.map((x) => fmt(x, 2)).join(", ")})`,
    `${latencyPass ? "PASS" : "MISS"}: c1 p50 overhead <= ${targetsSpec.p50OverheadMaxMs} ms: ` +
      `${fmt(p50OverheadMs, 3)} ms (${fmt(g.latency.p50Ms, 3)} - ${fmt(d.latency.p50Ms, 3)} ms, medians; ` +
      `per round ${perRoundOverhead.map((x) => fmt(x, 3)).join(", ")})`,
  ];
  for (const line of verdicts) {
    console.log(line);
  }

  if (profile !== undefined) {
    console.log();
    console.log(
      `gateway CPU profile, c${settings.connections} run only${profile.windowUs === undefined ? " (window held no samples: whole profile)" : ""}: ` +
        `${fmt(profile.totalMs, 0)} ms busy (+ ${fmt(profile.idleMs, 0)} ms idle), percentages of busy time: ${profile.file}`,
    );
    console.log("  self time by file/package:");
    for (const s of profile.selfByFile.slice(0, 15)) {
      console.log(`    ${fmt(s.percent, 1).padStart(5)}%  ${s.name}`);
    }
    console.log("  self time by function:");
    for (const s of profile.selfByFunction.slice(0, 20)) {
      console.log(`    ${fmt(s.percent, 1).padStart(5)}%  ${s.name}`);
    }
    console.log("  inclusive time by function:");
    for (const s of profile.inclusiveByFunction.slice(0, 25)) {
      console.log(`    ${fmt(s.percent, 1).padStart(5)}%  ${s.name}`);
    }
  }

  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, "gateway.json");
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        command: ["npx", "tsx", "bench/gateway.ts", ...process.argv.slice(2)].join(" "),
        versions: { node: process.version, wrk: version, tsx: packageVersion("tsx"), connectNode: packageVersion("@connectrpc/connect-node") },
        machine: {
          cpu: cpus()[0]?.model,
          cores: machineCores,
          os: `${osType()} ${release()}`,
          clockTicksPerSecond,
        },
        pinned,
        placement: pinned ? { servers: "core 0 (taskset -c 0)", wrk: "core 1 (taskset -c 1)", benchProcess: "core 1" } : "not pinned",
        settings: { ...settings, gatewayEnv: { RATE_LIMIT_PER_SECOND: settings.rateLimitPerSecond, RATE_LIMIT_BURST: settings.rateLimitBurst, GATEWAY_BULKHEAD_SHARE_PERCENT: 100, LOG_LEVEL: settings.logLevel } },
        wrkCommands: Object.fromEntries(
          kinds.map((kind) => [
            kind,
            {
              throughput: wrkCommand({ url: urls[kind], threads: 1, connections: settings.connections, durationS: settings.throughputDurationS, script: kind === "direct" ? "<tmp>/connect-post.lua" : undefined, core: pinned ? 1 : undefined }).join(" "),
              latency: wrkCommand({ url: urls[kind], threads: 1, connections: 1, durationS: settings.latencyDurationS, script: kind === "direct" ? "<tmp>/connect-post.lua" : undefined, core: pinned ? 1 : undefined }).join(" "),
            },
          ]),
        ),
        directLuaScript: luaScript,
        serverCommands: servers.map((s) => ({ name: s.name, command: s.command })),
        answers,
        targets: {
          throughputRatio: { min: targetsSpec.throughputRatioMin, value: throughputRatio, perRound: perRoundRatio, pass: throughputPass },
          c1P50OverheadMs: { max: targetsSpec.p50OverheadMaxMs, value: p50OverheadMs, perRound: perRoundOverhead, pass: latencyPass },
        },
        verdicts,
        results: summary,
        ...(profile === undefined ? {} : { gatewayProfile: profile }),
      },
      null,
      2,
    )}\n`,
  );
  console.log();
  console.log(`results: ${file}`);
  return throughputPass && latencyPass;
}
