import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { EnvelopeSchema, type Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderPlacedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { CancelReason } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { unpackEnvelope } from "../../mesh/events/index.js";
import { storeEngines } from "../../test/support/store-engines.js";
import { ordersFixture } from "./orders.fixture.js";

const request = { requestId: "r1", lines: [{ sku: "MUG-001", quantity: 2 }], cardToken: "tok_visa" };

for (const engine of storeEngines) describe(`order events (the orders outbox) on ${engine}`, () => {
  let fx: Awaited<ReturnType<typeof ordersFixture>>;
  beforeEach(async () => {
    fx = await ordersFixture({}, engine);
  });
  afterEach(() => fx.dispose());

  /** The outbox as written: stream and envelope of every row, in publishing order. */
  const outbox = async (): Promise<{ stream: string; envelope: Envelope }[]> =>
    (await fx.fresh.query<{ stream: string; envelope: Uint8Array }>("SELECT stream, envelope FROM outbox ORDER BY seq")).map((row) => ({
      stream: row.stream,
      envelope: fromBinary(EnvelopeSchema, row.envelope),
    }));

  it("writes OrderPlaced then OrderConfirmed for a confirmed order, on the orders stream with the order as subject", async () => {
    const order = await fx.domain.placeOrder("alice", request);

    const rows = await outbox();
    expect(rows.map((r) => [r.stream, r.envelope.type, r.envelope.subject, r.envelope.source])).to.deep.equal([
      ["orders", "meshwork.orders.v1.OrderPlaced", order.orderId, "meshwork.orders"],
      ["orders", "meshwork.orders.v1.OrderConfirmed", order.orderId, "meshwork.orders"],
    ]);
    const placed = unpackEnvelope(rows[0]!.envelope, OrderPlacedSchema);
    expect(placed).to.include({ orderId: order.orderId, customerId: "alice", totalMinor: 2400n, currencyCode: "USD" });
    expect(placed?.lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor }))).to.deep.equal([
      { sku: "MUG-001", quantity: 2, unitPriceMinor: 1200n },
    ]);
    expect(timestampDate(rows[0]!.envelope.time!)).to.deep.equal(order.createdAt);
    const confirmed = unpackEnvelope(rows[1]!.envelope, OrderConfirmedSchema);
    expect(confirmed).to.include({ orderId: order.orderId, customerId: "alice", paymentId: order.paymentId, totalMinor: 2400n });
    expect(timestampDate(rows[1]!.envelope.time!)).to.deep.equal(order.updatedAt);
    expect(new Set(rows.map((r) => r.envelope.id)).size).to.equal(2);
  });

  it("writes OrderPlaced then OrderCancelled with the reason and detail for a declined card", async () => {
    const order = await fx.domain.placeOrder("alice", { ...request, cardToken: "tok_declined" });

    const rows = await outbox();
    expect(rows.map((r) => r.envelope.type)).to.deep.equal(["meshwork.orders.v1.OrderPlaced", "meshwork.orders.v1.OrderCancelled"]);
    const cancelled = unpackEnvelope(rows[1]!.envelope, OrderCancelledSchema);
    expect(cancelled).to.include({ orderId: order.orderId, customerId: "alice", reason: CancelReason.PAYMENT_DECLINED });
    expect(cancelled?.detail).to.equal(order.cancelDetail).and.to.contain("declined");
  });

  it("writes nothing more for a replayed request, nor for a second driver of an ended order", async () => {
    const order = await fx.domain.placeOrder("alice", request);
    await fx.domain.placeOrder("alice", request);
    await fx.domain.resumePending();

    expect(await fx.store.update({ ...order, state: "CONFIRMED", sagaStep: "DONE" }, "CAPTURE", ["ORDER_CONFIRMED"])).to.equal(undefined);
    expect(await outbox()).to.have.length(2);
  });

  it("writes no event when the change does not commit", async () => {
    const existing = { ...baseOrder(), orderId: "o1" };
    expect(await fx.store.insert(existing, ["ORDER_PLACED"])).to.equal(true);
    expect(await fx.store.insert({ ...existing, orderId: "o2" }, ["ORDER_PLACED"])).to.equal(false);

    expect((await outbox()).map((r) => r.envelope.subject)).to.deep.equal(["o1"]);
  });
});

function baseOrder() {
  const at = new Date(Date.UTC(2025, 0, 1));
  return {
    orderId: "o",
    customerId: "alice",
    requestId: "req-1",
    requestFingerprint: "fp",
    lines: [{ sku: "MUG-001", quantity: 1, unitPriceMinor: 1200 }],
    totalMinor: 1200,
    currencyCode: "USD",
    state: "PENDING" as const,
    cancelDetail: "",
    cancelRequested: false,
    sagaStep: "RESERVE" as const,
    undo: [],
    createdAt: at,
    updatedAt: at,
  };
}
