import { expect } from "chai";
import path from "node:path";
import { signDevToken } from "../../gateway/auth/dev-token.js";
import { httpRequest, mapBounded, type RawResponse } from "../support/gateway-http.js";
import { eventually } from "../support/eventually.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

/**
 * No caller can make an outage for the others (issue 13, item 4), on the
 * real mesh through the real gateway: a deadline below the floor is refused
 * before any work; deadlines the caller chose, however many run out, leave
 * every breaker closed; so do orders whose card the processor fails on
 * (payments answers that its dependency is down, mesh/dependency-unavailable.ts);
 * one customer holds at most its share of the gateway's calls in flight to orders.
 */
describe("caller-made outages: deadline floor, caller budgets and breakers, bulkhead shares (real processes)", function () {
  this.timeout(180_000);
  let mesh: TestMesh;
  const tokens = new Map<string, string>();

  before(async () => {
    mesh = await startMesh({
      gateway: {
        // The rate limit is not under test here: each customer sends dozens of requests.
        RATE_LIMIT_PER_SECOND: "1000",
        RATE_LIMIT_BURST: "1000",
        // 8 calls in flight to each upstream, 2 of them (25%) for one caller.
        GATEWAY_BULKHEAD_MAX: "8",
        GATEWAY_BULKHEAD_SHARE_PERCENT: "25",
      },
    });
    for (const subject of ["alice", "mallory", "ops"]) {
      tokens.set(subject, await signDevToken(path.join(mesh.dataDir, "auth"), { subject, ...(subject === "ops" ? { scopes: ["meshwork:admin"] } : {}) }));
    }
  });
  after(() => mesh?.stop());

  const gateway = () => mesh.gateway!.url;
  const placeOrder = (subject: string, requestId: string, cardToken: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    httpRequest(gateway(), {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${tokens.get(subject)!}`, "content-type": "application/json", ...headers },
      body: JSON.stringify({ requestId, lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken }),
    });
  const stateOf = (response: RawResponse): string => String((response.json as { order?: { state?: string } }).order?.state);
  const codeOf = (response: RawResponse): string => String((response.json as { code?: string }).code);

  /** Every breaker state series of a process's metrics ("target method" -> 0 closed, 1 half-open, 2 open). */
  const breakerStates = async (url: string, headers: Record<string, string> = {}): Promise<Map<string, number>> => {
    const { text, status } = await httpRequest(url, { path: "/metrics", headers });
    expect(status).to.equal(200);
    const states = new Map<string, number>();
    for (const m of text.matchAll(/^meshwork_breaker_state\{([^}]*)\} (\d+)$/gm)) {
      states.set(m[1]!, Number(m[2]));
    }
    return states;
  };
  const expectAllClosed = async () => {
    const gatewayStates = await breakerStates(gateway(), { authorization: `Bearer ${tokens.get("ops")!}` });
    const ordersStates = await breakerStates(mesh.orders.probeUrl);
    expect(gatewayStates.size, "the gateway made upstream calls").to.be.above(0);
    expect(ordersStates.size, "orders made upstream calls").to.be.above(0);
    for (const [series, state] of [...gatewayStates, ...ordersStates]) {
      expect(state, series).to.equal(0);
    }
  };

  it("refuses a client deadline below the floor with 400 before any work", async () => {
    const tooShort: Record<string, string>[] = [{ "x-request-timeout-ms": "1" }, { "x-request-timeout-ms": "49" }, { "grpc-timeout": "10m" }];
    for (const headers of tooShort) {
      const response = await placeOrder("mallory", `floor-${JSON.stringify(headers)}`, "tok_visa", headers);
      expect(response.status, JSON.stringify(headers)).to.equal(400);
      expect(codeOf(response)).to.equal("invalid_argument");
      expect(response.text).to.contain("below the gateway's floor of 50 ms");
    }
    const item = await httpRequest(gateway(), { path: "/v1/inventory/items/MUG-001", headers: { "x-request-timeout-ms": "1" } });
    expect(item.status).to.equal(400);
    // The floor itself is a deadline like any other.
    expect((await httpRequest(gateway(), { path: "/v1/inventory/items/MUG-001", headers: { "x-request-timeout-ms": "5000" } })).status).to.equal(200);
  });

  it("50 orders whose own deadline runs out leave every shared breaker closed and other customers' orders CONFIRMED", async () => {
    const outcomes = await mapBounded(
      Array.from({ length: 50 }, (_, i) => i),
      2,
      (i) => placeOrder("mallory", `hurried-${i}`, "tok_slow_2000", { "x-request-timeout-ms": "60" }),
    );
    expect(outcomes.map((o) => o.status).filter((s) => s !== 504), "every one ran out of its own time").to.deep.equal([]);
    await expectAllClosed();
    const other = await placeOrder("alice", "after-hurried", "tok_visa");
    expect(other.status).to.equal(200);
    expect(stateOf(other)).to.match(/CONFIRMED$/);
    await expectAllClosed();
  });

  it("30 orders whose card the processor fails on leave every shared breaker closed, orders ready, and other customers' orders CONFIRMED", async () => {
    const sentence = "the payment could not be processed right now; please try again later";
    // Two at a time: mallory's share of the gateway's bulkhead to orders (2 of 8).
    const outcomes = await mapBounded(
      Array.from({ length: 30 }, (_, i) => i),
      2,
      (i) => placeOrder("mallory", `processor-down-${i}`, "tok_unavailable"),
    );
    for (const outcome of outcomes) {
      expect(outcome.status).to.equal(200);
      const order = (outcome.json as { order: { state: string; cancelReason: string; cancelDetail: string } }).order;
      expect(order.state).to.match(/CANCELLED$/);
      expect(order.cancelReason).to.match(/PAYMENT_FAILED$/);
      expect(order.cancelDetail).to.equal(sentence);
    }
    const ordersStates = await breakerStates(mesh.orders.probeUrl);
    const authorize = [...ordersStates.keys()].filter((series) => series.includes("PaymentService/AuthorizePayment"));
    expect(authorize, "orders' breaker to AuthorizePayment took the 30 calls").to.have.length(1);
    await expectAllClosed();
    const ready = await httpRequest(mesh.orders.probeUrl, { path: "/readyz" });
    expect(ready.status, ready.text).to.equal(200);
    const other = await placeOrder("alice", "after-processor-down", "tok_visa");
    expect(other.status).to.equal(200);
    expect(stateOf(other)).to.match(/CONFIRMED$/);
    await expectAllClosed();
  });

  it("holds one customer to its share of the gateway's calls to orders, while another customer still gets through", async () => {
    const slow = Array.from({ length: 4 }, (_, i) => placeOrder("mallory", `hog-${i}`, "tok_slow_3000"));
    // Two of the four are refused at once: mallory's share (2 of 8) is taken by the other two.
    const first = await Promise.race(slow);
    expect(first.status).to.equal(429);
    expect(codeOf(first)).to.equal("resource_exhausted");
    const other = await placeOrder("alice", "beside-the-hog", "tok_visa");
    expect(other.status).to.equal(200);
    expect(stateOf(other)).to.match(/CONFIRMED$/);
    const statuses = (await Promise.all(slow)).map((r) => r.status).sort();
    expect(statuses).to.deep.equal([200, 200, 429, 429]);
    await expectAllClosed();
  });

  // Last: it stops payments.
  it("shows a customer whose order payments could not take only the fixed sentence, in GetOrder and in the notification", async () => {
    await mesh.payments.kill();
    const placed = await placeOrder("alice", "while-payments-down", "tok_visa");
    expect(placed.status).to.equal(200);
    const orderId = String((placed.json as { order: { orderId: string } }).order.orderId);
    const sentence = "the payment could not be processed right now; please try again later";
    const auth = { authorization: `Bearer ${tokens.get("alice")!}` };
    const got = await httpRequest(gateway(), { path: `/v1/orders/${orderId}`, headers: auth });
    const order = (got.json as { order: { state: string; cancelReason: string; cancelDetail: string } }).order;
    expect(order.state).to.match(/CANCELLED$/);
    expect(order.cancelReason).to.match(/PAYMENT_FAILED$/);
    expect(order.cancelDetail).to.equal(sentence);
    const texts = await eventually(
      "the cancellation notification",
      async () => {
        const listed = await httpRequest(gateway(), { path: `/v1/orders/${orderId}/notifications`, headers: auth });
        return ((listed.json as { notifications?: { text?: string; message?: string; body?: string }[] }).notifications ?? []).map((n) => JSON.stringify(n));
      },
      (all) => all.some((n) => n.includes("cancelled")),
    );
    const cancelled = texts.find((n) => n.includes("cancelled"))!;
    expect(cancelled).to.contain(sentence);
    // (The notification's JSON names its event type, meshwork.orders.v1...: only the detail is checked for that.)
    for (const leak of [/breaker/i, /127\.0\.0\.1/, /ECONNREFUSED/i, /PaymentService/]) {
      expect(cancelled).to.not.match(leak);
      expect(order.cancelDetail).to.not.match(leak);
    }
    expect(order.cancelDetail).to.not.match(/meshwork\./);
  });
});
