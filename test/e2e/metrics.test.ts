import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { DevTokens } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { TestClients } from "../support/test-identity.js";

/** GET /metrics on every service process, in the Prometheus text format. */
describe("metrics endpoint, real processes", function () {
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

  it("counts served and outbound calls by method and code, with no ids in labels", async () => {
    const { order } = await clients
      .client(OrderService, mesh.orders.url)
      .placeOrder(
        { requestId: "metrics-1", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" },
        { headers: { "x-customer-id": "alice" } },
      );
    expect(order?.state).to.equal(OrderState.CONFIRMED);

    const res = await fetch(`${mesh.orders.probeUrl}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.contain("text/plain");
    const text = await res.text();
    expect(text).to.match(/meshwork_server_requests_total\{[^}]*method="PlaceOrder"[^}]*code="ok"[^}]*\} 1/);
    expect(text).to.match(/meshwork_client_requests_total\{[^}]*target="inventory"[^}]*method="ReserveStock"[^}]*code="ok"[^}]*\} 1/);
    expect(text).to.match(/meshwork_client_requests_total\{[^}]*target="payments"[^}]*method="CapturePayment"[^}]*\} 1/);
    expect(text).to.contain('le="0.00005"');
    expect(text).to.contain("process_cpu_user_seconds_total");
    expect(text).to.not.contain(order!.orderId);
    expect(text).to.not.contain("alice");

    for (const proc of [mesh.inventory, mesh.payments]) {
      const served = await (await fetch(`${proc.probeUrl}/metrics`)).text();
      expect(served).to.contain("meshwork_server_requests_total");
    }
  });
});

/** The value of one series in a text exposition (labels in exposition order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const rendered = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${rendered}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** GET /metrics on the gateway's own port, with an admin token. */
describe("gateway metrics endpoint, real processes", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  before(async () => {
    mesh = await startMesh({ gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000" } });
  });
  after(() => mesh.stop());

  it("counts REST routes by template, passthrough calls by RPC, unknown paths as unmatched, and not probes or scrapes", async () => {
    const gw = mesh.gateway!.url;
    for (const sku of ["MUG-001", "STICKER-001"]) {
      expect((await fetch(`${gw}/v1/inventory/items/${sku}`)).status).to.equal(200);
    }
    expect((await fetch(`${gw}/v1/inventory/items/NOPE-404`)).status).to.equal(404);
    expect((await fetch(`${gw}/no/such/path/4711`)).status).to.equal(404);
    expect((await fetch(`${gw}/healthz`)).status).to.equal(200);
    expect((await fetch(`${gw}/readyz`)).status).to.equal(200);

    const connect = createClient(InventoryService, createConnectTransport({ baseUrl: gw, httpVersion: "1.1" }));
    expect((await connect.getItem({ sku: "MUG-001" })).item?.sku).to.equal("MUG-001");
    const grpcWeb = createClient(InventoryService, createGrpcWebTransport({ baseUrl: gw, httpVersion: "1.1" }));
    const missing = await grpcWeb.getItem({ sku: "NOPE-404" }).then(
      () => expect.fail("expected NotFound"),
      (err: unknown) => ConnectError.from(err),
    );
    expect(missing.code).to.equal(Code.NotFound);

    // For operators only: an admin token (test/e2e/operator-pages.test.ts has the refusals).
    expect((await fetch(`${gw}/metrics`)).status).to.equal(401);
    const admin = await new DevTokens(mesh.dataDir).sign("ops", ["meshwork:admin"]);
    const res = await fetch(`${gw}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).to.equal(200);
    const text = await res.text();
    const name = "meshwork_gateway_requests_total";
    const item = { protocol: "rest", route: "/v1/inventory/items/{sku}", method: "GET" };
    expect(sample(text, name, { ...item, status: "200", code: "ok" })).to.equal(2);
    expect(sample(text, name, { ...item, status: "404", code: "not_found" })).to.equal(1);
    expect(sample(text, name, { protocol: "rest", route: "unmatched", method: "GET", status: "404", code: "not_found" })).to.equal(1);
    const getItem = "/meshwork.inventory.v1.InventoryService/GetItem";
    expect(sample(text, name, { protocol: "connect", route: getItem, method: "POST", status: "200", code: "ok" })).to.equal(1);
    // gRPC-Web answers 200 whatever the outcome: the code says what happened.
    expect(sample(text, name, { protocol: "grpc-web", route: getItem, method: "POST", status: "200", code: "not_found" })).to.equal(1);
    expect(sample(text, "meshwork_gateway_request_duration_seconds_count", item)).to.equal(3);
    expect(sample(text, "meshwork_gateway_in_flight", { protocol: "rest" })).to.equal(0);
    expect(text).not.to.match(/route="\/(healthz|readyz|metrics)"/);
    expect(text).not.to.contain("4711");
    expect(text).not.to.match(/MUG-|STICKER-|NOPE-/);

    // Its upstream calls, their breakers, and the process.
    const client = { target: "inventory", service: "meshwork.inventory.v1.InventoryService", method: "GetItem" };
    expect(sample(text, "meshwork_client_requests_total", { ...client, code: "ok" })).to.equal(3);
    expect(sample(text, "meshwork_client_requests_total", { ...client, code: "not_found" })).to.equal(2);
    expect(sample(text, "meshwork_breaker_state", { target: "inventory", method: "meshwork.inventory.v1.InventoryService/GetItem" })).to.equal(0);
    expect(text).to.contain("process_cpu_user_seconds_total");
  });
});
