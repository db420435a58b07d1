import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { signDevToken } from "../../gateway/auth/index.js";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { eventually } from "../support/eventually.js";
import { spanKind, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.js";

const placeOrder = `${OrderService.typeName}/PlaceOrder`;
const rpc = (service: { typeName: string }, method: string) => `${service.typeName}/${method}`;
const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/**
 * Every process of a real mesh (gateway, orders, inventory, payments) exports
 * its spans over OTLP/HTTP to a receiver in this test, as to a collector; a
 * PlaceOrder through the gateway's REST route must come back as one trace.
 */
describe("tracing across the mesh (OTLP/HTTP export from every process)", function () {
  this.timeout(90_000);
  let receiver: OtlpReceiver;
  let mesh: TestMesh;
  let auth: string;

  before(async () => {
    receiver = await startOtlpReceiver();
    mesh = await startMesh({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "50" },
      gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000" },
    });
    auth = `Bearer ${await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "trace-alice" })}`;
  });
  after(async () => {
    await mesh?.stop();
    await receiver?.close();
  });

  const order = (requestId: string, traceparent?: string) =>
    httpRequest(mesh.gateway!.url, {
      method: "POST",
      path: "/v1/orders",
      headers: {
        authorization: auth,
        "content-type": "application/json",
        "x-request-id": requestId,
        ...(traceparent === undefined ? {} : { traceparent, tracestate: "vendor=browser" }),
      },
      body: JSON.stringify({ requestId: `r-${randomUUID()}`, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }),
    });

  const inTrace = (traceId: string): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === traceId);
  const the = (spans: ReceivedSpan[], service: string, kind: number, name: string): ReceivedSpan => {
    const found = spans.filter((s) => s.service === service && s.kind === kind && s.name === name);
    expect(found, `${service} ${kind === spanKind.server ? "SERVER" : "CLIENT"} ${name} in ${describe(spans)}`).to.have.length(1);
    return found[0]!;
  };
  const describe = (spans: ReceivedSpan[]) => JSON.stringify(spans.map((s) => `${s.service}:${s.kind}:${s.name}`));
  const childOf = (child: ReceivedSpan, parent: ReceivedSpan) =>
    expect(child.parentSpanId, `${child.service} ${child.name} is a child of ${parent.service} ${parent.name}`).to.equal(parent.spanId);
  /** Every span of the trace, once the last one the saga makes (payments capturing) has arrived, and the gateway's. */
  const completeTrace = async (traceId: string): Promise<ReceivedSpan[]> => {
    await eventually(`the spans of trace ${traceId}`, () => {
      const spans = inTrace(traceId);
      return (
        spans.some((s) => s.service === "payments" && s.name === rpc(PaymentService, "CapturePayment")) &&
        spans.some((s) => s.service === "gateway" && s.kind === spanKind.server) &&
        spans.some((s) => s.service === "orders" && s.kind === spanKind.server)
      );
    });
    return inTrace(traceId);
  };

  it("continues the browser's trace through gateway -> orders -> inventory and payments, one span per hop", async () => {
    const traceId = hex(16);
    const browserSpan = hex(8);
    const response = await order("trace-1", `00-${traceId}-${browserSpan}-01`);
    expect(response.status, response.text).to.equal(200);
    const spans = await completeTrace(traceId);

    const edge = the(spans, "gateway", spanKind.server, "POST /v1/orders");
    expect(edge.parentSpanId).to.equal(browserSpan);
    expect(edge.attributes).to.include({
      "http.request.method": "POST",
      "http.route": "/v1/orders",
      "url.path": "/v1/orders",
      "http.response.status_code": 200,
    });

    const toOrders = the(spans, "gateway", spanKind.client, placeOrder);
    childOf(toOrders, edge);
    const ordersServer = the(spans, "orders", spanKind.server, placeOrder);
    // The gateway sent its own client span as the parent, not the browser's traceparent.
    childOf(ordersServer, toOrders);

    // Pricing (one line, one item read), then the saga's steps.
    const hops: [service: string, name: string][] = [
      ["inventory", rpc(InventoryService, "GetItem")],
      ["inventory", rpc(InventoryService, "ReserveStock")],
      ["payments", rpc(PaymentService, "AuthorizePayment")],
      ["inventory", rpc(InventoryService, "CommitReservation")],
      ["payments", rpc(PaymentService, "CapturePayment")],
    ];
    for (const [service, name] of hops) {
      const client = the(spans, "orders", spanKind.client, name);
      childOf(client, ordersServer);
      const server = the(spans, service, spanKind.server, name);
      childOf(server, client);
      for (const span of [client, server]) {
        expect(span.attributes, `${span.service} ${span.name}`).to.include({
          "rpc.system": "grpc",
          "rpc.service": name.split("/")[0],
          "rpc.method": name.split("/")[1],
          "rpc.grpc.status_code": 0,
        });
      }
    }
    for (const span of [toOrders, ordersServer]) {
      expect(span.attributes).to.include({ "rpc.system": "grpc", "rpc.service": OrderService.typeName, "rpc.method": "PlaceOrder", "rpc.grpc.status_code": 0 });
    }
    // Nothing else: no stray spans, one trace id for all of them.
    expect(spans, describe(spans)).to.have.length(2 + 1 + 2 * hops.length);
    expect(new Set(spans.map((s) => s.service))).to.deep.equal(new Set(["gateway", "orders", "inventory", "payments"]));
    expect(receiver.refused).to.deep.equal([]);
  });

  it("starts a trace at the gateway when the browser sends no traceparent", async () => {
    const response = await order("trace-2");
    expect(response.status, response.text).to.equal(200);
    let edge: ReceivedSpan | undefined;
    await eventually("the gateway's span of trace-2", () => {
      edge = receiver.spans.find(
        (s) => s.service === "gateway" && s.kind === spanKind.server && s.parentSpanId === "" && s.attributes["http.route"] === "/v1/orders",
      );
      return edge !== undefined;
    });
    const spans = await completeTrace(edge!.traceId);
    childOf(the(spans, "gateway", spanKind.client, placeOrder), edge!);
    expect(the(spans, "orders", spanKind.server, placeOrder).parentSpanId).to.not.equal("");
  });

  it("exports nothing of a trace the browser sampled out, yet every service still sees its trace id", async () => {
    const traceId = hex(16);
    const offsets = [mesh.orders, mesh.inventory, mesh.payments].map((p) => p.logs.length);
    const response = await order("trace-unsampled", `00-${traceId}-${hex(8)}-00`);
    expect(response.status, response.text).to.equal(200);

    // A sampled request after it: once its spans have arrived from every
    // process, anything of the first one would have (each process exports in order).
    const barrier = hex(16);
    expect((await order("trace-barrier", `00-${barrier}-${hex(8)}-01`)).status).to.equal(200);
    await completeTrace(barrier);
    expect(inTrace(traceId)).to.deep.equal([]);

    // Propagated all the same: each service logged the request under the browser's trace id.
    [mesh.orders, mesh.inventory, mesh.payments].forEach((process, i) => {
      const lines = process.logs.slice(offsets[i]).filter((l) => l.msg === "rpc" && l.request_id === "trace-unsampled");
      expect(lines, process.name).to.not.deep.equal([]);
      for (const line of lines) {
        expect(line.trace_id, `${process.name} ${String(line.rpc)}`).to.equal(traceId);
      }
    });
  });
});
