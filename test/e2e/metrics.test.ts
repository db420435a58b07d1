import { expect } from "chai";
import { OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { ClientFactory } from "../../mesh/index.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

/** GET /metrics on every service process, in the Prometheus text format. */
describe("metrics endpoint, real processes", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let clients: ClientFactory;
  before(async () => {
    mesh = await startMesh();
    clients = new ClientFactory();
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

    const res = await fetch(`${mesh.orders.url}/metrics`);
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
      const served = await (await fetch(`${proc.url}/metrics`)).text();
      expect(served).to.contain("meshwork_server_requests_total");
    }
  });
});
