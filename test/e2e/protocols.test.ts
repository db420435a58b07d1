import type { DescMessage, DescService, Message } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import {
  GetItemResponseSchema,
  InventoryService,
  ListItemsResponseSchema,
  ReserveStockResponseSchema,
} from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { GetOrderResponseSchema, OrderService, PlaceOrderResponseSchema } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { AuthorizePaymentResponseSchema, GetPaymentResponseSchema, PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { outcomeOf, type CallOutcome } from "../support/call-outcome.js";
import { createGrpcJsClient } from "../support/grpc-js-client.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { TestClients, testTls, testTlsFor } from "../support/test-identity.js";

const run = promisify(execFile);
const buf = path.resolve(import.meta.dirname, "../../node_modules/.bin/buf");

/**
 * The same calls through four independent client stacks — Connect-ES over
 * gRPC, Connect and gRPC-Web, and @grpc/grpc-js — against the real services in
 * their own processes: every result and every error must be identical.
 */
describe("every protocol, real processes", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let clients: TestClients;
  before(async () => {
    mesh = await startMesh();
    clients = new TestClients();
  });
  after(async () => {
    clients.close();
    await mesh.stop();
  });

  type Stack = <S extends DescService>(service: S, url: string, address: string) => CallAs<S>;
  type CallAs<S extends DescService> = (method: string, request: object, headers?: Record<string, string>) => Promise<Message>;

  const connectStack =
    (make: (service: DescService, url: string) => Client<DescService>): Stack =>
    (service, url) =>
    (method, request, headers) =>
      (make(service, url) as unknown as Record<string, (r: object, o: object) => Promise<Message>>)[method]!(request, {
        headers,
      });
  const stacks: Record<string, Stack> = {
    "connect-es gRPC": connectStack((s, url) => clients.client(s, { endpoints: url, transport: "grpc" })),
    "connect-es Connect": connectStack((s, url) => clients.client(s, { endpoints: url, transport: "connect" })),
    "mesh client, grpc-js transport": connectStack((s, url) => clients.client(s, { endpoints: url, transport: "grpc-js" })),
    "connect-es gRPC-Web (HTTP/1.1)": (service, url) => async (method, request, headers) => {
      const tls = await testTlsFor(methodOf(service, method), headers);
      const client = createClient(service, createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions: tls.nodeOptions }));
      return (client as unknown as Record<string, (r: object, o: object) => Promise<Message>>)[method]!(request, { headers });
    },
    "@grpc/grpc-js": (service, _url, address) => async (method, request, headers) => {
      const { grpcJs } = await testTlsFor(methodOf(service, method), headers);
      const client = createGrpcJsClient(service, address, grpcJs.channelOptions, grpcJs.credentials) as unknown as Record<
        string,
        (r: object, m?: object) => Promise<Message>
      > & {
        close(): void;
      };
      return client[method]!(request, headers).finally(() => client.close());
    },
  };

  interface Case {
    name: string;
    target: () => { service: DescService; url: string; address: string };
    method: string;
    output: DescMessage;
    request: object;
    headers?: Record<string, string>;
    /** "ok", or the expected error code's name. */
    expected: string;
  }
  const inv = () => ({ service: InventoryService, url: mesh.inventory.url, address: mesh.inventory.address });
  const pay = () => ({ service: PaymentService, url: mesh.payments.url, address: mesh.payments.address });
  const ord = () => ({ service: OrderService, url: mesh.orders.url, address: mesh.orders.address });
  const alice = { "x-customer-id": "alice" };
  const cases: Case[] = [
    { name: "GetItem",
      expected: "ok", target: inv, method: "getItem", output: GetItemResponseSchema, request: { sku: "MUG-001" } },
    { name: "GetItem unknown SKU",
      expected: "NotFound", target: inv, method: "getItem", output: GetItemResponseSchema, request: { sku: "NOPE-404" } },
    { name: "GetItem malformed SKU",
      expected: "InvalidArgument", target: inv, method: "getItem", output: GetItemResponseSchema, request: { sku: "mug 1" } },
    { name: "ListItems page",
      expected: "ok", target: inv, method: "listItems", output: ListItemsResponseSchema, request: { pageSize: 3 } },
    { name: "ListItems page too big",
      expected: "InvalidArgument", target: inv, method: "listItems", output: ListItemsResponseSchema, request: { pageSize: 1000 } },
    {
      name: "ReserveStock beyond stock",
      expected: "FailedPrecondition",
      target: inv,
      method: "reserveStock",
      output: ReserveStockResponseSchema,
      request: { orderId: "parity-1", lines: [{ sku: "HOODIE-001", quantity: 999 }] },
    },
    { name: "GetPayment unknown",
      expected: "NotFound", target: pay, method: "getPayment", output: GetPaymentResponseSchema, request: { paymentId: "pay_missing" } },
    {
      name: "AuthorizePayment declined",
      expected: "FailedPrecondition",
      target: pay,
      method: "authorizePayment",
      output: AuthorizePaymentResponseSchema,
      request: { idempotencyKey: "parity-k1", amountMinor: 100n, currencyCode: "USD", cardToken: "tok_declined" },
    },
    {
      name: "AuthorizePayment bad currency",
      expected: "InvalidArgument",
      target: pay,
      method: "authorizePayment",
      output: AuthorizePaymentResponseSchema,
      request: { idempotencyKey: "parity-k2", amountMinor: 100n, currencyCode: "usd", cardToken: "tok_visa" },
    },
    {
      name: "PlaceOrder without a customer",
      expected: "Unauthenticated",
      target: ord,
      method: "placeOrder",
      output: PlaceOrderResponseSchema,
      request: { requestId: "parity-r0", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" },
    },
    {
      name: "PlaceOrder with no lines",
      expected: "InvalidArgument",
      target: ord,
      method: "placeOrder",
      output: PlaceOrderResponseSchema,
      request: { requestId: "parity-r1", lines: [], cardToken: "tok_visa" },
      headers: alice,
    },
    { name: "GetOrder unknown",
      expected: "NotFound", target: ord, method: "getOrder", output: GetOrderResponseSchema, request: { orderId: "ord_missing" }, headers: alice },
  ];

  for (const c of cases) {
    it(`${c.name}: identical outcome on every stack`, async () => {
      const outcomes: Record<string, CallOutcome> = {};
      for (const [stackName, stack] of Object.entries(stacks)) {
        const { service, url, address } = c.target();
        outcomes[stackName] = await outcomeOf(c.output, () => stack(service, url, address)(c.method, c.request, c.headers));
      }
      const [first, ...rest] = Object.values(outcomes);
      expect(first?.ok ? "ok" : first?.code).to.equal(c.expected);
      for (const [stackName, outcome] of Object.entries(outcomes)) {
        expect(outcome, stackName).to.deep.equal(first);
      }
      expect(rest).to.have.length(4);
    });
  }

  it("places the same order idempotently over every stack and reads it back identically", async () => {
    const outcomes: CallOutcome[] = [];
    for (const stack of Object.values(stacks)) {
      const { service, url, address } = ord();
      outcomes.push(
        await outcomeOf(PlaceOrderResponseSchema, () =>
          stack(service, url, address)(
            "placeOrder",
            { requestId: "parity-place", lines: [{ sku: "TEE-001", quantity: 1 }], cardToken: "tok_visa" },
            alice,
          ),
        ),
      );
    }
    expect(outcomes[0]?.ok).to.equal(true);
    for (const outcome of outcomes) {
      expect(outcome).to.deep.equal(outcomes[0]);
    }
  });

  for (const name of ["inventory", "payments", "orders"] as const) {
    it(`${name}: health SERVING and reflection lists it with no local schema (buf curl)`, async () => {
      const proc = mesh[name];
      const health = clients.client(Health, proc.url);
      expect((await health.check({ service: "" })).status).to.equal(Status.SERVING);
      const operator = await testTls("test-operator", "operator");
      const { stdout } = await run(buf, [
        "curl",
        "--protocol",
        "grpc",
        "--cert",
        operator.certFile,
        "--key",
        operator.keyFile,
        "--cacert",
        operator.caFile,
        // The DNS SAN of its certificate: buf curl verifies a host name, not a SPIFFE id.
        "--servername",
        `${name}.meshwork.local`,
        "--list-services",
        proc.url,
      ]);
      const services = stdout.trim().split("\n");
      const own = { inventory: "meshwork.inventory.v1.InventoryService", payments: "meshwork.payments.v1.PaymentService", orders: "meshwork.orders.v1.OrderService" }[name];
      expect(services).to.include.members([own, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]);
      expect((await health.check({ service: own })).status).to.equal(Status.SERVING);
    });
  }
});

function methodOf(service: DescService, localName: string) {
  const method = service.methods.find((m) => m.localName === localName);
  if (method === undefined) {
    throw new Error(`${service.typeName} has no method ${localName}`);
  }
  return method;
}
