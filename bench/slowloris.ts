// What a slowloris attack costs a fresh request (issue 13's "a fresh /healthz
// and a fresh RPC still answer within 100 ms"), as a ratio within one run:
// the same fresh requests with no attack and while 5,000 idle and 500
// dribbling connections are held, against a real gateway and a real service
// (inventory) with their default timeouts. test/e2e/slowloris.test.ts asserts
// that they are answered while every connection is held; this measures how
// fast.
//
//   node --import tsx bench/slowloris.ts [--rounds 3] [--requests 20]
//
// Per target and round: `requests` fresh /healthz (a new connection each)
// and `requests` fresh RPCs (the gateway: REST GET through it to inventory on
// a new connection; inventory: GetItem over gRPC on a new mTLS session), one
// at a time, first quiet, then under attack. The attack's requests must all
// be answered while every held connection is still open (the driver's count
// after them): a round where one was closed meanwhile is reported, not
// counted. Figures are medians over rounds of each round's median and
// slowest; the ratio is under attack / quiet. Results also go to
// bench/results/slowloris.json.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { connectionLimitVariables } from "../mesh/process/connection-limits-from-env.js";
import { defaultConnectionLimits } from "../mesh/server/connection-limits.js";
import { reachableFileLimit } from "../test/support/file-limit.js";
import { startService, type ServiceProcess } from "../test/support/service-process.js";
import { SlowlorisDriver } from "../test/support/slowloris-attack.js";
import { TestClients } from "../test/support/test-identity.js";
import { positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { benchCommand, packageVersion, writeResults } from "./support/results-file.js";

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "3" }, requests: { type: "string", default: "20" } } });
const rounds = positive("rounds", args.rounds!, 20);
const requests = positive("requests", args.requests!, 200);

const shape = { idle: 5_000, dribbling: 500 };
const held = shape.idle + shape.dribbling;
const fileLimit = held + 1_024;

if (reachableFileLimit(fileLimit) < fileLimit) {
  console.error(`this benchmark needs an open-file limit of ${fileLimit} for its child processes (raise it with ulimit -Hn as root)`);
  process.exit(1);
}
const overridden = Object.values(connectionLimitVariables).filter((name) => process.env[name] !== undefined);
if (overridden.length > 0) {
  console.error(`this benchmark runs the processes with their default connection limits; unset ${overridden.join(", ")}`);
  process.exit(2);
}

interface Target {
  readonly name: string;
  readonly process: ServiceProcess;
  /** One fresh RPC, on a new connection. */
  readonly rpc: () => Promise<void>;
}

/** The times of `requests` calls of `call`, one at a time, in ms. */
async function timed(call: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  return times;
}

const healthz = (p: ServiceProcess) => async (): Promise<void> => {
  // A new connection each time: undici's keep-alive pool is bypassed by `connection: close`.
  const res = await fetch(`${p.probeUrl}/healthz`, { headers: { connection: "close" }, signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  if (res.status !== 200) {
    throw new Error(`/healthz answered ${res.status}`);
  }
};

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function untilDescriptors(pid: number, atMost: number): Promise<void> {
  const until = Date.now() + 30_000;
  while (openDescriptors(pid) > atMost) {
    if (Date.now() > until) {
      throw new Error(`pid ${pid}: descriptors not back to ${atMost} after the attack`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface RoundFigures {
  readonly quiet: { readonly healthz: number[]; readonly rpc: number[] };
  readonly attack: { readonly healthz: number[]; readonly rpc: number[] };
  readonly openMs: number;
}

/** One round against one target, or the reason it does not count. */
async function round(target: Target): Promise<RoundFigures | string> {
  const p = target.process;
  const pid = p.child.pid!;
  const quiet = { healthz: await timed(healthz(p)), rpc: await timed(target.rpc) };
  const baseline = openDescriptors(pid);
  const driver = new SlowlorisDriver(shape, fileLimit);
  try {
    const opened = await driver.open(Number(new URL(p.url).port));
    if (opened.open !== held || opened.closedByServer !== 0) {
      return `opening took ${fmt(opened.openMs, 0)} ms, the server closed some before the last was open`;
    }
    const attack = { healthz: await timed(healthz(p)), rpc: await timed(target.rpc) };
    const after = await driver.count();
    if (after.open !== held || after.closedByServer !== 0) {
      return `the server closed ${after.closedByServer} held connections before the last fresh request was answered`;
    }
    return { quiet, attack, openMs: opened.openMs };
  } finally {
    await driver.stop();
    await untilDescriptors(pid, baseline + 2);
  }
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-bench-slowloris-"));
let inventory: ServiceProcess | undefined;
let gateway: ServiceProcess | undefined;
try {
  inventory = await startService("inventory", { DATA_DIR: dataDir }, { fileLimit });
  gateway = await startService(
    "gateway",
    { DATA_DIR: dataDir, INVENTORY_URL: inventory.url, MESH_SERVICES: `inventory=${inventory.url}` },
    { fileLimit },
  );
  const inventoryUrl = inventory.url;
  const gatewayUrl = gateway.url;
  const targets: Target[] = [
    {
      name: "gateway",
      process: gateway,
      rpc: async () => {
        const res = await fetch(`${gatewayUrl}/v1/inventory/items/MUG-001`, { headers: { connection: "close" }, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        if (res.status !== 200) {
          throw new Error(`GET /v1/inventory/items/MUG-001 answered ${res.status}`);
        }
      },
    },
    {
      name: "inventory",
      process: inventory,
      rpc: async () => {
        const fresh = new TestClients();
        try {
          await fresh.client(InventoryService, inventoryUrl).getItem({ sku: "MUG-001" }, { timeoutMs: 30_000 });
        } finally {
          fresh.close();
        }
      },
    },
  ];
  console.log(
    `${rounds} rounds; per target and round ${requests} fresh /healthz and ${requests} fresh RPCs one at a time, quiet then with ${held} connections held (${shape.idle} idle, ${shape.dribbling} dribbling); default timeouts (first byte ${defaultConnectionLimits.firstByteTimeoutMs} ms)`,
  );
  console.log(`machine: ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} cores, Node ${process.version}; load average at start ${os.loadavg().map((l) => fmt(l, 2)).join(", ")}`);
  const results: Record<string, unknown> = {};
  const rows: string[] = [];
  for (const target of targets) {
    // Warm: sessions, the database, the JIT.
    await timed(target.rpc);
    const counted: RoundFigures[] = [];
    for (let r = 0; r < rounds; r++) {
      const figures = await round(target);
      if (typeof figures === "string") {
        console.log(`round ${r + 1} ${target.name}: not counted, ${figures}`);
        continue;
      }
      counted.push(figures);
      const line = (what: "healthz" | "rpc") =>
        `${what} p50 ${fmt(medianOf(figures.quiet[what]), 1)} -> ${fmt(medianOf(figures.attack[what]), 1)} ms, slowest ${fmt(Math.max(...figures.attack[what]), 1)} ms`;
      console.log(`round ${r + 1} ${target.name}: opened in ${fmt(figures.openMs, 0)} ms; ${line("healthz")}; ${line("rpc")}`);
    }
    if (counted.length === 0) {
      rows.push(`| ${target.name} | - | - | - | - | - | no round counted |`);
      continue;
    }
    for (const what of ["healthz", "rpc"] as const) {
      const quiet = medianOf(counted.map((f) => medianOf(f.quiet[what])));
      const attack = medianOf(counted.map((f) => medianOf(f.attack[what])));
      const slowest = medianOf(counted.map((f) => Math.max(...f.attack[what])));
      const request = what === "healthz" ? "/healthz" : target.name === "gateway" ? "REST GET through it" : "gRPC GetItem, new mTLS session";
      rows.push(`| ${target.name} | ${request} | ${fmt(quiet, 1)} ms | ${fmt(attack, 1)} ms | ${fmt(attack / quiet, 2)}x | ${fmt(slowest, 1)} ms | ${counted.length} of ${rounds} |`);
      results[`${target.name}.${what}`] = { quietP50Ms: quiet, attackP50Ms: attack, ratio: attack / quiet, attackSlowestMs: slowest, rounds: counted.length };
    }
  }
  console.log("\n| target | fresh request | p50 quiet | p50 under attack | ratio | slowest under attack (median of rounds) | rounds counted |");
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    console.log(row);
  }
  writeResults("slowloris", { command: benchCommand(import.meta.url), node: process.version, connect: packageVersion("@connectrpc/connect"), rounds, requests, held, results });
} finally {
  await Promise.all([gateway?.stop(), inventory?.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
}
