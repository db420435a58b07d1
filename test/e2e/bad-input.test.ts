import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { reasonOf } from "../../mesh/index.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { TestClients } from "../support/test-identity.js";

/**
 * Every RPC, over real sockets, answers bad input with the right code, a
 * message naming the problem, and a machine-readable reason or field list —
 * and the state the public reads show is unchanged afterwards.
 */
describe("bad input on every RPC, real processes", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let clients: TestClients;
  const alice = { headers: { "x-customer-id": "alice" } };
  before(async () => {
    mesh = await startMesh();
    clients = new TestClients();
  });
  after(async () => {
    clients.close();
    await mesh.stop();
  });
  const inv = () => clients.client(InventoryService, mesh.inventory.url);
  const pay = () => clients.client(PaymentService, mesh.payments.url);
  const ord = () => clients.client(OrderService, mesh.orders.url);
  /** Everything a client can read of the shop's state. */
  const snapshot = async () => ({
    items: (await inv().listItems({ pageSize: 100 })).items,
    orders: (await ord().listOrders({ pageSize: 100 }, alice)).orders,
  });

  interface Case {
    name: string;
    call: () => Promise<unknown>;
    code: Code;
    /** A substring of the message, or the ErrorInfo reason. */
    message?: string;
    reason?: string;
  }
  const cases: Case[] = [
    { name: "GetItem empty sku", call: () => inv().getItem({ sku: "" }), code: Code.InvalidArgument, message: "sku" },
    { name: "GetItem unknown sku", call: () => inv().getItem({ sku: "GHOST-1" }), code: Code.NotFound, message: "GHOST-1" },
    { name: "ListItems negative page size", call: () => inv().listItems({ pageSize: -1 }), code: Code.InvalidArgument, message: "page_size" },
    { name: "ListItems garbage token", call: () => inv().listItems({ pageToken: "%%%" }), code: Code.InvalidArgument },
    { name: "ReserveStock no lines", call: () => inv().reserveStock({ orderId: "o1", lines: [] }), code: Code.InvalidArgument, message: "lines" },
    {
      name: "ReserveStock zero quantity",
      call: () => inv().reserveStock({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 0 }] }),
      code: Code.InvalidArgument,
      message: "lines[0].quantity",
    },
    {
      name: "ReserveStock duplicate sku",
      call: () => inv().reserveStock({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 1 }, { sku: "MUG-001", quantity: 1 }] }),
      code: Code.InvalidArgument,
    },
    {
      name: "ReserveStock unknown sku",
      call: () => inv().reserveStock({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 1 }, { sku: "GHOST-1", quantity: 1 }] }),
      code: Code.NotFound,
    },
    {
      name: "ReserveStock beyond stock (all or none)",
      call: () => inv().reserveStock({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 1 }, { sku: "HOODIE-001", quantity: 900 }] }),
      code: Code.FailedPrecondition,
      reason: "INSUFFICIENT_STOCK",
    },
    { name: "ReleaseReservation unknown order", call: () => inv().releaseReservation({ orderId: "o-none" }), code: Code.NotFound },
    { name: "CommitReservation empty order id", call: () => inv().commitReservation({ orderId: "" }), code: Code.InvalidArgument },
    { name: "CommitReservation unknown order", call: () => inv().commitReservation({ orderId: "o-none" }), code: Code.NotFound },
    {
      name: "AdjustStock zero delta",
      call: () => inv().adjustStock({ sku: "MUG-001", adjustmentId: "a1", delta: 0 }),
      code: Code.InvalidArgument,
      message: "delta",
    },
    {
      name: "AdjustStock below zero",
      call: () => inv().adjustStock({ sku: "MUG-001", adjustmentId: "a1", delta: -100000 }),
      code: Code.FailedPrecondition,
      reason: "INSUFFICIENT_STOCK",
    },
    {
      name: "AuthorizePayment zero amount",
      call: () => pay().authorizePayment({ idempotencyKey: "k", amountMinor: 0n, currencyCode: "USD", cardToken: "tok_visa" }),
      code: Code.InvalidArgument,
      message: "amount_minor",
    },
    {
      name: "AuthorizePayment unknown token",
      call: () => pay().authorizePayment({ idempotencyKey: "k", amountMinor: 5n, currencyCode: "USD", cardToken: "tok_forged" }),
      code: Code.InvalidArgument,
      reason: "UNKNOWN_CARD_TOKEN",
    },
    {
      name: "AuthorizePayment insufficient funds",
      call: () => pay().authorizePayment({ idempotencyKey: "k", amountMinor: 5n, currencyCode: "USD", cardToken: "tok_insufficient_funds" }),
      code: Code.FailedPrecondition,
      reason: "INSUFFICIENT_FUNDS",
    },
    {
      name: "AuthorizePayment processor down",
      call: () => pay().authorizePayment({ idempotencyKey: "k", amountMinor: 5n, currencyCode: "USD", cardToken: "tok_unavailable" }),
      code: Code.Unavailable,
    },
    { name: "CapturePayment unknown", call: () => pay().capturePayment({ paymentId: "pay_none" }), code: Code.NotFound },
    { name: "VoidPayment empty id", call: () => pay().voidPayment({ paymentId: "" }), code: Code.InvalidArgument },
    { name: "GetPayment unknown", call: () => pay().getPayment({ paymentId: "pay_none" }), code: Code.NotFound },
    {
      name: "PlaceOrder bad customer header",
      call: () =>
        ord().placeOrder(
          { requestId: "r", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" },
          { headers: { "x-customer-id": "a b c" } },
        ),
      code: Code.InvalidArgument,
    },
    {
      name: "PlaceOrder duplicate sku",
      call: () =>
        ord().placeOrder(
          { requestId: "r", lines: [{ sku: "MUG-001", quantity: 1 }, { sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" },
          alice,
        ),
      code: Code.InvalidArgument,
    },
    { name: "GetOrder unknown", call: () => ord().getOrder({ orderId: "ord-none" }, alice), code: Code.NotFound },
    { name: "ListOrders page size too big", call: () => ord().listOrders({ pageSize: 101 }, alice), code: Code.InvalidArgument },
    { name: "CancelOrder unknown", call: () => ord().cancelOrder({ orderId: "ord-none" }, alice), code: Code.NotFound },
  ];

  for (const c of cases) {
    it(`${c.name}: ${Code[c.code]}, nothing written`, async () => {
      const before = await snapshot();
      const err = await c.call().then(
        () => expect.fail("expected the call to fail"),
        (e: unknown) => ConnectError.from(e),
      );
      expect(Code[err.code]).to.equal(Code[c.code]);
      expect(err.rawMessage).to.not.equal("");
      if (c.message !== undefined) {
        expect(err.rawMessage).to.contain(c.message);
      }
      if (c.reason !== undefined) {
        expect(reasonOf(err)).to.equal(c.reason);
      }
      expect(await snapshot()).to.deep.equal(before);
    });
  }

  it("refuses an idempotency key reused with a different payment, and charges once", async () => {
    const first = await pay().authorizePayment({ idempotencyKey: "reuse", amountMinor: 500n, currencyCode: "USD", cardToken: "tok_visa" });
    const again = await pay().authorizePayment({ idempotencyKey: "reuse", amountMinor: 500n, currencyCode: "USD", cardToken: "tok_visa" });
    expect(again.payment?.paymentId).to.equal(first.payment?.paymentId);
    const err = await pay()
      .authorizePayment({ idempotencyKey: "reuse", amountMinor: 900n, currencyCode: "USD", cardToken: "tok_visa" })
      .then(
        () => expect.fail("expected the call to fail"),
        (e: unknown) => ConnectError.from(e),
      );
    expect(err.code).to.equal(Code.AlreadyExists);
    expect(reasonOf(err)).to.equal("IDEMPOTENCY_KEY_REUSED");
    expect((await pay().getPayment({ paymentId: first.payment!.paymentId })).payment?.amountMinor).to.equal(500n);
  });
});
