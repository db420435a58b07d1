import { expect } from "chai";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { reachableFileLimit, withFileLimit } from "../support/file-limit.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { eventually } from "../support/eventually.js";
import { TestClients } from "../support/test-identity.js";

const idle = 5_000;
const dribbling = 500;
/** Descriptors each side needs: the held connections plus the process's own. */
const fileLimit = idle + dribbling + 1_024;
/**
 * The first-byte and headers timeouts of the processes under attack: longer
 * than the defaults (10 s) so that the fresh requests are answered before the
 * first held connections time out even when opening 5,500 connections is slow
 * (15 s seen on a machine shared by many test runs; about 1 s on idle cores).
 */
const attackTimeoutMs = 20_000;
const attackEnv = {
  CONN_FIRST_BYTE_TIMEOUT_MS: String(attackTimeoutMs),
  HTTP_HEADERS_TIMEOUT_MS: String(attackTimeoutMs),
};

interface DriverCount {
  readonly open: number;
  readonly closedByServer: number;
  readonly answered408: number;
}

/** The slowloris driver child (test/support/slowloris-driver.ts), with a raised open-file limit. */
class SlowlorisDriver {
  private readonly child: ChildProcess;
  private readonly replies: ((message: { type: string } & Record<string, unknown>) => void)[] = [];

  constructor() {
    const script = path.resolve(import.meta.dirname, "../support/slowloris-driver.ts");
    const { command, args } = withFileLimit(fileLimit, process.execPath, ["--import", "tsx", script]);
    this.child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (message: { type: string } & Record<string, unknown>) => this.replies.shift()?.(message));
  }

  private ask(command: object): Promise<{ type: string } & Record<string, unknown>> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.send(command);
    });
  }

  async open(port: number): Promise<void> {
    const reply = await this.ask({ type: "open", port, idle, dribbling, dribbleEveryMs: 500 });
    if (reply.type !== "opened") {
      throw new Error(`the driver could not open its connections: ${String(reply.message)}`);
    }
  }

  async count(): Promise<DriverCount> {
    return (await this.ask({ type: "count" })) as unknown as DriverCount;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) {
        resolve();
        return;
      }
      this.child.once("exit", () => resolve());
      this.child.send({ type: "stop" });
    });
  }
}

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The process's TCP sockets as ss prints them (state, addresses), to say what a descriptor left open is. */
function tcpSockets(pid: number): string[] {
  try {
    return execFileSync("ss", ["-tanpH"], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.includes(`pid=${pid},`))
      .map((line) => {
        // State, Recv-Q, Send-Q, local, peer, process: keep the state and the addresses.
        const [state, , , local, peer] = line.trim().split(/\s+/);
        return `${state} ${local} ${peer}`;
      });
  } catch (err) {
    return [`ss failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}

/**
 * Slowloris against a real gateway and a real service: 5,000 connections that never send a byte and 500 that dribble
 * HTTP/1.1 headers forever. Fresh requests are still answered while all of
 * them are held; the idle ones are closed by the first-byte timeout, the
 * dribbling ones by the headers timeout (408); descriptors come back.
 */
describe("slowloris: 5,000 idle and 500 dribbling connections, real processes", function () {
  this.timeout(240_000);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-slowloris-"));
  let inventory: ServiceProcess;
  let gateway: ServiceProcess;

  before(async function () {
    const reachable = reachableFileLimit(fileLimit);
    if (reachable < fileLimit) {
      throw new Error(
        `this test needs an open-file limit of ${fileLimit} for its child processes; the hard limit here is ${reachable} (raise it with ulimit -Hn as root)`,
      );
    }
    inventory = await startService("inventory", { DATA_DIR: dataDir, ...attackEnv }, { fileLimit });
    gateway = await startService(
      "gateway",
      { DATA_DIR: dataDir, INVENTORY_URL: inventory.url, MESH_SERVICES: `inventory=${inventory.url}`, ...attackEnv },
      { fileLimit },
    );
  });
  after(async () => {
    await Promise.all([gateway?.stop(), inventory?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const targets = [
    {
      name: "the gateway",
      process: () => gateway,
      /** A REST call through the gateway to inventory. */
      rpc: async (url: string) => {
        const res = await fetch(`${url}/v1/inventory/items/MUG-001`, { signal: AbortSignal.timeout(30_000) });
        expect(res.status).to.equal(200);
      },
    },
    {
      name: "a service (inventory)",
      process: () => inventory,
      /** A gRPC call on a new HTTP/2 session. */
      rpc: async (url: string) => {
        const fresh = new TestClients();
        try {
          const item = await fresh.client(InventoryService, url).getItem({ sku: "MUG-001" }, { timeoutMs: 30_000 });
          expect(item.item?.sku).to.equal("MUG-001");
        } finally {
          fresh.close();
        }
      },
    },
  ];

  /** One target under attack: what it answered while held, and what was left after. */
  const attack = async (target: (typeof targets)[number]): Promise<string> => {
    const p = target.process();
    const port = Number(new URL(p.url).port);
    const pid = p.child.pid!;
    // Warm: the probe and the RPC path open what they keep open (sessions, database).
    await target.rpc(p.url);
    const baseline = openDescriptors(pid);
    const baselineSockets = new Set(tcpSockets(pid));

    const driver = new SlowlorisDriver();
    try {
      const opening = performance.now();
      await driver.open(port);
      const openMs = performance.now() - opening;
      const started = performance.now();
      const health = await fetch(`${p.probeUrl}/healthz`, { signal: AbortSignal.timeout(30_000) });
      const healthMs = performance.now() - started;
      expect(health.status, `${target.name} /healthz`).to.equal(200);
      const rpcStarted = performance.now();
      await target.rpc(p.url);
      const rpcMs = performance.now() - rpcStarted;
      const held = await driver.count();
      // Answered while every abusive connection was still open: the server
      // was not waiting for them to go away.
      expect(held, `${target.name}: every held connection still open when the fresh requests were answered`).to.deep.include({
        open: idle + dribbling,
        closedByServer: 0,
      });
      expect(openDescriptors(pid)).to.be.at.least(baseline + idle + dribbling);

      const closed = await eventually(
        `${target.name}: every held connection closed`,
        () => driver.count(),
        (count) => count.open === 0,
        { timeoutMs: attackTimeoutMs + 60_000, intervalMs: 250 },
      );
      expect(closed.closedByServer, `${target.name}: every one closed by the server`).to.equal(idle + dribbling);
      expect(closed.answered408, `${target.name}: each dribbling one told 408`).to.equal(dribbling);
      await eventually(
        `${target.name}: descriptors back to baseline ${baseline}`,
        // The TCP sockets it holds that it did not at baseline, to say what was left open.
        () => ({ descriptors: openDescriptors(pid), newSockets: tcpSockets(pid).filter((line) => !baselineSockets.has(line)) }),
        (now) => now.descriptors <= baseline + 2,
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      return `${target.name}: ${idle + dribbling} connections opened in ${openMs.toFixed(0)} ms; /healthz in ${healthMs.toFixed(1)} ms, RPC in ${rpcMs.toFixed(1)} ms with ${idle + dribbling} connections held`;
    } finally {
      await driver.stop();
    }
  };

  it("the gateway and a service answer fresh requests while held, close every held connection by its timeout, descriptors back to baseline", async () => {
    // Both at once: the timeouts are the test's length, and they run in parallel.
    for (const line of await Promise.all(targets.map(attack))) {
      console.log(`      ${line}`);
    }
  });
});
