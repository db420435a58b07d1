import Database from "better-sqlite3";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { CancelReason, OrderService, OrderState, type Order } from "../../gen/meshwork/orders/v1/orders_pb.js";
import type { SagaCrashPoint } from "../../services/orders/saga.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import type { ServiceProcess } from "../support/service-process.js";
import { eventually } from "../support/eventually.js";
import { testTls, type TestTls } from "../support/test-identity.js";

/**
 * The order saga survives the orders process dying at any step. Split mode:
 * inventory, payments and orders are separate processes on one data
 * directory. For each crash point the orders process is restarted with
 * SAGA_TEST_CRASH_AT, an order is placed, the process kills itself with
 * SIGKILL at that point, and a process without the hook is started on the
 * same port and data directory; its resume loop must end the order. After
 * each case the three databases are audited as an outsider would: stock
 * conserved, at most one capture per order, nothing held for a cancelled one.
 */
describe("order saga, orders SIGKILLed at each step (split mode)", function () {
  this.timeout(90_000);
  let mesh: TestMesh;
  /** The processes now running: restarts replace them. */
  let orders: ServiceProcess;
  let inventory: ServiceProcess;
  /** Each SKU's seeded total and the units sold so far by confirmed orders. */
  const seeded = new Map<string, number>();
  const sold = new Map<string, number>();

  const as = (customer: string) => ({ headers: { "x-customer-id": customer } });
  /** A plain client, without the mesh's retries: a call to a dying process fails instead of reaching its successor. */
  const client = <S extends typeof OrderService | typeof InventoryService>(service: S, url: string): Client<S> =>
    createClient(service, createConnectTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions: gatewayTls.nodeOptions }));
  /** Orders and inventory's catalogue let the gateway call (and assert the customer). */
  let gatewayTls: TestTls;
  before(async () => (gatewayTls = await testTls("gateway")));

  function query<T>(database: string, sql: string, ...params: unknown[]): T[] {
    const db = new Database(path.join(mesh.dataDir, database), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }
  const storedOrder = (customer: string) =>
    query<{ order_id: string; saga_step: string; undo: string }>(
      "orders.db",
      "SELECT order_id, saga_step, undo FROM orders WHERE customer_id = ?",
      customer,
    )[0];
  const reservationState = (orderId: string) =>
    query<{ state: string }>("inventory.db", "SELECT state FROM reservations WHERE order_id = ?", orderId)[0]?.state;
  const paymentStates = (orderId: string) =>
    query<{ state: string }>("payments.db", "SELECT state FROM payments WHERE order_id = ?", orderId).map((row) => row.state);

  async function stock(): Promise<Map<string, { available: number; reserved: number; sold: number }>> {
    const items = client(InventoryService, inventory.url);
    const all = new Map<string, { available: number; reserved: number; sold: number }>();
    let pageToken = "";
    do {
      const page = await items.listItems({ pageSize: 100, pageToken });
      for (const { sku, available, reserved, sold } of page.items) {
        all.set(sku, { available, reserved, sold });
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return all;
  }

  interface Crash {
    readonly customer: string;
    readonly point: SagaCrashPoint;
    readonly cardToken: string;
    /** What the test does while the order is placed, before the process dies (the default: nothing). */
    readonly meanwhile?: (orderClient: Client<typeof OrderService>) => Promise<void>;
  }

  /**
   * Places one order on an orders process that dies at `point`, checks that it
   * died by SIGKILL, and returns the order's id and stored step at death; the
   * orders process is then down.
   */
  async function placeAndCrash({ customer, point, cardToken, meanwhile }: Crash) {
    // The running process is idle (every earlier order has ended): killing it is
    // quicker than draining its connections, and is one more crash to survive.
    await orders.kill();
    const dying = await orders.restart({ SAGA_TEST_CRASH_AT: point });
    orders = dying;
    const orderClient = client(OrderService, dying.url);
    const placing = orderClient.placeOrder(
      { requestId: `req-${customer}`, lines: [{ sku: "MUG-001", quantity: 2 }, { sku: "CAP-001", quantity: 1 }], cardToken },
      as(customer),
    );
    const outcome = placing.then(
      () => "answered",
      () => "failed",
    );
    await meanwhile?.(orderClient);
    expect(await dying.exited).to.deep.equal({ code: null, signal: "SIGKILL" });
    expect(await outcome).to.equal("failed");
    expect(dying.logs.find((l) => l["SAGA_TEST_CRASH_AT"] === point), "the armed fault's warning").to.include({ level: 40 });
    const stored = storedOrder(customer);
    expect(stored, "the order was stored before the crash").to.not.equal(undefined);
    return { orderId: stored!.order_id, step: stored!.saga_step, undo: JSON.parse(stored!.undo) as string[] };
  }

  /** Starts orders without the hook on the same port and data directory; resolves with the order once it has ended. */
  async function restartAndAwaitEnd(customer: string, orderId: string): Promise<Order> {
    orders = await orders.restart();
    const orderClient = client(OrderService, orders.url);
    return eventually(`order ${orderId} to end`, async () => {
      const { order } = await orderClient.getOrder({ orderId }, as(customer));
      return order?.state === OrderState.PENDING ? undefined : order;
    });
  }

  /** The audit after every case: stock conserved and matching the confirmed orders, money matching the order. */
  async function audit(order: Order): Promise<void> {
    if (order.state === OrderState.CONFIRMED) {
      for (const { sku, quantity } of order.lines) {
        sold.set(sku, (sold.get(sku) ?? 0) + quantity);
      }
    }
    for (const [sku, counts] of await stock()) {
      expect(counts.available + counts.reserved + counts.sold, `${sku}: available + reserved + sold`).to.equal(seeded.get(sku));
      expect(counts.reserved, `${sku} reserved`).to.equal(0);
      expect(counts.sold, `${sku} sold`).to.equal(sold.get(sku) ?? 0);
    }
    const payments = paymentStates(order.orderId);
    expect(payments.length, "authorizations of the order").to.be.at.most(1);
    if (order.state === OrderState.CONFIRMED) {
      expect(payments).to.deep.equal(["CAPTURED"]);
      expect(order.paymentId).to.not.equal("");
      expect(reservationState(order.orderId)).to.equal("COMMITTED");
    } else {
      expect(payments.every((state) => state === "VOIDED"), `payments of a cancelled order: ${payments.join(", ")}`).to.equal(true);
      expect(reservationState(order.orderId)).to.be.oneOf(["RELEASED", "EXPIRED", undefined]);
    }
  }

  before(async () => {
    // A short saga lease: the restarted process (a new replica) takes the dead one's orders over soon.
    mesh = await startMesh({ env: { SAGA_RESUME_MS: "200", SAGA_LEASE_MS: "1000" } });
    orders = mesh.orders;
    inventory = mesh.inventory;
    for (const [sku, counts] of await stock()) {
      seeded.set(sku, counts.available + counts.reserved + counts.sold);
    }
    expect(seeded.size).to.be.at.least(6);
  });
  after(async () => {
    await Promise.all([orders?.stop(), inventory?.stop()]);
    await mesh?.stop();
  });

  const forward: { point: SagaCrashPoint; step: string; effects: (orderId: string) => void }[] = [
    {
      point: "before-reserve",
      step: "RESERVE",
      effects: (orderId) => expect(reservationState(orderId)).to.equal(undefined),
    },
    {
      point: "after-reserve",
      step: "RESERVE",
      effects: (orderId) => expect(reservationState(orderId)).to.equal("ACTIVE"),
    },
    {
      point: "after-authorize",
      step: "AUTHORIZE",
      effects: (orderId) => expect(paymentStates(orderId)).to.deep.equal(["AUTHORIZED"]),
    },
    {
      point: "after-commit",
      step: "COMMIT",
      effects: (orderId) => expect(reservationState(orderId)).to.equal("COMMITTED"),
    },
    {
      point: "after-capture",
      step: "CAPTURE",
      effects: (orderId) => expect(paymentStates(orderId)).to.deep.equal(["CAPTURED"]),
    },
  ];
  for (const { point, step, effects } of forward) {
    it(`${point}: the restarted process confirms the order, once`, async () => {
      const customer = `crash-${point}`;
      const crashed = await placeAndCrash({ customer, point, cardToken: "tok_visa" });
      // The crash came where it says: the stored step, and what upstream already did.
      expect(crashed.step).to.equal(step);
      effects(crashed.orderId);

      const order = await restartAndAwaitEnd(customer, crashed.orderId);

      expect(order.state).to.equal(OrderState.CONFIRMED);
      await audit(order);
    });
  }

  it("after-release (declined card): the restarted process finishes the compensation and cancels", async () => {
    const customer = "crash-declined";
    const crashed = await placeAndCrash({ customer, point: "after-release", cardToken: "tok_declined" });
    expect(crashed).to.include({ step: "COMPENSATE" });
    expect(crashed.undo).to.deep.equal(["RELEASE"]);
    expect(reservationState(crashed.orderId)).to.equal("RELEASED");

    const order = await restartAndAwaitEnd(customer, crashed.orderId);

    expect(order.state).to.equal(OrderState.CANCELLED);
    expect(order.cancelReason).to.equal(CancelReason.PAYMENT_DECLINED);
    expect(paymentStates(order.orderId)).to.deep.equal([]);
    await audit(order);
  });

  it("after-void, before release (cancelled by the customer): the restarted process releases and cancels", async () => {
    const customer = "crash-void";
    const crashed = await placeAndCrash({
      customer,
      point: "after-void",
      // A slow authorization, cancelled while it runs: the saga then voids, then releases.
      cardToken: "tok_slow_1500",
      meanwhile: async (orderClient) => {
        const { order_id } = await eventually("the order to be authorizing", () =>
          storedOrder(customer)?.saga_step === "AUTHORIZE" ? storedOrder(customer) : undefined,
        );
        await orderClient.cancelOrder({ orderId: order_id }, as(customer));
      },
    });
    expect(crashed).to.include({ step: "COMPENSATE" });
    expect(crashed.undo).to.deep.equal(["VOID", "RELEASE"]);
    expect(paymentStates(crashed.orderId)).to.deep.equal(["VOIDED"]);
    expect(reservationState(crashed.orderId)).to.equal("ACTIVE");

    const order = await restartAndAwaitEnd(customer, crashed.orderId);

    expect(order.state).to.equal(OrderState.CANCELLED);
    expect(order.cancelReason).to.equal(CancelReason.CUSTOMER_REQUESTED);
    await audit(order);
  });

  describe("with a reservation that expires while orders is down", () => {
    before(async () => {
      // A 1 s reservation TTL, only for these cases: the ones above must not race it.
      inventory = await inventory.restart({ RESERVATION_TTL_SECONDS: "1", EXPIRY_SWEEP_MS: "50" });
    });

    // after-authorize: the saga resumes at AUTHORIZE (the same hold comes back), its commit is refused
    // RESERVATION_EXPIRED, and it voids the hold. after-reserve: it authorizes first, so it ends the same way.
    for (const point of ["after-authorize", "after-reserve"] as const) {
      it(`${point}: the order is cancelled RESERVATION_EXPIRED, the stock is back and the hold voided`, async () => {
        const customer = `expire-${point}`;
        const crashed = await placeAndCrash({ customer, point, cardToken: "tok_visa" });
        await eventually("the reservation to expire", () => (reservationState(crashed.orderId) === "EXPIRED" ? true : undefined));

        const order = await restartAndAwaitEnd(customer, crashed.orderId);

        expect(order.state).to.equal(OrderState.CANCELLED);
        expect(order.cancelReason).to.equal(CancelReason.RESERVATION_EXPIRED);
        expect(paymentStates(order.orderId)).to.deep.equal(["VOIDED"]);
        await audit(order);
      });
    }
  });
});
