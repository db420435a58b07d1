import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { faultInjectedReason, reasonOf } from "../../mesh/index.js";
import { eventually } from "../support/eventually.js";
import { DevTokens, httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { startService } from "../support/service-process.js";
import { TestClients } from "../support/test-identity.js";

const payments = PaymentService.typeName;

/** A counter's value in a process's /metrics text, 0 if absent (the gateway's needs an admin token). */
async function metric(url: string, name: string, labels: Record<string, string>, token?: string): Promise<number> {
  // Metrics answer in cleartext on the service's port.
  const res = await fetch(`${url.replace(/^https:/, "http:")}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  expect(res.status).to.equal(200);
  const text = await res.text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

describe("fault injection in real processes (MESH_FAULTS, FaultService)", function () {
  this.timeout(120_000);

  it("is off unless configured: without MESH_FAULTS a service has no FaultService", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-faults-"));
    const clients = new TestClients();
    const service = await startService("payments", { DATA_DIR: dataDir });
    try {
      const err = await clients
        .client(FaultService, { endpoints: service.url, retry: false })
        .getFaults({})
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).to.equal(Code.Unimplemented);
      expect(service.logs.some((l) => String(l.msg).startsWith("fault injection is on"))).to.equal(false);
    } finally {
      clients.close();
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses to start on a malformed MESH_FAULTS, naming it", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-faults-"));
    try {
      const started = startService("payments", { DATA_DIR: dataDir, MESH_FAULTS: '{"faults":[{"abort":{"grpc_status":14}}]}' });
      const err = await started.then(
        async (p) => {
          await p.stop();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.match(/exited with 1 before serving: .*MESH_FAULTS: .*percentage/s);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe("a mesh started with MESH_FAULTS={}", () => {
    let mesh: TestMesh;
    let clients: TestClients;
    let tokens: DevTokens;
    before(async () => {
      mesh = await startMesh({ env: { MESH_FAULTS: "{}" }, gateway: {} });
      clients = new TestClients();
      tokens = new DevTokens(mesh.dataDir);
    });
    after(async () => {
      clients?.close();
      await mesh?.stop();
    });

    it("warns at start that fault injection is on", () => {
      for (const p of [mesh.inventory, mesh.payments, mesh.orders, mesh.notifications, mesh.gateway!]) {
        expect(p.logs.some((l) => l.level === 40 && String(l.msg).startsWith("fault injection is on")), p.name).to.equal(true);
      }
    });

    it("changes a service's faults at run time through FaultService: injected aborts are marked and counted, and clearing them restores the service", async () => {
      // Generous deadlines: the machine may be shared and slow.
      const faults = clients.client(FaultService, { endpoints: mesh.payments.url, retry: false, timeouts: { defaultTimeoutMs: 30_000 } });
      const set = await faults.setFaults({
        config: {
          faults: [{ service: payments, method: "AuthorizePayment", abort: { errorType: { case: "grpcStatus", value: 14 }, percentage: { numerator: 100 } } }],
        },
      });
      expect(set.config?.faults).to.have.length(1);
      try {
        const direct = await clients
          .client(PaymentService, { endpoints: mesh.payments.url, retry: false, timeouts: { defaultTimeoutMs: 30_000 } })
          .authorizePayment({ idempotencyKey: "fault-direct", amountMinor: 100n, currencyCode: "EUR", cardToken: "tok_visa" })
          .then(() => undefined, (e: unknown) => ConnectError.from(e));
        expect(direct?.code).to.equal(Code.Unavailable);
        expect(reasonOf(direct)).to.equal(faultInjectedReason);
        expect(await metric(mesh.payments.url, "meshwork_faults_injected_total", { method: "AuthorizePayment", fault: "abort" })).to.be.at.least(1);
        // The line reaches this process through a pipe, in the service's next batch of lines (within 50 ms).
        const changed = await eventually("payments logs the change", () =>
          mesh.payments.logs.some((l) => l.msg === "fault configuration changed (FaultService)") ? true : undefined,
        );
        expect(changed).to.equal(true);
      } finally {
        await faults.setFaults({ config: {} });
      }
      expect((await faults.getFaults({})).config?.faults).to.deep.equal([]);
      const order = await clients
        .client(OrderService, { endpoints: mesh.orders.url })
        .placeOrder({ requestId: "after-faults", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }, { headers: { "x-customer-id": "alice" }, timeoutMs: 60_000 });
      expect(order.order?.state).to.equal(2 /* CONFIRMED */);
    });

    it("refuses a bad configuration with InvalidArgument and keeps the one in force", async () => {
      const faults = clients.client(FaultService, { endpoints: mesh.inventory.url, retry: false });
      const err = await faults
        .setFaults({ config: { faults: [{ service: InventoryService.typeName }] } })
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).to.equal(Code.InvalidArgument);
      expect(err?.rawMessage).to.contain("needs a delay, an abort or both");
      expect((await faults.getFaults({})).config?.faults).to.deep.equal([]);
    });

    it("serves the gateway's own faults at /v1/faults to admins only, and applies them to its upstream calls", async () => {
      const gateway = mesh.gateway!.url;
      const rule = {
        faults: [
          {
            direction: "DIRECTION_OUTBOUND",
            upstream_cluster: "inventory",
            method: "GetItem",
            abort: { grpc_status: 14, percentage: { numerator: 100 } },
          },
        ],
      };
      const put = (token?: string) =>
        httpRequest(gateway, {
          method: "PUT",
          path: "/v1/faults",
          headers: { "content-type": "application/json", ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
          body: JSON.stringify(rule),
        });
      expect((await put()).status).to.equal(401);
      expect((await put(await tokens.sign("alice"))).status).to.equal(403);
      const admin = await tokens.sign("ops", ["meshwork:admin"]);
      const accepted = await put(admin);
      expect(accepted.status, accepted.text).to.equal(200);
      try {
        const item = await httpRequest(gateway, { path: "/v1/inventory/items/MUG-001" });
        expect(item.status).to.equal(503);
        expect((await httpRequest(gateway, { path: "/v1/inventory/items?page_size=1" })).status, "ListItems is not matched").to.equal(200);
        expect(
          await metric(gateway, "meshwork_faults_injected_total", { direction: "outbound", target: "inventory", method: "GetItem", fault: "abort" }, admin),
        ).to.be.at.least(1);
      } finally {
        const cleared = await httpRequest(gateway, {
          method: "PUT",
          path: "/v1/faults",
          headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
          body: "{}",
        });
        expect(cleared.status).to.equal(200);
      }
      expect((await httpRequest(gateway, { path: "/v1/inventory/items/MUG-001" })).status).to.equal(200);
      const read = await httpRequest(gateway, { path: "/v1/faults", headers: { authorization: `Bearer ${admin}` } });
      expect(read.json).to.deep.equal({ config: {} });
    });

    it("matches a rule's downstream_nodes against the caller's mesh identity, not its address", async () => {
      const faults = clients.client(FaultService, { endpoints: mesh.inventory.url, retry: false });
      const headerRule = (downstreamNodes: string[]) => ({
        config: {
          faults: [{ service: InventoryService.typeName, downstreamNodes, abort: { errorType: { case: "headerAbort" as const, value: {} }, percentage: { numerator: 100 } } }],
        },
      });
      const headers = { "x-envoy-fault-abort-grpc-request": "14" };
      // The test calls GetItem as the gateway's identity (its contract's first caller).
      const ask = () =>
        clients
          .client(InventoryService, { endpoints: mesh.inventory.url, retry: false })
          .getItem({ sku: "MUG-001" }, { headers })
          .then(() => "ok", (e: unknown) => Code[ConnectError.from(e).code]);
      try {
        await faults.setFaults(headerRule(["127.0.0.1"]));
        expect(await ask(), "an address names no caller of an mTLS port").to.equal("ok");
        await faults.setFaults(headerRule(["spiffe://meshwork.local/service/orders"]));
        expect(await ask(), "another identity").to.equal("ok");
        await faults.setFaults(headerRule(["spiffe://meshwork.local/service/gateway"]));
        expect(await ask(), "the caller's identity").to.equal("Unavailable");
      } finally {
        await faults.setFaults({ config: {} });
      }
    });

    it("never takes x-envoy-fault-* headers from the internet: the gateway does not pass them on", async () => {
      // inventory takes header faults from the gateway's identity...
      const faults = clients.client(FaultService, { endpoints: mesh.inventory.url, retry: false });
      await faults.setFaults({
        config: {
          faults: [
            {
              service: InventoryService.typeName,
              downstreamNodes: ["spiffe://meshwork.local/service/gateway"],
              abort: { errorType: { case: "headerAbort", value: {} }, percentage: { numerator: 100 } },
            },
          ],
        },
      });
      try {
        const headers = { "x-envoy-fault-abort-grpc-request": "14", "x-envoy-fault-abort-request": "503" };
        // ...so a direct call with the header, as the gateway's identity, fails...
        const direct = await clients
          .client(InventoryService, { endpoints: mesh.inventory.url, retry: false })
          .getItem({ sku: "MUG-001" }, { headers })
          .then(() => "ok", (e: unknown) => Code[ConnectError.from(e).code]);
        expect(direct).to.equal("Unavailable");
        // ...but the same header sent to the gateway never reaches it.
        const viaGateway = await httpRequest(mesh.gateway!.url, { path: "/v1/inventory/items/MUG-001", headers });
        expect(viaGateway.status).to.equal(200);
      } finally {
        await faults.setFaults({ config: {} });
      }
    });
  });
});
