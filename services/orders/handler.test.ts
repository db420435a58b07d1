import { expect } from "chai";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { Code, ConnectError, reasonOf } from "../../mesh/errors.js";
import { CancelReason, OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { createOrderHandler } from "./handler.js";
import { ordersFixture } from "./orders.fixture.js";

const request = { requestId: "r1", lines: [{ sku: "MUG-001", quantity: 2 }], cardToken: "tok_visa" };

function as(customerId: string) {
  return { headers: { "x-customer-id": customerId } };
}

async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  expect.fail("expected the call to fail");
}

describe("createOrderHandler", () => {
  let fx: Awaited<ReturnType<typeof ordersFixture>>;
  let client: Client<typeof OrderService>;
  beforeEach(async () => {
    fx = await ordersFixture();
    const transport = createRouterTransport((router) => router.service(OrderService, createOrderHandler(fx.domain)));
    client = createClient(OrderService, transport);
  });
  afterEach(() => fx.dispose());

  it("maps a confirmed order with int64 amounts, enums and timestamps", async () => {
    const { order } = await client.placeOrder(request, as("alice@example.com"));

    expect(order).to.include({
      customerId: "alice@example.com",
      totalMinor: 2400n,
      currencyCode: "USD",
      state: OrderState.CONFIRMED,
      cancelReason: CancelReason.UNSPECIFIED,
      cancelDetail: "",
      paymentId: "pay_1",
      cancelRequested: false,
    });
    expect(order?.lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor }))).to.deep.equal([
      { sku: "MUG-001", quantity: 2, unitPriceMinor: 1200n },
    ]);
    const stored = await fx.store.get(order?.orderId ?? "");
    expect(order?.createdAt && timestampDate(order.createdAt)).to.deep.equal(stored?.createdAt);
    expect(order?.updatedAt && timestampDate(order.updatedAt)).to.deep.equal(stored?.updatedAt);
  });

  it("maps a cancelled order's reason and detail", async () => {
    const { order } = await client.placeOrder({ ...request, cardToken: "tok_declined" }, as("alice"));

    expect(order?.state).to.equal(OrderState.CANCELLED);
    expect(order?.cancelReason).to.equal(CancelReason.PAYMENT_DECLINED);
    expect(order?.cancelDetail).to.contain("CARD_DECLINED");
  });

  it("refuses a call without x-customer-id as Unauthenticated", async () => {
    for (const options of [{}, as("")]) {
      const err = await refusal(client.getOrder({ orderId: "o1" }, options));

      expect(err.code).to.equal(Code.Unauthenticated);
      expect(err.rawMessage).to.equal("missing x-customer-id");
    }
  });

  it("refuses a malformed x-customer-id as InvalidArgument", async () => {
    for (const customerId of ["has space", "a/b", "x".repeat(129)]) {
      const err = await refusal(client.listOrders({}, as(customerId)));

      expect(err.code).to.equal(Code.InvalidArgument);
      expect(reasonOf(err)).to.equal("INVALID_CUSTOMER_ID");
    }
  });

  it("shows a customer only their own orders", async () => {
    const { order } = await client.placeOrder(request, as("alice"));
    const orderId = order?.orderId ?? "";

    expect((await client.getOrder({ orderId }, as("alice"))).order?.orderId).to.equal(orderId);
    expect((await refusal(client.getOrder({ orderId }, as("bob")))).code).to.equal(Code.PermissionDenied);
    expect((await refusal(client.cancelOrder({ orderId }, as("bob")))).code).to.equal(Code.PermissionDenied);
    expect((await client.listOrders({}, as("bob"))).orders).to.deep.equal([]);
    const page = await client.listOrders({ pageSize: 1 }, as("alice"));
    expect(page.orders.map((o) => o.orderId)).to.deep.equal([orderId]);
    expect(page.nextPageToken).to.equal("");
  });

  it("carries business refusals over the wire with their reason", async () => {
    const { order } = await client.placeOrder(request, as("alice"));

    const notCancellable = await refusal(client.cancelOrder({ orderId: order?.orderId ?? "" }, as("alice")));
    const reused = await refusal(client.placeOrder({ ...request, cardToken: "tok_other" }, as("alice")));
    const badToken = await refusal(client.listOrders({ pageToken: "nope" }, as("alice")));

    expect([notCancellable.code, reasonOf(notCancellable)]).to.deep.equal([Code.FailedPrecondition, "ORDER_NOT_CANCELLABLE"]);
    expect([reused.code, reasonOf(reused)]).to.deep.equal([Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED"]);
    expect(badToken.code).to.equal(Code.InvalidArgument);
  });
});
