import Database from "better-sqlite3";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { CancelReason, OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { bareTarget } from "../support/bare-target.js";
import { freePort } from "../support/free-port.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { eventually } from "../support/eventually.js";
import { TestClients } from "../support/test-identity.js";

const alice = { headers: { "x-customer-id": "alice" } };

/** Real processes, as in split mode; every one is stopped by PID afterwards. */
class Processes {
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-resilience-"));
  private readonly all: ServiceProcess[] = [];
  readonly clients = new TestClients();

  async start(name: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const p = await startService(name, { DATA_DIR: this.dataDir, ...env });
    this.all.push(p);
    return p;
  }

  async stop(): Promise<void> {
    this.clients.close();
    await Promise.all(this.all.map((p) => p.kill()));
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  authorizations(orderId: string): number {
    const db = new Database(path.join(this.dataDir, "payments.db"), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM payments WHERE order_id = ?").get(orderId) as { n: number }).n;
    } finally {
      db.close();
    }
  }
}

describe("resilience across real processes", function () {
  this.timeout(90_000);
  let procs: Processes;
  beforeEach(() => (procs = new Processes()));
  afterEach(() => procs.stop());

  it("breaker: payments down -> orders fail fast once it opens; client errors never open it; half-open probe closes it", async () => {
    const paymentsPort = await freePort();
    const inventory = await procs.start("inventory");
    const payments = await procs.start("payments", { PORT: String(paymentsPort) });
    const orders = await procs.start("orders", {
      INVENTORY_URL: inventory.url,
      PAYMENTS_URL: payments.url,
      BREAKER_VOLUME_THRESHOLD: "4",
      BREAKER_RESET_MS: "1000",
      SAGA_RESUME_MS: "600000",
    });
    const client = procs.clients.client(OrderService, bareTarget(orders.url));
    const place = (id: string, cardToken: string) =>
      client.placeOrder({ requestId: id, lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken }, alice);

    for (let i = 0; i < 12; i++) {
      const { order } = await place(`declined-${i}`, "tok_declined");
      expect(order?.cancelReason).to.equal(CancelReason.PAYMENT_DECLINED);
    }
    expect((await place("after-declines", "tok_visa")).order?.state).to.equal(OrderState.CONFIRMED);

    await payments.kill();
    const details: string[] = [];
    const durations: number[] = [];
    // The 13 answered calls above stay in the breaker's 10 s window as healthy
    // responses (a declined card is the server working), so it takes more
    // than 13 failures to pass 50%.
    for (let i = 0; i < 25; i++) {
      const start = Date.now();
      const { order } = await place(`down-${i}`, "tok_visa");
      durations.push(Date.now() - start);
      expect(order?.state).to.equal(OrderState.CANCELLED);
      expect(order?.cancelReason).to.equal(CancelReason.PAYMENT_FAILED);
      details.push(order!.cancelDetail);
    }
    // The customer reads the fixed sentence, never the breaker or a connection error.
    expect(new Set(details)).to.deep.equal(new Set(["the payment could not be processed right now; please try again later"]));
    const metrics = await fetch(`${orders.probeUrl}/metrics`).then((r) => r.text());
    expect(metrics).to.match(/^meshwork_breaker_state\{[^}]*method="meshwork\.payments\.v1\.PaymentService\/AuthorizePayment"[^}]*\} 2$/m);
    // Once open, the last calls never reach for the network, let alone wait for a deadline.
    expect(Math.max(...durations)).to.be.lessThan(2_000);

    await procs.start("payments", { PORT: String(paymentsPort) });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const probed = await place("probe", "tok_visa");
    expect(probed.order?.state, probed.order?.cancelDetail).to.equal(OrderState.CONFIRMED);
    expect((await place("after-probe", "tok_visa")).order?.state).to.equal(OrderState.CONFIRMED);
  });

  it("deadline: a caller's budget crosses orders into payments, the inner call is cancelled, the saga still ends", async () => {
    const inventory = await procs.start("inventory");
    const payments = await procs.start("payments");
    const orders = await procs.start("orders", {
      INVENTORY_URL: inventory.url,
      PAYMENTS_URL: payments.url,
      SAGA_RESUME_MS: "300",
    });
    const client = procs.clients.client(OrderService, bareTarget(orders.url));
    const stock = async () => (await procs.clients.client(InventoryService, bareTarget(inventory.url)).getItem({ sku: "MUG-001" })).item!;
    // Every connection of the chain made first (mTLS handshakes take part of a
    // 400 ms budget on a loaded machine): a declined order touches inventory
    // and payments and leaves the stock as it was.
    await client.placeOrder({ requestId: "warm-up", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_declined" }, alice);
    const before = await stock();

    const start = Date.now();
    const err = await client
      .placeOrder({ requestId: "budget", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_slow_3000" }, { ...alice, timeoutMs: 400 })
      .then(
        () => expect.fail("expected DeadlineExceeded"),
        (e: unknown) => ConnectError.from(e),
      );
    const elapsed = Date.now() - start;
    expect(err.code).to.equal(Code.DeadlineExceeded);
    expect(elapsed).to.be.lessThan(400 + 250);

    const [order] = (await client.listOrders({}, alice)).orders;
    expect(order).to.not.equal(undefined);
    const settled = await eventually(
      "the order to leave PENDING",
      async () => (await client.getOrder({ orderId: order!.orderId }, alice)).order!,
      (o) => o.state !== OrderState.PENDING,
    );
    expect(settled.state).to.equal(OrderState.CANCELLED);
    expect(settled.cancelReason).to.equal(CancelReason.PAYMENT_FAILED);
    // Past the slow card's 3 s: had payments not been cancelled, it would have authorized by now.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3_300 - (Date.now() - start))));
    expect(procs.authorizations(order!.orderId)).to.equal(0);
    const after = await stock();
    expect({ available: after.available, reserved: after.reserved, sold: after.sold }).to.deep.equal({
      available: before.available,
      reserved: before.reserved,
      sold: before.sold,
    });
  });

  it("split mode: orders spreads over two inventory processes and keeps working when one is killed", async () => {
    const [a, b] = await Promise.all([procs.start("inventory"), procs.start("inventory")]);
    const payments = await procs.start("payments");
    const orders = await procs.start("orders", {
      INVENTORY_URL: `${a!.url},${b!.url}`,
      PAYMENTS_URL: payments.url,
      SAGA_RESUME_MS: "600000",
    });
    const client = procs.clients.client(OrderService, bareTarget(orders.url));
    const rpcs = (p: ServiceProcess) => p.logs.filter((l) => l.msg === "rpc").length;
    for (let i = 0; i < 8; i++) {
      const { order } = await client.placeOrder(
        { requestId: `split-${i}`, lines: [{ sku: "TEE-001", quantity: 1 }], cardToken: "tok_visa" },
        alice,
      );
      expect(order?.state).to.equal(OrderState.CONFIRMED);
    }
    // A service writes its rpc line as it answers; the line reaches this
    // process through a pipe, possibly after the answer did.
    const linesArrived = async (count: () => number, expected: number): Promise<void> => {
      for (let i = 0; i < 100 && count() < expected; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await linesArrived(() => rpcs(a!) + rpcs(b!), 24);
    const [ra, rb] = [rpcs(a!), rpcs(b!)];
    // 8 orders x (GetItem, Reserve, Commit) = 24 calls, round-robin.
    expect(ra + rb).to.equal(24);
    expect(Math.abs(ra - rb)).to.be.at.most(2);

    await b!.kill();
    for (let i = 0; i < 6; i++) {
      const { order } = await client.placeOrder(
        { requestId: `split-after-${i}`, lines: [{ sku: "TEE-001", quantity: 1 }], cardToken: "tok_visa" },
        alice,
      );
      expect(order?.state, order?.cancelDetail).to.equal(OrderState.CONFIRMED);
    }
    await linesArrived(() => rpcs(a!), ra + 18);
    expect(rpcs(a!)).to.equal(ra + 18);
  });
});
