import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { type ReadinessReport } from "../../mesh/index.js";
import { bareTarget } from "../support/bare-target.js";
import { freePort } from "../support/free-port.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { eventually } from "../support/eventually.js";
import { TestClients } from "../support/test-identity.js";

const alice = { headers: { "x-customer-id": "alice" } };

async function probe(p: ServiceProcess, which: "healthz" | "readyz"): Promise<{ status: number; body: ReadinessReport }> {
  const res = await fetch(`${p.probeUrl}/${which}`);
  return { status: res.status, body: (await res.json()) as ReadinessReport };
}

/** Kubernetes probes on every process of a real mesh, each its own OS process. */
describe("/healthz and /readyz, real processes", function () {
  this.timeout(120_000);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-health-"));
  const started: ServiceProcess[] = [];
  const clients = new TestClients();
  let paymentsPort: number;
  let inventory: ServiceProcess;
  let payments: ServiceProcess;
  let orders: ServiceProcess;
  let gateway: ServiceProcess;
  const start = async (name: string, env: Record<string, string> = {}): Promise<ServiceProcess> => {
    const p = await startService(name, { DATA_DIR: dataDir, ...env });
    started.push(p);
    return p;
  };
  // Shutdown keeps the port open this long with /readyz at 503, as load balancers need.
  const paymentsEnv = (): Record<string, string> => ({ PORT: String(paymentsPort), SHUTDOWN_DELAY_MS: "3000" });

  before(async () => {
    paymentsPort = await freePort();
    [inventory, payments] = await Promise.all([start("inventory"), start("payments", paymentsEnv())]);
    orders = await start("orders", {
      INVENTORY_URL: inventory.url,
      PAYMENTS_URL: payments.url,
      BREAKER_VOLUME_THRESHOLD: "4",
      BREAKER_RESET_MS: "1000",
      SAGA_RESUME_MS: "600000",
    });
    gateway = await start("gateway", { INVENTORY_URL: inventory.url, ORDERS_URL: orders.url });
  });
  after(async () => {
    clients.close();
    await Promise.all(started.map((p) => p.kill()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const place = (id: string) =>
    clients
      .client(OrderService, bareTarget(orders.url))
      // The first call opens every connection of the chain (mTLS handshakes
      // included): a generous deadline for a loaded machine.
      .placeOrder({ requestId: id, lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken: "tok_visa" }, { ...alice, timeoutMs: 30_000 });

  it("answers 200 on every process, naming each check", async () => {
    expect((await place("health-ok")).order?.state).to.equal(OrderState.CONFIRMED);
    const expected: [ServiceProcess, string[]][] = [
      [inventory, ["serving", "identity", "store"]],
      [payments, ["serving", "identity", "store"]],
      [orders, ["serving", "identity", "store", "breakers:inventory", "breakers:payments"]],
      [gateway, ["serving", "identity", "breakers:inventory", "breakers:orders"]],
    ];
    for (const [p, checks] of expected) {
      const live = await probe(p, "healthz");
      expect(live.status, p.name).to.equal(200);
      expect(live.body, p.name).to.deep.equal({ status: "SERVING" });
      const ready = await probe(p, "readyz");
      expect(ready.status, `${p.name}: ${JSON.stringify(ready.body)}`).to.equal(200);
      expect(ready.body.status).to.equal("ready");
      expect(Object.keys(ready.body.checks), p.name).to.deep.equal(checks);
    }
  });

  it("orders answers 503 naming payments once payments is killed and its breaker opens, and 200 after a restart", async () => {
    await payments.kill();
    let n = 0;
    // Orders keep coming, as they would in production: the breaker opens, and
    // the capture breaker's last success leaves its window.
    const down = await eventually(
      "orders not ready",
      async () => {
        const { order } = await place(`health-down-${n++}`);
        expect(order?.state).to.equal(OrderState.CANCELLED);
        return probe(orders, "readyz");
      },
      (r) => r.status === 503,
      { timeoutMs: 45_000, intervalMs: 200 },
    );
    expect(down.status, JSON.stringify(down.body)).to.equal(503);
    expect(down.body.status).to.equal("not_ready");
    expect(down.body.failed).to.deep.equal(["breakers:payments"]);
    expect(down.body.checks["breakers:payments"]?.detail).to.contain("meshwork.payments.v1.PaymentService/AuthorizePayment");
    expect(down.body.checks.store).to.deep.equal({ ok: true });
    // Still alive: nothing to restart.
    expect((await probe(orders, "healthz")).status).to.equal(200);

    payments = await start("payments", paymentsEnv());
    const back = await eventually(
      "orders ready again",
      async () => {
        await place(`health-back-${n++}`);
        return probe(orders, "readyz");
      },
      (r) => r.status === 200,
      { timeoutMs: 45_000, intervalMs: 200 },
    );
    expect(back.status, JSON.stringify(back.body)).to.equal(200);
    expect(back.body.status).to.equal("ready");
    expect((await place("health-after")).order?.state).to.equal(OrderState.CONFIRMED);
  });

  it("answers 503 naming serving from the start of shutdown, while still live", async () => {
    const exited = payments.stop();
    const stopping = await eventually("payments not ready", () => probe(payments, "readyz"), (r) => r.status === 503, { timeoutMs: 10_000 });
    expect(stopping.status).to.equal(503);
    expect(stopping.body.failed).to.deep.equal(["serving"]);
    expect(stopping.body.checks.store).to.deep.equal({ ok: true });
    expect((await probe(payments, "healthz")).status).to.equal(200);
    expect(await exited).to.equal(0);
  });
});
