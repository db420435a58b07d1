import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ContractRecorder } from "../../mesh/contracts/index.js";
import { ClientFactory } from "../../mesh/index.js";
import { keepContract } from "../../test/contracts/support.js";
import { startService, type ServiceProcess } from "../../test/support/service-process.js";
import type { InventoryPort, PaymentsPort } from "./ports.js";
import { authorizationKey } from "./saga.js";
import { inventoryPort, paymentsPort } from "./upstream.js";
import type { WorkloadCredentials } from "../../mesh/identity/workload-credentials.js";
import { testCredentials } from "../../test/support/test-identity.js";

/**
 * Orders as a consumer: drives its own upstream adapters against real
 * inventory and payments processes through every case the saga and pricing
 * branch on, and records what they read as contracts/orders/*.v1.json
 * (RECORD_CONTRACTS=1 rewrites them; otherwise they must match).
 */
describe("orders consumer contracts", function () {
  this.timeout(60_000);
  let dataDir: string;
  let inventoryProcess: ServiceProcess;
  let paymentsProcess: ServiceProcess;
  let clients: ClientFactory;
  let ordersTls: WorkloadCredentials;
  let inventory: InventoryPort;
  let payments: PaymentsPort;
  const inventoryContract = new ContractRecorder({
    consumer: "orders",
    provider: "inventory",
    service: InventoryService,
    // upstream.ts inventoryPort.getItem: the rest of the answers are only awaited.
    reads: {
      GetItem: { "item.sku": "type", "item.priceMinor": "type", "item.currencyCode": "type", "item.available": "type" },
    },
  });
  const paymentsContract = new ContractRecorder({
    consumer: "orders",
    provider: "payments",
    service: PaymentService,
    // upstream.ts paymentsPort.authorize: capture and void answers are only awaited.
    reads: { AuthorizePayment: { "payment.paymentId": "type" } },
  });

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-contracts-"));
    [inventoryProcess, paymentsProcess] = await Promise.all([
      startService("inventory", { DATA_DIR: dataDir }),
      startService("payments", { DATA_DIR: dataDir }),
    ]);
    // As orders itself: what its contracts record is what it may call.
    ordersTls = await testCredentials("orders");
    clients = new ClientFactory({ interceptors: [inventoryContract.interceptor, paymentsContract.interceptor], tls: ordersTls });
    inventory = inventoryPort(clients.client(InventoryService, { name: "inventory", endpoints: inventoryProcess.url, breaker: false }));
    payments = paymentsPort(clients.client(PaymentService, { name: "payments", endpoints: paymentsProcess.url, breaker: false }));
  });

  after(async () => {
    clients?.close();
    ordersTls?.close();
    await Promise.all([inventoryProcess?.stop(), paymentsProcess?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("records what orders relies on from inventory", async () => {
    const mug = [{ sku: "MUG-001", quantity: 1 }];
    const record = inventoryContract.interaction.bind(inventoryContract);

    await record("get a known item for its price, currency and stock", async () => {
      const item = await inventory.getItem("MUG-001");
      expect(item.currencyCode).to.equal("USD");
    });
    await record("get an unknown item fails with NotFound", () => inventory.getItem("NO-SUCH-SKU"));
    await record("reserve available stock", () => inventory.reserve("contract-reserve", mug));
    await record("reserve more than available fails with INSUFFICIENT_STOCK", () =>
      inventory.reserve("contract-reserve-short", [{ sku: "MUG-001", quantity: 1000 }]),
    );
    await record("reserve again with the same order and lines is a no-op", async () => {
      await inventory.reserve("contract-reserve-twice", mug);
      await inventory.reserve("contract-reserve-twice", mug);
    });
    await record("release an active reservation", async () => {
      await inventory.reserve("contract-release", mug);
      await inventory.release("contract-release");
    });
    await record("release a released reservation is a no-op", async () => {
      await inventory.reserve("contract-release-twice", mug);
      await inventory.release("contract-release-twice");
      await inventory.release("contract-release-twice");
    });
    await record("release a reservation never made fails with NotFound", () => inventory.release("contract-never-reserved"));
    await record("commit an active reservation", async () => {
      await inventory.reserve("contract-commit", mug);
      await inventory.commit("contract-commit");
    });
    await record("commit a committed reservation is a no-op", async () => {
      await inventory.reserve("contract-commit-twice", mug);
      await inventory.commit("contract-commit-twice");
      await inventory.commit("contract-commit-twice");
    });
    await record("commit a released reservation fails with FailedPrecondition", async () => {
      await inventory.reserve("contract-commit-released", mug);
      await inventory.release("contract-commit-released");
      await inventory.commit("contract-commit-released");
    });
    await record("commit an expired reservation fails with RESERVATION_EXPIRED", async () => {
      // The port always asks for the default TTL; a 1 s one is set up with the raw client.
      const raw = clients.client(InventoryService, { name: "inventory", endpoints: inventoryProcess.url, breaker: false });
      await raw.reserveStock({ orderId: "contract-commit-expired", lines: mug, ttlSeconds: 1 });
      await inventoryContract.pause(1_500);
      await inventory.commit("contract-commit-expired");
    });

    keepContract(inventoryContract.contract());
  });

  it("records what orders relies on from payments", async () => {
    const authorize = (orderId: string, cardToken: string) =>
      payments.authorize({ idempotencyKey: authorizationKey(orderId), orderId, amountMinor: 1400, currencyCode: "USD", cardToken });
    const record = paymentsContract.interaction.bind(paymentsContract);

    await record("authorize an approved card", () => authorize("contract-authorize", "tok_visa"));
    await record("authorize a declined card fails with CARD_DECLINED", () => authorize("contract-declined", "tok_declined"));
    await record("authorize without funds fails with INSUFFICIENT_FUNDS", () =>
      authorize("contract-no-funds", "tok_insufficient_funds"),
    );
    await record("authorize while the processor is down fails with Unavailable, DEPENDENCY_UNAVAILABLE", () =>
      authorize("contract-processor-down", "tok_unavailable"),
    );
    await record("capture an authorized payment", async () => {
      await payments.capture((await authorize("contract-capture", "tok_visa")).paymentId);
    });
    await record("capture a captured payment is a no-op", async () => {
      const { paymentId } = await authorize("contract-capture-twice", "tok_visa");
      await payments.capture(paymentId);
      await payments.capture(paymentId);
    });
    await record("void an authorized payment", async () => {
      await payments.void((await authorize("contract-void", "tok_visa")).paymentId);
    });
    await record("capture a voided payment fails with FailedPrecondition", async () => {
      const { paymentId } = await authorize("contract-capture-voided", "tok_visa");
      await payments.void(paymentId);
      await payments.capture(paymentId);
    });
    await record("void a captured payment fails with FailedPrecondition", async () => {
      const { paymentId } = await authorize("contract-void-captured", "tok_visa");
      await payments.capture(paymentId);
      await payments.void(paymentId);
    });

    keepContract(paymentsContract.contract());
  });
});
