// What mTLS costs a mesh call, in the production configuration: the real
// inventory main (serviceRuntime: info logs, metrics, the whole serve() chain,
// caller checks with mTLS) called by the mesh's own client stack (ClientFactory:
// deadline, breaker, retry, bulkhead, balancer, the h2 transport), once with
// MESH_INSECURE=1 and once over mTLS, in one run.
//
//   node --import tsx bench/mtls.ts [--calls 10000] [--warmup 2000] [--rounds 3]
//                                   [--concurrency 64] [--handshakes 40]
//
// Both inventory processes run pinned to core 0, this process (the caller)
// to core 1. Rounds alternate the two modes; figures are medians over
// rounds: calls/s and latency at `concurrency` in flight on one reused HTTP/2
// session (connection set-up excluded: warm-up first), server and caller CPU
// per call (/proc and process.cpuUsage). Connection set-up is measured apart:
// a fresh client's first call (TCP, TLS 1.3 handshake with both
// certificates, HTTP/2 preface) against a warm call. The issue's goals:
// calls/s >= 0.85x and p50 <= +0.1 ms over mTLS. Results also go to
// bench/results/mtls.json.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Client } from "@connectrpc/connect";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import {
  ClientFactory,
  credentialFilesIn,
  MeshCa,
  WorkloadCredentials,
  workloadId,
  writeCredentialFiles,
  type ClientTarget,
} from "../mesh/index.js";
import { positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { percentile } from "./support/percentile.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { procCpuUs } from "./support/proc-cpu.js";
import { benchCommand, writeResults } from "./support/results-file.js";
import { limitRun } from "./support/run-limit.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    calls: { type: "string", default: "10000" },
    warmup: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    handshakes: { type: "string", default: "40" },
  },
});
const settings = {
  calls: positive("calls", args.calls, 1_000_000),
  warmup: positive("warmup", args.warmup, 1_000_000),
  rounds: positive("rounds", args.rounds, 20),
  concurrency: positive("concurrency", args.concurrency, 1_000),
  handshakes: positive("handshakes", args.handshakes, 1_000),
};

type Mode = "plaintext" | "mtls";
interface Server {
  readonly mode: Mode;
  readonly child: ChildProcess;
  readonly url: string;
}
interface Round {
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerCall: number;
  clientCpuUsPerCall: number;
}

const pinned = canPin();
if (pinned) {
  pinSelf(1);
}
const work = mkdtempSync(join(tmpdir(), "meshwork-bench-mtls-"));
const servers: Server[] = [];
const stopLimit = limitRun({
  limitMs: 20 * 60_000,
  cleanup: () => {
    servers.forEach((s) => s.child.kill("SIGKILL"));
    rmSync(work, { recursive: true, force: true });
  },
});

const ca = await MeshCa.create("meshwork.local");
const dirOf = async (name: string): Promise<string> => {
  const dir = join(work, "tls", name);
  writeCredentialFiles(dir, await ca.issue(workloadId("meshwork.local", "service", name), { ttlMs: 3600_000 }));
  return dir;
};
const inventoryTls = await dirOf("inventory");
// The caller is orders, which the contract lets call GetItem.
const ordersTls = new WorkloadCredentials(credentialFilesIn(await dirOf("orders")));

servers.push(await startInventory("plaintext", { MESH_INSECURE: "1" }));
servers.push(await startInventory("mtls", { MESH_TLS_DIR: inventoryTls }));

// The production client chain; a deadline generous enough that a loaded
// machine slows the run down instead of failing it.
const target = (server: Server): ClientTarget => ({ name: "inventory", endpoints: server.url, timeouts: { defaultTimeoutMs: 60_000 } });
const factoryFor = (mode: Mode): ClientFactory => new ClientFactory(mode === "mtls" ? { tls: ordersTls } : {});

console.log(
  `mTLS against plaintext: inventory's main (production configuration) called by the mesh client stack, ` +
    `${settings.calls} calls x ${settings.rounds} rounds at ${settings.concurrency} in flight; ${pinned ? "server core 0, caller core 1" : notPinnedNote}`,
);

const rounds: Record<Mode, Round[]> = { plaintext: [], mtls: [] };
const factories = { plaintext: factoryFor("plaintext"), mtls: factoryFor("mtls") };
for (let round = 0; round < settings.rounds; round++) {
  const order: Mode[] = round % 2 === 0 ? ["plaintext", "mtls"] : ["mtls", "plaintext"];
  for (const mode of order) {
    const server = servers.find((s) => s.mode === mode)!;
    const client = factories[mode].client(InventoryService, target(server));
    await load(client, settings.warmup);
    rounds[mode].push(await measure(client, server));
  }
}

const setup: Record<Mode, { firstCallMs: number; warmCallMs: number }> = {
  plaintext: await connectionSetup("plaintext"),
  mtls: await connectionSetup("mtls"),
};

const med = (mode: Mode, key: keyof Round): number => medianOf(rounds[mode].map((r) => r[key]));
const rows: [string, keyof Round, number][] = [
  ["calls/s", "callsPerSec", 0],
  ["p50 ms", "p50Ms", 3],
  ["p99 ms", "p99Ms", 3],
  ["server CPU µs/call", "serverCpuUsPerCall", 1],
  ["caller CPU µs/call", "clientCpuUsPerCall", 1],
];
console.log("\n| measure (median of rounds) | (a) plaintext | (b) mTLS | (b)/(a) |");
console.log("|---|---|---|---|");
for (const [label, key, digits] of rows) {
  const a = med("plaintext", key);
  const b = med("mtls", key);
  console.log(`| ${label} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${fmt(b / a, 2)}x |`);
}
console.log("\nConnection set-up, apart (median of a fresh client's first call; warm call for comparison):");
console.log("| | (a) plaintext | (b) mTLS |");
console.log("|---|---|---|");
console.log(`| first call on a new connection, ms | ${fmt(setup.plaintext.firstCallMs, 2)} | ${fmt(setup.mtls.firstCallMs, 2)} |`);
console.log(`| a call on the open connection, ms | ${fmt(setup.plaintext.warmCallMs, 3)} | ${fmt(setup.mtls.warmCallMs, 3)} |`);
const ratio = med("mtls", "callsPerSec") / med("plaintext", "callsPerSec");
const p50Delta = med("mtls", "p50Ms") - med("plaintext", "p50Ms");
console.log(
  `\ngoals: calls/s ${fmt(ratio, 2)}x (goal >= 0.85x: ${ratio >= 0.85 ? "met" : "MISSED"}); ` +
    `p50 ${p50Delta >= 0 ? "+" : ""}${fmt(p50Delta, 3)} ms (goal <= +0.1 ms: ${p50Delta <= 0.1 ? "met" : "MISSED"}); ` +
    `handshake ${fmt(setup.mtls.firstCallMs - setup.plaintext.firstCallMs, 2)} ms more per new connection, paid once per connection (one HTTP/2 session per endpoint, reused)`,
);

writeResults("mtls", {
  command: benchCommand(import.meta.url),
  settings,
  pinned,
  rounds,
  medians: Object.fromEntries((["plaintext", "mtls"] as const).map((m) => [m, Object.fromEntries(rows.map(([, k]) => [k, med(m, k)]))])),
  setup,
  goals: { callsPerSecRatio: ratio, p50DeltaMs: p50Delta },
});

factories.plaintext.close();
factories.mtls.close();
ordersTls.close();
await Promise.all(servers.map(stopServer));
rmSync(work, { recursive: true, force: true });
stopLimit();

async function startInventory(mode: Mode, env: Record<string, string>): Promise<Server> {
  const main = join(root, "services", "inventory", "main.ts");
  const [file, ...argv] = pinned
    ? ["taskset", "-c", "0", process.execPath, "--import", "tsx", main]
    : [process.execPath, "--import", "tsx", main];
  const child = spawn(file!, argv, {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", DATA_DIR: join(work, `data-${mode}`), ...env },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`inventory (${mode}) exited with ${code} before serving`)));
    // The serving line gives the URL; the rest (one info line per call) is drained.
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"msg":"serving"')) {
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
  });
  return { mode, child, url };
}

function stopServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) {
      resolve();
      return;
    }
    server.child.once("exit", () => resolve());
    server.child.kill("SIGTERM");
  });
}

type Inventory = Client<typeof InventoryService>;

async function load(inventory: Inventory, calls: number, latencies?: Float64Array): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      const i = next++;
      const start = performance.now();
      await inventory.getItem({ sku: "MUG-001" });
      if (latencies !== undefined) {
        latencies[i] = performance.now() - start;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, calls) }, worker));
}

async function measure(client: Inventory, server: Server): Promise<Round> {
  const latencies = new Float64Array(settings.calls);
  const serverBefore = procCpuUs(server.child.pid!);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  await load(client, settings.calls, latencies);
  const elapsedMs = performance.now() - start;
  const clientCpu = process.cpuUsage(clientBefore);
  const serverCpu = procCpuUs(server.child.pid!) - serverBefore;
  latencies.sort();
  return {
    callsPerSec: (settings.calls * 1000) / elapsedMs,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    serverCpuUsPerCall: serverCpu / settings.calls,
    clientCpuUsPerCall: (clientCpu.user + clientCpu.system) / settings.calls,
  };
}

/** A fresh client's first call (its connection set up with it), then one call on that open connection; medians. */
async function connectionSetup(mode: Mode): Promise<{ firstCallMs: number; warmCallMs: number }> {
  const server = servers.find((s) => s.mode === mode)!;
  const first: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < settings.handshakes; i++) {
    const factory = factoryFor(mode);
    const client = factory.client(InventoryService, target(server));
    let start = performance.now();
    await client.getItem({ sku: "MUG-001" });
    first.push(performance.now() - start);
    start = performance.now();
    await client.getItem({ sku: "MUG-001" });
    warm.push(performance.now() - start);
    factory.close();
  }
  return { firstCallMs: medianOf(first), warmCallMs: medianOf(warm) };
}
