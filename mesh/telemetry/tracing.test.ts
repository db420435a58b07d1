import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ClientFactory, type TransportKind } from "../client/client-factory.js";
import { createLogger } from "../logger.js";
import { ResilienceEvents } from "../resilience/resilience-events.js";
import { serve, type MeshServer, type ServiceRegistration } from "../server/serve.js";
import { contextFromHeaders } from "./propagation.js";
import { traceClient, traceContextValues } from "./trace-client.js";
import { inServerSpan, traceServer } from "./trace-server.js";
import { createTracing } from "./tracing.js";

const logger = createLogger("tracing-test", "silent");
const getOrder = `${OrderService.typeName}/GetOrder`;
const getPayment = `${PaymentService.typeName}/GetPayment`;
const getItem = `${InventoryService.typeName}/GetItem`;

/**
 * gateway -> orders -> (payments, inventory), each a real server on its own
 * port, traced. The order id chooses how payments answers: "flaky-<n>" fails
 * with Unavailable on the first n calls with that id, a Code name fails with
 * that code. `gateway.call` plays the gateway: a SERVER span continuing the
 * browser's traceparent, then a traced call to orders.
 */
async function startMesh(options: { transport: TransportKind; sampleRatio?: number }) {
  const exporter = new InMemorySpanExporter();
  const { tracer, provider } = createTracing({ sampleRatio: options.sampleRatio ?? 1, exporter, export: "simple" });
  const seen = new Map<string, number>();
  const servers: MeshServer[] = [];
  const factories: ClientFactory[] = [];
  const start = async <S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>) => {
    const services: ServiceRegistration[] = [{ service, impl: impl }];
    const server = await serve({ port: 0, logger, services, interceptors: [traceServer(tracer)] });
    servers.push(server);
    return server;
  };
  const factory = () => {
    const events = new ResilienceEvents();
    const clients = new ClientFactory({ events, interceptors: [traceClient(tracer, events)] });
    factories.push(clients);
    return clients;
  };

  const payments = await start(PaymentService, {
      getPayment: (req) => {
        const n = (seen.get(req.paymentId) ?? 0) + 1;
        seen.set(req.paymentId, n);
        const [step, count] = req.paymentId.split("-");
        if (step === "flaky" && n <= Number(count)) {
          throw new ConnectError("flaky", Code.Unavailable);
        }
        if (step !== undefined && step in Code) {
          throw new ConnectError(`test failure ${step}`, Code[step as keyof typeof Code]);
        }
        return { payment: { paymentId: req.paymentId } };
      },
  });
  const inventory = await start(InventoryService, { getItem: (req) => ({ item: { sku: req.sku, name: "Mug" } }) });
  const ordersClients = factory();
  const target = (name: string, server: MeshServer) => ({
    name,
    endpoints: server.url,
    transport: options.transport,
    retry: { initialBackoffMs: 1 },
  });
  const paymentsClient = ordersClients.client(PaymentService, target("payments", payments));
  const inventoryClient = ordersClients.client(InventoryService, target("inventory", inventory));
  const orders = await start(OrderService, {
      getOrder: async (req) => {
        const [payment, item] = await Promise.all([
          paymentsClient.getPayment({ paymentId: req.orderId }),
          inventoryClient.getItem({ sku: "MUG-001" }),
        ]);
        return { order: { orderId: req.orderId, customerId: `${payment.payment?.paymentId}/${item.item?.sku}` } };
      },
  });
  const ordersClient = factory().client(OrderService, target("orders", orders));

  return {
    exporter,
    orders,
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    /** A gateway call with the browser's headers. */
    call: (orderId: string, headers: Record<string, string> = {}) =>
      inServerSpan(tracer, contextFromHeaders(headers), OrderService.method.getOrder, "grpc", (ctx) =>
        ordersClient.getOrder({ orderId }, { contextValues: traceContextValues(ctx) }),
      ),
    async close() {
      await Promise.all(servers.map((s) => s.shutdown()));
      factories.forEach((f) => f.close());
      await provider.shutdown();
    },
  };
}

type Mesh = Awaited<ReturnType<typeof startMesh>>;

const byName = (spans: ReadableSpan[], name: string, kind: SpanKind): ReadableSpan[] =>
  spans.filter((s) => s.name === name && s.kind === kind);

const one = (spans: ReadableSpan[], name: string, kind: SpanKind): ReadableSpan => {
  const found = byName(spans, name, kind);
  expect(found, `${SpanKind[kind]} ${name}`).to.have.length(1);
  return found[0]!;
};

const isChildOf = (child: ReadableSpan, parent: ReadableSpan): void => {
  expect(child.parentSpanContext?.spanId, `${child.name} parent`).to.equal(parent.spanContext().spanId);
  expect(child.spanContext().traceId).to.equal(parent.spanContext().traceId);
};

const failureOf = (promise: Promise<unknown>): Promise<ConnectError> =>
  promise.then(
    () => expect.fail("expected an error"),
    (e: unknown) => ConnectError.from(e),
  );

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const browserParent = (sampled: boolean) => ({ traceparent: `00-${traceId}-00f067aa0ba902b7-${sampled ? "01" : "00"}` });

describe("tracing", () => {
  for (const transport of ["grpc", "connect"] as const) {
    describe(`over ${transport}`, () => {
      let mesh: Mesh;
      beforeEach(async () => (mesh = await startMesh({ transport })));
      afterEach(() => mesh.close());

      it("records one trace from the gateway through orders to payments and inventory", async () => {
        await mesh.call("pay-1");
        const spans = mesh.spans();
        expect(spans).to.have.length(7);
        expect(new Set(spans.map((s) => s.spanContext().traceId)).size).to.equal(1);

        const [edge, ordersServer, ...others] = byName(spans, getOrder, SpanKind.SERVER).sort(
          (a, b) => Number(a.parentSpanContext !== undefined) - Number(b.parentSpanContext !== undefined),
        );
        expect(others).to.deep.equal([]);
        expect(edge!.parentSpanContext).to.equal(undefined);
        const ordersClient = one(spans, getOrder, SpanKind.CLIENT);
        isChildOf(ordersClient, edge!);
        const paymentsClient = one(spans, getPayment, SpanKind.CLIENT);
        const paymentsServer = one(spans, getPayment, SpanKind.SERVER);
        const inventoryClient = one(spans, getItem, SpanKind.CLIENT);
        const inventoryServer = one(spans, getItem, SpanKind.SERVER);
        isChildOf(ordersServer!, ordersClient);
        isChildOf(paymentsClient, ordersServer!);
        isChildOf(inventoryClient, ordersServer!);
        isChildOf(paymentsServer, paymentsClient);
        isChildOf(inventoryServer, inventoryClient);

        const system = transport === "connect" ? "connect_rpc" : "grpc";
        for (const span of [ordersClient, ordersServer!, paymentsClient, paymentsServer]) {
          expect(span.attributes["rpc.system"], span.name).to.equal(system);
          expect(span.attributes["rpc.grpc.status_code"]).to.equal(0);
          expect(span.status.code).to.equal(SpanStatusCode.UNSET);
        }
        expect(paymentsServer.attributes).to.include({ "rpc.service": PaymentService.typeName, "rpc.method": "GetPayment" });
        expect(paymentsClient.attributes).to.include({ "rpc.service": PaymentService.typeName, "rpc.method": "GetPayment" });
      });

      it("records the status code, and marks server failures as errors", async () => {
        const notFound = await failureOf(mesh.call("NotFound"));
        expect(notFound.code).to.equal(Code.NotFound);
        let spans = mesh.spans();
        const answered = one(spans, getPayment, SpanKind.SERVER);
        expect(answered.attributes["rpc.grpc.status_code"]).to.equal(Code.NotFound);
        // NotFound is an answer, not a server failure; the client sees it as an error.
        expect(answered.status.code).to.equal(SpanStatusCode.UNSET);
        const asked = one(spans, getPayment, SpanKind.CLIENT);
        expect(asked.attributes["rpc.grpc.status_code"]).to.equal(Code.NotFound);
        expect(asked.status.code).to.equal(SpanStatusCode.ERROR);
        if (transport === "connect") {
          expect(answered.attributes["rpc.connect_rpc.error_code"]).to.equal("not_found");
        }

        mesh.exporter.reset();
        await failureOf(mesh.call("Internal"));
        spans = mesh.spans();
        const failed = one(spans, getPayment, SpanKind.SERVER);
        expect(failed.attributes["rpc.grpc.status_code"]).to.equal(Code.Internal);
        expect(failed.status).to.deep.include({ code: SpanStatusCode.ERROR, message: "test failure Internal" });
      });

      it("continues the trace of the browser's traceparent", async () => {
        await mesh.call("pay-2", browserParent(true));
        const spans = mesh.spans();
        expect(spans).to.have.length(7);
        expect(spans.every((s) => s.spanContext().traceId === traceId)).to.equal(true);
      });

      it("shows a retry as an event of the client span, one span for the logical call", async () => {
        await mesh.call("flaky-1");
        const spans = mesh.spans();
        const client = one(spans, getPayment, SpanKind.CLIENT);
        const retries = client.events.filter((e) => e.name === "retry");
        expect(retries).to.have.length(1);
        expect(retries[0]!.attributes).to.include({ "rpc.retry.attempt": 2, "rpc.retry.code": "Unavailable" });
        expect(client.status.code).to.equal(SpanStatusCode.UNSET);
        // Both attempts reached payments, each a server span under the one client span.
        const attempts = byName(spans, getPayment, SpanKind.SERVER);
        expect(attempts.map((s) => s.attributes["rpc.grpc.status_code"])).to.deep.equal([Code.Unavailable, 0]);
        attempts.forEach((s) => isChildOf(s, client));
        expect(one(spans, getItem, SpanKind.CLIENT).events).to.deep.equal([]);
      });
    });
  }

  it("continues a traceparent sent straight to a server", async () => {
    const mesh = await startMesh({ transport: "grpc" });
    try {
      const plain = createClient(OrderService, createConnectTransport({ baseUrl: mesh.orders.url, httpVersion: "2" }));
      await plain.getOrder({ orderId: "pay-3" }, { headers: browserParent(true) });
      const spans = mesh.spans();
      expect(spans).to.have.length(5);
      expect(spans.every((s) => s.spanContext().traceId === traceId)).to.equal(true);
      expect(one(spans, getOrder, SpanKind.SERVER).parentSpanContext).to.deep.include({ spanId: "00f067aa0ba902b7", isRemote: true });
    } finally {
      await mesh.close();
    }
  });

  describe("sampling", () => {
    it("with ratio 0 records nothing of a new trace, and honours a sampled parent", async () => {
      const mesh = await startMesh({ transport: "grpc", sampleRatio: 0 });
      try {
        await mesh.call("pay-4");
        expect(mesh.spans()).to.deep.equal([]);
        await mesh.call("pay-5", browserParent(true));
        const spans = mesh.spans();
        expect(spans).to.have.length(7);
        expect(spans.every((s) => s.spanContext().traceId === traceId)).to.equal(true);
      } finally {
        await mesh.close();
      }
    });

    it("with ratio 1 honours an unsampled parent across services", async () => {
      const mesh = await startMesh({ transport: "grpc" });
      try {
        await mesh.call("pay-6", browserParent(false));
        expect(mesh.spans()).to.deep.equal([]);
      } finally {
        await mesh.close();
      }
    });

    it("rejects a ratio outside 0..1", () => {
      expect(() => createTracing({ sampleRatio: 1.5 })).to.throw(RangeError);
      expect(() => createTracing({ sampleRatio: Number.NaN })).to.throw(RangeError);
    });
  });
});
