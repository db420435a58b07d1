import { expect } from "chai";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { Code, ConnectError, failure, reasonOf } from "../../mesh/errors.js";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { inventoryPort, paymentsPort } from "./upstream.js";

/**
 * The adapters against stub services on an in-memory router transport: the
 * stubs record what reached the wire and answer as the contracts say.
 */

async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  expect.fail("expected the call to fail");
}

describe("inventoryPort", () => {
  const received: unknown[] = [];
  const port = inventoryPort(
    createClient(
      InventoryService,
      createRouterTransport((router) =>
        router.service(InventoryService, {
          getItem(request) {
            if (request.sku !== "MUG-001") {
              throw new ConnectError(`item ${request.sku} not found`, Code.NotFound);
            }
            return { item: { sku: "MUG-001", priceMinor: 1200n, currencyCode: "USD", available: 7, reserved: 1 } };
          },
          reserveStock(request) {
            const lines = request.lines.map(({ sku, quantity }) => ({ sku, quantity }));
            received.push({ method: "reserve", orderId: request.orderId, ttl: request.ttlSeconds, lines });
            return {};
          },
          releaseReservation(request) {
            received.push({ method: "release", orderId: request.orderId });
            return {};
          },
          commitReservation(request) {
            received.push({ method: "commit", orderId: request.orderId });
            throw failure(Code.FailedPrecondition, "RESERVATION_EXPIRED", "expired");
          },
        }),
      ),
    ),
  );
  beforeEach(() => {
    received.length = 0;
  });

  it("quotes an item with its int64 price as a number", async () => {
    expect(await port.getItem("MUG-001")).to.deep.equal({ sku: "MUG-001", priceMinor: 1200, currencyCode: "USD", available: 7 });
  });

  it("passes an unknown SKU through as NotFound", async () => {
    expect((await refusal(port.getItem("NOPE-1"))).code).to.equal(Code.NotFound);
  });

  it("reserves, releases and commits by order id, passing reasons through", async () => {
    await port.reserve("o1", [{ sku: "MUG-001", quantity: 2 }]);
    await port.release("o1");
    const err = await refusal(port.commit("o1"));

    expect(received).to.deep.equal([
      { method: "reserve", orderId: "o1", ttl: 0, lines: [{ sku: "MUG-001", quantity: 2 }] },
      { method: "release", orderId: "o1" },
      { method: "commit", orderId: "o1" },
    ]);
    expect([err.code, reasonOf(err)]).to.deep.equal([Code.FailedPrecondition, "RESERVATION_EXPIRED"]);
  });

  it("stops a reservation when the signal aborts", async () => {
    const err = await refusal(port.reserve("o1", [{ sku: "MUG-001", quantity: 1 }], AbortSignal.abort()));

    expect(err.code).to.equal(Code.Canceled);
  });
});

describe("paymentsPort", () => {
  const received: unknown[] = [];
  const port = paymentsPort(
    createClient(
      PaymentService,
      createRouterTransport((router) =>
        router.service(PaymentService, {
          authorizePayment(request) {
            const { idempotencyKey, orderId, amountMinor, currencyCode, cardToken } = request;
            received.push({ method: "authorize", idempotencyKey, orderId, amountMinor, currencyCode, cardToken });
            if (request.cardToken === "tok_declined") {
              throw failure(Code.FailedPrecondition, "CARD_DECLINED", "declined");
            }
            return { payment: { paymentId: "pay_9", orderId: request.orderId, amountMinor: request.amountMinor } };
          },
          capturePayment(request) {
            received.push({ method: "capture", paymentId: request.paymentId });
            return {};
          },
          voidPayment(request) {
            received.push({ method: "void", paymentId: request.paymentId });
            return {};
          },
        }),
      ),
    ),
  );
  beforeEach(() => {
    received.length = 0;
  });

  const authorization = { idempotencyKey: "orders:o1", orderId: "o1", amountMinor: 4900, currencyCode: "USD", cardToken: "tok_visa" };

  it("authorizes with the amount as int64 and returns the payment id", async () => {
    expect(await port.authorize(authorization)).to.deep.equal({ paymentId: "pay_9" });
    expect(received).to.deep.equal([{ method: "authorize", ...authorization, amountMinor: 4900n }]);
  });

  it("passes a decline through with its reason", async () => {
    const err = await refusal(port.authorize({ ...authorization, cardToken: "tok_declined" }));

    expect([err.code, reasonOf(err)]).to.deep.equal([Code.FailedPrecondition, "CARD_DECLINED"]);
  });

  it("captures and voids by payment id", async () => {
    await port.capture("pay_9");
    await port.void("pay_9");

    expect(received).to.deep.equal([
      { method: "capture", paymentId: "pay_9" },
      { method: "void", paymentId: "pay_9" },
    ]);
  });
});
