import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { OrderCancelledSchema, OrderConfirmedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { createEnvelope, unpackEnvelope } from "./envelope.js";

describe("event envelope", () => {
  it("names the payload's type, packs it, and unpacks it only as that type", () => {
    const time = new Date("2026-01-02T03:04:05.678Z");
    const envelope = createEnvelope(
      OrderConfirmedSchema,
      create(OrderConfirmedSchema, { orderId: "ord-1", totalMinor: 2500n }),
      { source: "meshwork.orders", subject: "ord-1", id: "evt-1", time },
    );
    expect([envelope.id, envelope.source, envelope.subject, envelope.type]).to.deep.equal([
      "evt-1",
      "meshwork.orders",
      "ord-1",
      "meshwork.orders.v1.OrderConfirmed",
    ]);
    expect(timestampDate(envelope.time!).toISOString()).to.equal(time.toISOString());
    expect(unpackEnvelope(envelope, OrderConfirmedSchema)?.totalMinor).to.equal(2500n);
    expect(unpackEnvelope(envelope, OrderCancelledSchema)).to.equal(undefined);
  });

  it("gives each event a new UUID and, outside any call, no trace or request id", () => {
    const a = createEnvelope(OrderConfirmedSchema, { orderId: "ord-1" }, { source: "s", subject: "ord-1" });
    const b = createEnvelope(OrderConfirmedSchema, { orderId: "ord-1" }, { source: "s", subject: "ord-1" });
    expect(a.id).to.match(/^[0-9a-f-]{36}$/);
    expect(a.id).to.not.equal(b.id);
    expect([a.traceparent, a.tracestate, a.requestId]).to.deep.equal(["", "", ""]);
  });
});
