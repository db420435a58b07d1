import { randomUUID } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { signDevToken } from "../../gateway/auth/index.js";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { eventually } from "../support/eventually.js";
import type { ServiceProcess } from "../support/service-process.js";

type Line = Record<string, unknown>;
const placeOrder = `${OrderService.typeName}/PlaceOrder`;

/**
 * The JSON lines each process of a real mesh writes on stdout, while the
 * gateway's requests go through it: every line a process writes while
 * handling a request carries that request's id, and no secret is ever written.
 */
describe("correlated logs across the mesh", function () {
  this.timeout(90_000);
  let mesh: TestMesh;
  let token: string;
  const processes = (): ServiceProcess[] => [mesh.gateway!, mesh.orders, mesh.inventory, mesh.payments];

  before(async () => {
    mesh = await startMesh({
      // No background saga resumption: every orders line below belongs to a request.
      env: { SAGA_RESUME_MS: "600000" },
      gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000", MESH_POLL_MS: "600000" },
    });
    token = await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "log-alice" });
  });
  after(async () => {
    await mesh?.stop();
  });

  const order = (requestId: string, cardToken: string) =>
    httpRequest(mesh.gateway!.url, {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ requestId: `r-${randomUUID()}`, lines: [{ sku: "TEE-001", quantity: 1 }], cardToken }),
    });

  /** Each process's lines from now on, read once `until` says the last line of interest has arrived. */
  const mark = () => {
    const offsets = new Map(processes().map((p) => [p.name, p.logs.length]));
    return (p: ServiceProcess): Line[] => p.logs.slice(offsets.get(p.name));
  };
  const rpcLine = (p: ServiceProcess, requestId: string, method: string) =>
    p.logs.find((l) => l.msg === "rpc" && l.request_id === requestId && l.rpc === method);

  it("puts the request id on every line of every process; rpc lines carry trace and span ids, peer, code and duration", async () => {
    const since = mark();
    const response = await order("logs-1", "tok_visa");
    expect(response.status, response.text).to.equal(200);
    await eventually("the last line of each process for logs-1", () =>
      mesh.gateway!.logs.some((l) => l.msg === "http" && l.request_id === "logs-1") &&
      rpcLine(mesh.orders, "logs-1", placeOrder) !== undefined &&
      rpcLine(mesh.inventory, "logs-1", `${InventoryService.typeName}/CommitReservation`) !== undefined &&
      rpcLine(mesh.payments, "logs-1", `${PaymentService.typeName}/CapturePayment`) !== undefined,
    );

    const access = since(mesh.gateway!).filter((l) => l.msg === "http");
    expect(access).to.have.length(1);
    expect(access[0]).to.include({ level: 30, request_id: "logs-1", method: "POST", route: "/v1/orders", path: "/v1/orders", status: 200 });
    expect(access[0]!.duration_ms).to.be.a("number");
    const traceId = access[0]!.trace_id;
    expect(traceId).to.match(/^[0-9a-f]{32}$/);

    const spanIds = new Set<unknown>();
    for (const p of processes()) {
      const lines = since(p);
      expect(lines, p.name).to.not.deep.equal([]);
      for (const line of lines) {
        expect(line.request_id, `${p.name}: ${JSON.stringify(line)}`).to.equal("logs-1");
      }
      for (const line of lines.filter((l) => l.msg === "rpc")) {
        expect(line, p.name).to.include({ level: 30, code: "ok", trace_id: traceId, protocol: "grpc" });
        expect(line.span_id, p.name).to.match(/^[0-9a-f]{16}$/);
        expect(line.peer, p.name).to.be.oneOf(["127.0.0.1", "::ffff:127.0.0.1"]);
        expect(line.duration_ms, p.name).to.be.a("number");
        spanIds.add(line.span_id);
      }
    }
    // One server span per call: orders' PlaceOrder, inventory's GetItem, ReserveStock, CommitReservation, payments' two.
    expect(spanIds.size).to.equal(6);
  });

  it("logs a failed request's gateway line with its status, and never a token, card token or Authorization header", async () => {
    const since = mark();
    const refused = await httpRequest(mesh.gateway!.url, {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: "Bearer not-a-real-token.secret-part.sig", "content-type": "application/json", "x-request-id": "logs-401" },
      body: JSON.stringify({ requestId: "r-logs-401", lines: [{ sku: "TEE-001", quantity: 1 }], cardToken: "tok_visa" }),
    });
    expect(refused.status).to.equal(401);
    const unknownCard = await order("logs-card", "tok_leak_check_4242");
    // Refused by the card processor: the order is cancelled, the token quoted nowhere.
    expect(unknownCard.status, unknownCard.text).to.equal(200);
    expect(unknownCard.json).to.have.nested.property("order.state", "ORDER_STATE_CANCELLED");
    await eventually("the gateway's lines", () =>
      ["logs-401", "logs-card"].every((id) => mesh.gateway!.logs.some((l) => l.msg === "http" && l.request_id === id)),
    );
    expect(since(mesh.gateway!).find((l) => l.request_id === "logs-401")).to.include({ status: 401, route: "/v1/orders" });

    const everything = processes()
      .map((p) => JSON.stringify(p.logs))
      .join("\n");
    for (const secret of [token, "secret-part", "tok_visa", "tok_leak_check_4242", "Bearer"]) {
      expect(everything.includes(secret), `"${secret.slice(0, 20)}" in the logs`).to.equal(false);
    }
  });

  // Last: it stops inventory.
  it("puts the request id on the saga's own lines too, with the error and its cause", async () => {
    const since = mark();
    // Authorization takes 3 s; inventory goes away meanwhile, so committing
    // the reservation fails and the saga stalls inside the request.
    const placed = order("logs-stall", "tok_slow_3000");
    await eventually("the reservation", () => rpcLine(mesh.inventory, "logs-stall", `${InventoryService.typeName}/ReserveStock`) !== undefined);
    await mesh.inventory.kill();
    const response = await placed;
    expect(response.status, response.text).to.equal(200);
    await eventually("orders' line for logs-stall", () => rpcLine(mesh.orders, "logs-stall", placeOrder) !== undefined);

    const lines = since(mesh.orders);
    for (const line of lines) {
      expect(line.request_id, JSON.stringify(line)).to.equal("logs-stall");
      expect(line.trace_id).to.match(/^[0-9a-f]{32}$/);
    }
    const stalled = lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("saga stalled"));
    expect(stalled, JSON.stringify(lines)).to.not.equal(undefined);
    expect(stalled).to.include({ level: 50, sagaStep: "COMMIT" });
    const err = stalled!.err as { type?: string; message?: string; stack?: string };
    expect(err.type).to.equal("ConnectError");
    // The cause (the refused connection) is in the message and the stack.
    expect(err.message).to.match(/\[unavailable\].*ECONNREFUSED/);
    expect(err.stack).to.include("caused by: Error: connect ECONNREFUSED");
  });
});
