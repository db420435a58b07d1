import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { connectionLimitVariables } from "../../mesh/process/connection-limits-from-env.js";
import { defaultConnectionLimits } from "../../mesh/server/connection-limits.js";
import { reachableFileLimit } from "../support/file-limit.js";
import { SlowlorisDriver } from "../support/slowloris-attack.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { eventually } from "../support/eventually.js";
import { TestClients } from "../support/test-identity.js";

const idle = 5_000;
const dribbling = 500;
const held = idle + dribbling;
/** Descriptors each side needs: the held connections plus the process's own. */
const fileLimit = held + 1_024;
/** The defaults the processes run with: the test sets none of the variables. */
const { firstByteTimeoutMs, headersTimeoutMs } = defaultConnectionLimits;
/** Attempts at holding every connection at once (see the describe block's comment). */
const maxOpenAttempts = 3;

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
 * Slowloris against a real gateway and a real service, each with its default
 * timeouts (CONN_FIRST_BYTE_TIMEOUT_MS and HTTP_HEADERS_TIMEOUT_MS, 10 s; the
 * test refuses to run with any connection-limit variable set): 5,000
 * connections that never send a byte and 500 that dribble HTTP/1.1 headers
 * forever. Fresh requests are still answered while all of them are held; the
 * idle ones are closed by the first-byte timeout, the dribbling ones by the
 * headers timeout (408); descriptors come back.
 *
 * Issue 13 asks for the fresh /healthz and RPC "within 100 ms". A wall-clock
 * bound would flake on a shared CI machine (and the rules keep speed out of
 * tests), so the test asserts what the bound stands for instead: that the
 * server answers a fresh request at once rather than after the attack, i.e.
 * while every one of the 5,500 connections is still open and none has been
 * closed by the server (the driver's count, read before and after the fresh
 * requests, with the process's descriptors). An answer that had waited for a
 * held connection to time out would come after a close the driver sees. The
 * answer times are measured and printed beside the time it took to open the
 * connections; the ratio to the same requests without an attack is measured
 * by bench/slowloris.ts.
 *
 * The held connections must all be open before the first of them times out,
 * so the driver opens them through a window of concurrent connects (about 6 s
 * seen at a load average of 12 on 2 cores, against 10 s); an attempt where
 * the server had closed one before the last was open is given up, the test
 * waits for the descriptors to come back and opens them again, at most 3
 * times, and then fails saying how long each opening took. The gateway and
 * the service are attacked one after the other, so each opening has the
 * machine to itself.
 */
describe("slowloris: 5,000 idle and 500 dribbling connections with default timeouts, real processes", function () {
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
    // The processes inherit this environment: the defaults are what is under test.
    const overridden = Object.values(connectionLimitVariables).filter((name) => process.env[name] !== undefined);
    if (overridden.length > 0) {
      throw new Error(`this test runs the processes with their default connection limits; unset ${overridden.join(", ")}`);
    }
    inventory = await startService("inventory", { DATA_DIR: dataDir }, { fileLimit });
    gateway = await startService(
      "gateway",
      { DATA_DIR: dataDir, INVENTORY_URL: inventory.url, MESH_SERVICES: `inventory=${inventory.url}` },
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

    const backToBaseline = (what: string) =>
      eventually(
        `${target.name}: descriptors back to baseline ${baseline} ${what}`,
        // The TCP sockets it holds that it did not at baseline, to say what was left open.
        () => ({ descriptors: openDescriptors(pid), newSockets: tcpSockets(pid).filter((line) => !baselineSockets.has(line)) }),
        (now) => now.descriptors <= baseline + 2,
        { timeoutMs: 30_000, intervalMs: 250 },
      );

    let driver: SlowlorisDriver | undefined;
    try {
      // Every connection must be open before the first one times out. How fast
      // they open depends on the machine's load: an attempt that was too slow
      // is given up and made again, at most `maxOpenAttempts` times.
      const openings: number[] = [];
      for (;;) {
        driver = new SlowlorisDriver({ idle, dribbling }, fileLimit);
        const opened = await driver.open(port);
        openings.push(Math.round(opened.openMs));
        if (opened.open === held && opened.closedByServer === 0) {
          break;
        }
        await driver.stop();
        driver = undefined;
        if (openings.length >= maxOpenAttempts) {
          expect.fail(
            `${target.name}: the ${held} connections could not all be open before the first timed out in ${maxOpenAttempts} attempts ` +
              `(opening took ${openings.join(", ")} ms; the first-byte timeout is ${firstByteTimeoutMs} ms): the machine is too loaded for this test`,
          );
        }
        await backToBaseline("before opening again");
      }
      const attacker = driver;
      expect(await attacker.count(), `${target.name}: every held connection open before the fresh requests`).to.deep.include({ open: held, closedByServer: 0 });

      const started = performance.now();
      const health = await fetch(`${p.probeUrl}/healthz`, { signal: AbortSignal.timeout(30_000) });
      const healthMs = performance.now() - started;
      expect(health.status, `${target.name} /healthz`).to.equal(200);
      const rpcStarted = performance.now();
      await target.rpc(p.url);
      const rpcMs = performance.now() - rpcStarted;

      // Answered while every abusive connection was still open: the server
      // neither waited for one of them to time out nor to go away.
      expect(await attacker.count(), `${target.name}: every held connection still open when the fresh requests were answered`).to.deep.include({
        open: held,
        closedByServer: 0,
      });
      expect(openDescriptors(pid), `${target.name}: a descriptor per held connection`).to.be.at.least(baseline + held);

      const closed = await eventually(
        `${target.name}: every held connection closed`,
        () => attacker.count(),
        (count) => count.open === 0,
        { timeoutMs: Math.max(firstByteTimeoutMs, headersTimeoutMs) + 60_000, intervalMs: 250 },
      );
      expect(closed.closedByServer, `${target.name}: every one closed by the server`).to.equal(held);
      expect(closed.answered408, `${target.name}: each dribbling one told 408`).to.equal(dribbling);
      await backToBaseline("after the attack");
      const tries = openings.length > 1 ? ` (attempts: ${openings.join(", ")} ms)` : "";
      return `${target.name}: ${held} connections opened in ${openings.at(-1)} ms${tries}; /healthz in ${healthMs.toFixed(1)} ms, RPC in ${rpcMs.toFixed(1)} ms with all ${held} held`;
    } finally {
      await driver?.stop();
    }
  };

  for (const target of targets) {
    it(`${target.name} answers fresh requests while all are held, closes every held connection by its timeout, descriptors back to baseline`, async () => {
      console.log(`      ${await attack(target)}`);
    });
  }
});
