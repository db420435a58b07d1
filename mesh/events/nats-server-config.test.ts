// natsServerConfig's cluster routes with real nats-server processes: nodes
// presenting the nats identity (their host name a DNS SAN) join over TLS; a
// node presenting another workload's certificate of the same CA is refused
// as a route. The multi-host test runs the three-node cluster across hosts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { MeshCa } from "../identity/mesh-ca.js";
import { writeCredentialFiles } from "../identity/credential-files.js";
import { defaultTrustDomain, workloadId } from "../identity/spiffe-id.js";
import { meshworkNatsPlan } from "../../scripts/support/nats-plan.js";
import { freePort } from "../../test/support/free-port.js";
import { natsServerConfig } from "./nats-server-config.js";

describe("natsServerConfig: a cluster's routes over mTLS (nats-server)", function () {
  this.timeout(60_000);
  let dir: string;
  const children: ChildProcess[] = [];
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-nats-cluster-"));
  });
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** The routes a node has, from its monitoring port's /routez (bounded wait for `want`). */
  async function routesOf(monitor: number, want: number, waitMs: number): Promise<number> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const routes = await fetch(`http://127.0.0.1:${monitor}/routez`, { signal: AbortSignal.timeout(2_000) })
        .then(async (r) => ((await r.json()) as { num_routes: number }).num_routes)
        .catch(() => -1);
      if (routes === want || Date.now() > deadline) return routes;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it("joins the nodes with the nats identity and refuses a route presenting another workload's certificate", async () => {
    const ca = await MeshCa.create(defaultTrustDomain);
    const nodes = await Promise.all(["a", "b", "rogue"].map(async (name) => ({ name, client: await freePort(), route: await freePort(), monitor: await freePort() })));
    const start = async (node: (typeof nodes)[number], identity: string, peers: readonly (typeof nodes)[number][]): Promise<void> => {
      const files = writeCredentialFiles(path.join(dir, `tls-${node.name}`), await ca.issue(workloadId(ca.trustDomain, "service", identity), { dnsNames: ["localhost"] }));
      const storeDir = path.join(dir, `js-${node.name}`);
      mkdirSync(storeDir);
      const config = path.join(dir, `${node.name}.conf`);
      writeFileSync(config, natsServerConfig({
        host: "127.0.0.1", port: node.client, storeDir, ...files, trustDomain: ca.trustDomain, plan: meshworkNatsPlan, serverName: node.name,
        cluster: { name: "test", port: node.route, advertise: `localhost:${node.route}`, routes: peers.map((p) => `nats-route://localhost:${p.route}`) },
      }));
      children.push(spawn("/usr/sbin/nats-server", ["-c", config, "-m", String(node.monitor)], { stdio: "ignore" }));
    };
    const [a, b, rogue] = nodes as [(typeof nodes)[number], (typeof nodes)[number], (typeof nodes)[number]];
    await start(a, "nats", [a, b]);
    await start(b, "nats", [a, b]);
    expect(await routesOf(a.monitor, 1, 20_000)).to.equal(1);
    // A workload of the mesh (its certificate from the same CA, even with the right host name) is no route.
    await start(rogue, "orders", [a, rogue]);
    expect(await routesOf(a.monitor, 2, 3_000)).to.equal(1);
    expect(await routesOf(b.monitor, 1, 0)).to.equal(1);
  });
});
