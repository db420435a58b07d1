import Database from "better-sqlite3";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { CancelReason, OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService, PaymentState } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { reasonOf } from "../../mesh/index.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { TestClients } from "../support/test-identity.js";

/**
 * The demo shop end to end: the three services in their own processes, each on
 * its own SQLite file, the order saga crossing real sockets.
 */
describe("order saga, real processes", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let clients: TestClients;
  const as = (customer: string) => ({ headers: { "x-customer-id": customer } });
  const inventory = () => clients.client(InventoryService, mesh.inventory.url);
  const orders = () => clients.client(OrderService, mesh.orders.url);
  const payments = () => clients.client(PaymentService, mesh.payments.url);
  const stock = async (sku: string) => {
    const item = (await inventory().getItem({ sku })).item!;
    return { available: item.available, reserved: item.reserved, sold: item.sold };
  };
  const fail = (p: Promise<unknown>) =>
    p.then(
      () => expect.fail("expected the call to fail"),
      (e: unknown) => ConnectError.from(e),
    );
  /** Rows in the payments database, read beside the service as an auditor would. */
  const authorizations = (orderId: string): number => {
    const db = new Database(path.join(mesh.dataDir, "payments.db"), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM payments WHERE order_id = ?").get(orderId) as { n: number }).n;
    } finally {
      db.close();
    }
  };

  before(async () => {
    mesh = await startMesh();
    clients = new TestClients();
  });
  after(async () => {
    clients.close();
    await mesh.stop();
  });

  it("confirms an order: stock sold, payment captured", async () => {
    const before = await stock("MUG-001");
    const { order } = await orders().placeOrder(
      { requestId: "saga-ok", lines: [{ sku: "MUG-001", quantity: 2 }], cardToken: "tok_visa" },
      as("alice"),
    );
    expect(order?.state).to.equal(OrderState.CONFIRMED);
    expect(order?.totalMinor).to.equal(2n * 1400n);
    expect(order?.customerId).to.equal("alice");
    expect(await stock("MUG-001")).to.deep.equal({ available: before.available - 2, reserved: 0, sold: before.sold + 2 });
    const { payment } = await payments().getPayment({ paymentId: order!.paymentId });
    expect(payment?.state).to.equal(PaymentState.CAPTURED);
    expect(payment?.amountMinor).to.equal(2800n);
  });

  it("cancels on a declined card, restores the stock and takes no money", async () => {
    const before = await stock("CAP-001");
    const { order } = await orders().placeOrder(
      { requestId: "saga-declined", lines: [{ sku: "CAP-001", quantity: 3 }], cardToken: "tok_declined" },
      as("alice"),
    );
    expect(order?.state).to.equal(OrderState.CANCELLED);
    expect(order?.cancelReason).to.equal(CancelReason.PAYMENT_DECLINED);
    expect(order?.cancelDetail).to.match(/declined/i);
    expect(await stock("CAP-001")).to.deep.equal(before);
    expect(authorizations(order!.orderId)).to.equal(0);
  });

  it("cancels when the processor is unavailable, and restores the stock", async () => {
    const before = await stock("CAP-001");
    const { order } = await orders().placeOrder(
      { requestId: "saga-unavailable", lines: [{ sku: "CAP-001", quantity: 1 }], cardToken: "tok_unavailable" },
      as("alice"),
    );
    expect(order?.state).to.equal(OrderState.CANCELLED);
    expect(order?.cancelReason).to.equal(CancelReason.PAYMENT_FAILED);
    expect(await stock("CAP-001")).to.deep.equal(before);
  });

  it("yields one order and one authorization for the same request sent twice, even at once", async () => {
    const request = { requestId: "saga-twice", lines: [{ sku: "TEE-001", quantity: 1 }], cardToken: "tok_visa" };
    const before = await stock("TEE-001");
    const [a, b] = await Promise.all([orders().placeOrder(request, as("bob")), orders().placeOrder(request, as("bob"))]);
    const c = await orders().placeOrder(request, as("bob"));
    expect(a.order?.orderId).to.equal(b.order?.orderId).and.to.equal(c.order?.orderId);
    expect(c.order?.state).to.equal(OrderState.CONFIRMED);
    expect(authorizations(c.order!.orderId)).to.equal(1);
    expect((await stock("TEE-001")).sold).to.equal(before.sold + 1);
    expect((await orders().listOrders({}, as("bob"))).orders).to.have.length(1);
  });

  it("refuses the same request id with a different request, writing nothing", async () => {
    await orders().placeOrder({ requestId: "saga-key", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }, as("carol"));
    const err = await fail(
      orders().placeOrder({ requestId: "saga-key", lines: [{ sku: "MUG-001", quantity: 5 }], cardToken: "tok_visa" }, as("carol")),
    );
    expect(err.code).to.equal(Code.AlreadyExists);
    expect(reasonOf(err)).to.equal("IDEMPOTENCY_KEY_REUSED");
    expect((await orders().listOrders({}, as("carol"))).orders).to.have.length(1);
  });

  it("refuses more than the stock with FailedPrecondition INSUFFICIENT_STOCK and writes no order", async () => {
    const before = await stock("HOODIE-001");
    const err = await fail(
      orders().placeOrder({ requestId: "saga-much", lines: [{ sku: "HOODIE-001", quantity: 1000 }], cardToken: "tok_visa" }, as("dave")),
    );
    expect(err.code).to.equal(Code.FailedPrecondition);
    expect(reasonOf(err)).to.equal("INSUFFICIENT_STOCK");
    expect((await orders().listOrders({}, as("dave"))).orders).to.have.length(0);
    expect(await stock("HOODIE-001")).to.deep.equal(before);
  });

  it("refuses an unknown SKU with NotFound and writes no order", async () => {
    const err = await fail(
      orders().placeOrder({ requestId: "saga-unknown", lines: [{ sku: "NOPE-1", quantity: 1 }], cardToken: "tok_visa" }, as("dave")),
    );
    expect(err.code).to.equal(Code.NotFound);
    expect(err.rawMessage).to.contain("NOPE-1");
    expect((await orders().listOrders({}, as("dave"))).orders).to.have.length(0);
  });

  it("rejects malformed input with InvalidArgument naming the field, and writes nothing", async () => {
    const err = await fail(
      orders().placeOrder({ requestId: "saga-bad", lines: [{ sku: "MUG-001", quantity: 0 }], cardToken: "tok_visa" }, as("dave")),
    );
    expect(err.code).to.equal(Code.InvalidArgument);
    expect(err.rawMessage).to.contain("lines[0].quantity");
    expect((await orders().listOrders({}, as("dave"))).orders).to.have.length(0);
  });

  it("keeps orders to their customer: PermissionDenied for another's, Unauthenticated for none", async () => {
    const { order } = await orders().placeOrder(
      { requestId: "saga-own", lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken: "tok_visa" },
      as("erin"),
    );
    expect((await orders().getOrder({ orderId: order!.orderId }, as("erin"))).order?.orderId).to.equal(order?.orderId);
    expect((await fail(orders().getOrder({ orderId: order!.orderId }, as("mallory")))).code).to.equal(Code.PermissionDenied);
    expect((await fail(orders().cancelOrder({ orderId: order!.orderId }, as("mallory")))).code).to.equal(Code.PermissionDenied);
    expect((await fail(orders().getOrder({ orderId: order!.orderId }))).code).to.equal(Code.Unauthenticated);
    expect((await orders().listOrders({}, as("mallory"))).orders).to.have.length(0);
  });

  it("refuses to cancel a confirmed order, and returns a cancelled one unchanged", async () => {
    const confirmed = (
      await orders().placeOrder({ requestId: "saga-c1", lines: [{ sku: "NOTEBOOK-001", quantity: 1 }], cardToken: "tok_visa" }, as("frank"))
    ).order!;
    const err = await fail(orders().cancelOrder({ orderId: confirmed.orderId }, as("frank")));
    expect(err.code).to.equal(Code.FailedPrecondition);
    expect(reasonOf(err)).to.equal("ORDER_NOT_CANCELLABLE");
    const cancelled = (
      await orders().placeOrder({ requestId: "saga-c2", lines: [{ sku: "NOTEBOOK-001", quantity: 1 }], cardToken: "tok_declined" }, as("frank"))
    ).order!;
    const again = (await orders().cancelOrder({ orderId: cancelled.orderId }, as("frank"))).order!;
    expect(again.state).to.equal(OrderState.CANCELLED);
    expect(again.cancelReason).to.equal(CancelReason.PAYMENT_DECLINED);
  });

  it("cancels a running saga on request before it captures", async () => {
    const placing = orders().placeOrder(
      { requestId: "saga-slow", lines: [{ sku: "POSTER-001", quantity: 1 }], cardToken: "tok_slow_800" },
      as("gina"),
    );
    let pending;
    for (let i = 0; i < 50 && pending === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      pending = (await orders().listOrders({}, as("gina"))).orders[0];
    }
    expect(pending?.state).to.equal(OrderState.PENDING);
    const requested = (await orders().cancelOrder({ orderId: pending!.orderId }, as("gina"))).order!;
    expect(requested.cancelRequested).to.equal(true);
    const { order } = await placing;
    expect(order?.state).to.equal(OrderState.CANCELLED);
    expect(order?.cancelReason).to.equal(CancelReason.CUSTOMER_REQUESTED);
    expect((await stock("POSTER-001")).reserved).to.equal(0);
  });

  it("pages a customer's orders newest first", async () => {
    for (let i = 0; i < 3; i++) {
      await orders().placeOrder({ requestId: `saga-page-${i}`, lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken: "tok_visa" }, as("hank"));
    }
    const first = await orders().listOrders({ pageSize: 2 }, as("hank"));
    expect(first.orders).to.have.length(2);
    expect(first.nextPageToken).to.not.equal("");
    const second = await orders().listOrders({ pageSize: 2, pageToken: first.nextPageToken }, as("hank"));
    expect(second.orders).to.have.length(1);
    expect(second.nextPageToken).to.equal("");
    const bad = await fail(orders().listOrders({ pageToken: "garbage!" }, as("hank")));
    expect(bad.code).to.equal(Code.InvalidArgument);
  });
});
