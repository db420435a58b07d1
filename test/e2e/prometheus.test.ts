import { expect } from "chai";
import { OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { bareTarget } from "../support/bare-target.js";
import { DevTokens, httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { TestClients } from "../support/test-identity.js";
import { PrometheusServer, type Sample } from "../support/prometheus-server.js";

const value = (samples: Sample[]): number[] => samples.map((s) => Number(s.value[1]));

describe("a real Prometheus server scraping the mesh", function () {
  this.timeout(180_000);
  let mesh: TestMesh;
  let prometheus: PrometheusServer | undefined;
  let clients: TestClients;

  before(async () => {
    mesh = await startMesh({
      // A breaker that, once open, stays open for the rest of the test.
      env: { BREAKER_VOLUME_THRESHOLD: "4", BREAKER_RESET_MS: "600000", SAGA_RESUME_MS: "600000" },
      gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000" },
    });
    clients = new TestClients();
    prometheus = await PrometheusServer.start({
      // The gateway's /metrics is for operators: Prometheus scrapes it with an admin token.
      bearerTokens: { gateway: await new DevTokens(mesh.dataDir).sign("prometheus", ["meshwork:admin"]) },
      targets: {
        inventory: mesh.inventory.address,
        payments: mesh.payments.address,
        orders: mesh.orders.address,
        gateway: mesh.gateway!.address,
      },
    });
  });
  after(async () => {
    await prometheus?.stop();
    clients.close();
    await mesh.stop();
  });

  it("scrapes every process (up = 1)", async () => {
    const up = await prometheus!.until("up", (r) => r.length === 4 && value(r).every((v) => v === 1));
    expect(up.map((s) => [s.metric.job, s.value[1]]).sort(), prometheus!.log).to.deep.equal([
      ["gateway", "1"],
      ["inventory", "1"],
      ["orders", "1"],
      ["payments", "1"],
    ]);
  });

  it("counts PlaceOrder on orders, gateway requests by route template, and shows the orders -> payments breaker closed", async () => {
    const token = await new DevTokens(mesh.dataDir).sign("alice");
    for (let i = 0; i < 3; i++) {
      const placed = await httpRequest(mesh.gateway!.url, {
        method: "POST",
        path: "/v1/orders",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ requestId: `prom-${i}`, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }),
      });
      expect(placed.status, placed.text).to.equal(200);
    }

    const placeOrder = await prometheus!.until(
      'meshwork_server_requests_total{job="orders",method="PlaceOrder",code="ok"}',
      (r) => value(r)[0] === 3,
    );
    expect(value(placeOrder)).to.deep.equal([3]);

    const routed = await prometheus!.until(
      'meshwork_gateway_requests_total{job="gateway",protocol="rest",route="/v1/orders",method="POST",status="200",code="ok"}',
      (r) => value(r)[0] === 3,
    );
    expect(value(routed)).to.deep.equal([3]);

    const upstream = await prometheus!.until(
      'meshwork_client_requests_total{job="gateway",target="orders",method="PlaceOrder",code="ok"}',
      (r) => value(r)[0] === 3,
    );
    expect(value(upstream)).to.deep.equal([3]);

    const breaker = await prometheus!.until(
      'meshwork_breaker_state{job="orders",target="payments",method="meshwork.payments.v1.PaymentService/AuthorizePayment"}',
      (r) => r.length === 1,
    );
    expect(value(breaker)).to.deep.equal([0]);
  });

  it("shows the breaker open (2) once payments is killed and orders keep failing", async () => {
    await mesh.payments.kill();
    const orders = clients.client(OrderService, bareTarget(mesh.orders.url));
    // Three authorizations succeeded in the breaker's window: four failures pass 50%.
    for (let i = 0; i < 8; i++) {
      const { order } = await orders.placeOrder(
        { requestId: `prom-down-${i}`, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" },
        { headers: { "x-customer-id": "alice" } },
      );
      expect(order?.state).to.equal(OrderState.CANCELLED);
    }
    const authorize = 'target="payments",method="meshwork.payments.v1.PaymentService/AuthorizePayment"';
    const open = await prometheus!.until(`meshwork_breaker_state{job="orders",${authorize}}`, (r) => value(r)[0] === 2);
    expect(value(open), prometheus!.log).to.deep.equal([2]);
    const opened = await prometheus!.until(
      `meshwork_breaker_transitions_total{job="orders",${authorize},to="open"}`,
      (r) => value(r)[0] === 1,
    );
    expect(value(opened)).to.deep.equal([1]);
    const down = await prometheus!.until('up{job="payments"}', (r) => value(r)[0] === 0);
    expect(value(down)).to.deep.equal([0]);
  });
});
