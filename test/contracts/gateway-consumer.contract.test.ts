import { create, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import {
  createAccessPolicy,
  createTokenVerifier,
  defaultAccessPolicyFile,
  devAudience,
  devIssuer,
  ensureDevKeys,
  signDevToken,
  type TokenVerifier,
} from "../../gateway/auth/index.js";
import { UpstreamCaller, type Upstream } from "../../gateway/server/upstream-call.js";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { ContractRecorder } from "../../mesh/contracts/index.js";
import { ClientFactory } from "../../mesh/index.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { keepContract } from "./support.js";
import type { WorkloadCredentials } from "../../mesh/identity/workload-credentials.js";
import { testCredentials } from "../support/test-identity.js";

/** What the gateway's web page reads of an item (gateway/web/app.ts catalogue and order form). */
const itemFields = ["sku", "name", "priceMinor", "currencyCode", "available"] as const;

/**
 * The gateway as a consumer of the public APIs: real calls through its own
 * UpstreamCaller (token verified, x-customer-id set from the subject) to real
 * services, recorded as contracts/gateway/{inventory,orders}.v1.json
 * (RECORD_CONTRACTS=1 rewrites them; otherwise they must match).
 */
describe("gateway consumer contracts", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let clients: ClientFactory;
  let gatewayTls: WorkloadCredentials;
  let caller: UpstreamCaller;
  let token: string;
  let verifier: TokenVerifier;
  const inventoryContract = new ContractRecorder({
    consumer: "gateway",
    provider: "inventory",
    service: InventoryService,
    reads: {
      GetItem: Object.fromEntries(itemFields.map((f) => [`item.${f}`, "type"])),
      ListItems: { ...Object.fromEntries(itemFields.map((f) => [`items[*].${f}`, "type"])), nextPageToken: "type" },
    },
  });
  const order = (prefix: string) => ({
    [`${prefix}orderId`]: "type",
    [`${prefix}state`]: "type",
    [`${prefix}totalMinor`]: "type",
    [`${prefix}currencyCode`]: "type",
    [`${prefix}lines[*].sku`]: "type",
    [`${prefix}lines[*].quantity`]: "type",
    [`${prefix}cancelReason`]: "type",
    [`${prefix}cancelDetail`]: "type",
    [`${prefix}cancelRequested`]: "type",
  }) as const;
  const ordersContract = new ContractRecorder({
    consumer: "gateway",
    provider: "orders",
    service: OrderService,
    // The page shows the outcome of a placed order, so it relies on the state and reason values there.
    reads: {
      PlaceOrder: { ...order("order."), "order.state": "value", "order.cancelReason": "value" },
      GetOrder: order("order."),
      ListOrders: { ...order("orders[*]."), nextPageToken: "type" },
      CancelOrder: { ...order("order."), "order.state": "value", "order.cancelRequested": "value" },
    },
    headers: ["x-customer-id"],
  });

  before(async () => {
    mesh = await startMesh();
    const keysDir = path.join(mesh.dataDir, "auth");
    const { jwksFile } = await ensureDevKeys(keysDir);
    token = await signDevToken(keysDir, { subject: "contract-customer" });
    verifier = await createTokenVerifier({ jwks: { file: jwksFile }, issuer: devIssuer, audience: devAudience });
    const upstreams: Upstream[] = [
      { service: InventoryService, target: { name: "inventory", endpoints: mesh.inventory.url, breaker: false } },
      { service: OrderService, target: { name: "orders", endpoints: mesh.orders.url, breaker: false } },
    ];
    // As the gateway itself: what its contracts record is what it may call.
    gatewayTls = await testCredentials("gateway");
    clients = new ClientFactory({ interceptors: [inventoryContract.interceptor, ordersContract.interceptor], tls: gatewayTls });
    caller = new UpstreamCaller({
      upstreams,
      clients,
      policy: realPolicyFor(upstreams),
      forwardHeaders: [],
      logger: pino({ enabled: false }),
    });
  });

  after(async () => {
    clients?.close();
    gatewayTls?.close();
    await mesh?.stop();
  });

  /** The gateway's own access policy, narrowed to the services recorded here (the file may grant others too). */
  function realPolicyFor(upstreams: readonly Upstream[]) {
    const document = JSON.parse(readFileSync(defaultAccessPolicyFile, "utf8")) as { methods: Record<string, string> };
    const prefixes = upstreams.map((u) => `${u.service.typeName}/`);
    const methods = Object.fromEntries(Object.entries(document.methods).filter(([m]) => prefixes.some((p) => m.startsWith(p))));
    return createAccessPolicy({ methods }, upstreams.map((u) => u.service), defaultAccessPolicyFile);
  }

  /** One call as the gateway makes it for a signed-in customer. */
  function call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
  ): Promise<unknown> {
    const authorization = `Bearer ${token}`;
    return verifier.verify(authorization).then((principal) =>
      caller.call({
        method,
        request: create(method.input, request),
        headers: { authorization },
        requestId: "contract",
        principal,
        peer: "127.0.0.1",
        timeoutMs: 20_000,
        signal: new AbortController().signal,
      }),
    );
  }

  it("records what the gateway relies on from inventory", async () => {
    const record = inventoryContract.interaction.bind(inventoryContract);
    const { getItem, listItems } = InventoryService.method;
    await record("get an item for the catalogue", () => call(getItem, { sku: "MUG-001" }));
    await record("get an unknown item fails with NotFound", () => call(getItem, { sku: "NO-SUCH-SKU" }));
    await record("list a page of the catalogue", () => call(listItems, { pageSize: 3 }));
    keepContract(inventoryContract.contract());
  });

  it("records what the gateway relies on from orders", async () => {
    const record = ordersContract.interaction.bind(ordersContract);
    const { placeOrder, getOrder, listOrders, cancelOrder } = OrderService.method;
    const place = (requestId: string, cardToken = "tok_visa", quantity = 1) =>
      call(placeOrder, { requestId, lines: [{ sku: "MUG-001", quantity }], cardToken });

    await record("place an order that is confirmed", async () => {
      const placed = (await place("contract-confirmed")) as { order?: { state: number } };
      expect(placed.order?.state).to.equal(2);
    });
    await record("place an order with a declined card is cancelled as PAYMENT_DECLINED", () =>
      place("contract-declined", "tok_declined"),
    );
    await record("place an order for more than the stock fails with INSUFFICIENT_STOCK", () =>
      place("contract-too-many", "tok_visa", 1000),
    );
    await record("place an order for an unknown item fails with NotFound", () =>
      call(placeOrder, { requestId: "contract-unknown-sku", lines: [{ sku: "NO-SUCH-SKU", quantity: 1 }], cardToken: "tok_visa" }),
    );
    await record("get a placed order", async () => {
      const placed = (await place("contract-get")) as { order: { orderId: string } };
      await call(getOrder, { orderId: placed.order.orderId });
    });
    await record("get an unknown order fails with NotFound", () => call(getOrder, { orderId: "no-such-order" }));
    await record("list the customer's orders", async () => {
      await place("contract-list");
      await call(listOrders, { pageSize: 10 });
    });
    await record("cancel a confirmed order fails with ORDER_NOT_CANCELLABLE", async () => {
      const placed = (await place("contract-cancel-confirmed")) as { order: { orderId: string } };
      await call(cancelOrder, { orderId: placed.order.orderId });
    });
    await record("cancel a cancelled order returns it unchanged", async () => {
      const placed = (await place("contract-cancel-cancelled", "tok_declined")) as { order: { orderId: string } };
      await call(cancelOrder, { orderId: placed.order.orderId });
    });
    keepContract(ordersContract.contract());
  });
});
