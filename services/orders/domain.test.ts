import { expect } from "chai";
import { Code, ConnectError, reasonOf, reasonMetadataOf } from "../../mesh/errors.js";
import { createOrderDomain } from "./domain.js";
import type { Order, SagaStep } from "./order.js";
import { authorizationKey } from "./saga.js";
import { storeEngines } from "../../test/support/store-engines.js";
import { ordersFixture } from "./orders.fixture.js";

const request = { requestId: "r1", lines: [{ sku: "MUG-001", quantity: 2 }, { sku: "TEE-002", quantity: 1 }], cardToken: "tok_visa" };

async function refusal(action: () => unknown): Promise<ConnectError> {
  try {
    await action();
  } catch (err) {
    expect(err).to.be.instanceOf(ConnectError);
    return err as ConnectError;
  }
  expect.fail("expected a ConnectError");
}

for (const engine of storeEngines) describe(`order domain on ${engine}`, () => {
  let fx: Awaited<ReturnType<typeof ordersFixture>>;
  beforeEach(async () => {
    fx = await ordersFixture({}, engine);
  });
  afterEach(async () => fx.dispose());

  const lines = [{ sku: "MUG-001", quantity: 2, unitPriceMinor: 1200 }];

  /** An order left PENDING at `step` by a crash; the upstream effects of the steps before it are in place. */
  async function seedPending(step: SagaStep, extra: Partial<Order> = {}): Promise<Order> {
    const orderId = `ord-${step.toLowerCase()}`;
    const at = new Date(Date.UTC(2024, 11, 31));
    const order: Order = {
      orderId,
      customerId: "alice",
      requestId: `req-${orderId}`,
      requestFingerprint: "fp",
      lines,
      totalMinor: 2400,
      currencyCode: "USD",
      state: "PENDING",
      cancelDetail: "",
      cancelRequested: false,
      sagaStep: step,
      undo: [],
      cardToken: "tok_visa",
      createdAt: at,
      updatedAt: at,
      ...extra,
    };
    expect(await fx.store.insert(order)).to.equal(true);
    return order;
  }

  describe("placeOrder idempotency", () => {
    it("returns the same order for the same request, authorizing once", async () => {
      const first = await fx.domain.placeOrder("alice", request);
      const again = await fx.domain.placeOrder("alice", { ...request, lines: [...request.lines].reverse() });

      expect(again).to.deep.equal(first);
      expect(fx.upstreams.calls.filter((call) => call.startsWith("authorize"))).to.have.length(1);
      expect((await fx.domain.listOrders("alice", 0, "")).orders).to.have.length(1);
    });

    for (const [what, change] of [
      ["lines", { lines: [{ sku: "MUG-001", quantity: 3 }] }],
      ["card token", { cardToken: "tok_declined" }],
    ] as const) {
      it(`refuses the same request id with different ${what}, writing nothing`, async () => {
        const first = await fx.domain.placeOrder("alice", request);
        const callsBefore = fx.upstreams.calls.length;

        const err = await refusal(() => fx.domain.placeOrder("alice", { ...request, ...change }));

        expect(err.code).to.equal(Code.AlreadyExists);
        expect(reasonOf(err)).to.equal("IDEMPOTENCY_KEY_REUSED");
        expect(fx.upstreams.calls).to.have.length(callsBefore);
        expect((await fx.domain.listOrders("alice", 0, "")).orders).to.deep.equal([first]);
      });
    }

    it("keeps request ids apart per customer", async () => {
      const alices = await fx.domain.placeOrder("alice", request);
      const bobs = await fx.domain.placeOrder("bob", request);

      expect(bobs.orderId).to.not.equal(alices.orderId);
    });

    it("makes one order of two concurrent identical requests", async () => {
      const [a, b] = await Promise.all([fx.domain.placeOrder("alice", request), fx.domain.placeOrder("alice", request)]);

      expect(a.orderId).to.equal(b.orderId);
      expect(fx.upstreams.calls.filter((call) => call.startsWith("reserve"))).to.have.length(1);
      expect((await fx.domain.getOrder("alice", a.orderId)).state).to.equal("CONFIRMED");
    });
  });

  describe("placeOrder refusals before the saga", () => {
    it("refuses a SKU that appears twice", async () => {
      const lines = [{ sku: "MUG-001", quantity: 1 }, { sku: "MUG-001", quantity: 2 }];
      const err = await refusal(() => fx.domain.placeOrder("alice", { ...request, lines }));

      expect(err.code).to.equal(Code.InvalidArgument);
      expect(reasonOf(err)).to.equal("DUPLICATE_SKU");
    });

    const cases = [
      { what: "an unknown SKU", sku: "NOPE-1", quantity: 1, code: Code.NotFound, reason: "ITEM_NOT_FOUND" },
      { what: "more than is available", sku: "TEE-002", quantity: 4, code: Code.FailedPrecondition, reason: "INSUFFICIENT_STOCK" },
      { what: "a second currency", sku: "SCARF-EU", quantity: 1, code: Code.FailedPrecondition, reason: "MIXED_CURRENCY" },
    ];
    for (const { what, sku, quantity, code, reason } of cases) {
      it(`refuses ${what}, naming the SKU and writing nothing`, async () => {
        const lines = [{ sku: "MUG-001", quantity: 1 }, { sku, quantity }];
        const err = await refusal(() => fx.domain.placeOrder("alice", { ...request, lines }));

        expect(err.code).to.equal(code);
        expect(reasonOf(err)).to.equal(reason);
        expect(reasonMetadataOf(err)).to.include({ sku });
        expect(err.rawMessage).to.contain(sku);
        expect(await fx.store.findByRequest("alice", "r1")).to.equal(undefined);
        expect(fx.upstreams.calls).to.deep.equal([]);
      });
    }
  });

  describe("getOrder", () => {
    it("refuses an unknown order with NotFound", async () => {
      const err = await refusal(() => fx.domain.getOrder("alice", "missing"));

      expect(err.code).to.equal(Code.NotFound);
    });

    it("refuses another customer's order with PermissionDenied, revealing nothing of it", async () => {
      const order = await fx.domain.placeOrder("alice", request);

      const err = await refusal(() => fx.domain.getOrder("bob", order.orderId));

      expect(err.code).to.equal(Code.PermissionDenied);
      expect(err.rawMessage).to.not.contain("alice");
      expect(reasonMetadataOf(err)).to.deep.equal({});
    });
  });

  describe("cancelOrder", () => {
    it("returns a cancelled order unchanged", async () => {
      const cancelled = await fx.domain.placeOrder("alice", { ...request, cardToken: "tok_declined" });

      expect(await fx.domain.cancelOrder("alice", cancelled.orderId)).to.deep.equal(cancelled);
    });

    it("refuses a confirmed order with ORDER_NOT_CANCELLABLE", async () => {
      const confirmed = await fx.domain.placeOrder("alice", request);

      const err = await refusal(() => fx.domain.cancelOrder("alice", confirmed.orderId));

      expect(err.code).to.equal(Code.FailedPrecondition);
      expect(reasonOf(err)).to.equal("ORDER_NOT_CANCELLABLE");
    });

    it("marks a pending order, which the saga then cancels", async () => {
      const pending = await seedPending("AUTHORIZE");

      const marked = await fx.domain.cancelOrder("alice", pending.orderId);

      expect(marked).to.include({ state: "PENDING", cancelRequested: true });
      const [resumed] = await fx.domain.resumePending();
      expect(resumed).to.include({ state: "CANCELLED", cancelReason: "CUSTOMER_REQUESTED" });
    });

    it("refuses another customer's order with PermissionDenied and leaves it alone", async () => {
      const pending = await seedPending("AUTHORIZE");

      const err = await refusal(() => fx.domain.cancelOrder("bob", pending.orderId));

      expect(err.code).to.equal(Code.PermissionDenied);
      expect((await fx.store.get(pending.orderId))?.cancelRequested).to.equal(false);
    });
  });

  describe("listOrders", () => {
    async function placeMany(customerId: string, count: number): Promise<Order[]> {
      const placed: Order[] = [];
      for (let i = 0; i < count; i++) {
        placed.push(await fx.domain.placeOrder(customerId, { ...request, requestId: `r${i}`, lines: [{ sku: "MUG-001", quantity: 1 }] }));
        fx.upstreams.items.set("MUG-001", { sku: "MUG-001", priceMinor: 1200, currencyCode: "USD", available: 10 });
      }
      return placed;
    }

    it("pages through the customer's own orders, newest first, 20 by default", async () => {
      const placed = await placeMany("alice", 23);
      await placeMany("bob", 1);

      const first = await fx.domain.listOrders("alice", 0, "");
      const second = await fx.domain.listOrders("alice", 0, first.nextPageToken);

      const newestFirst = placed.map((order) => order.orderId).reverse();
      expect(first.orders.map((order) => order.orderId)).to.deep.equal(newestFirst.slice(0, 20));
      expect(second.orders.map((order) => order.orderId)).to.deep.equal(newestFirst.slice(20));
      expect(second.nextPageToken).to.equal("");
    });

    it("honours the page size and ends with an empty token", async () => {
      await placeMany("alice", 4);

      const first = await fx.domain.listOrders("alice", 2, "");
      const second = await fx.domain.listOrders("alice", 2, first.nextPageToken);

      expect(first.orders).to.have.length(2);
      expect(second.orders).to.have.length(2);
      expect(second.nextPageToken).to.equal("");
    });

    for (const token of ["garbage!", Buffer.from("[1]").toString("base64url"), Buffer.from('{"a":1}').toString("base64url")]) {
      it(`refuses the page token ${JSON.stringify(token)} with InvalidArgument`, async () => {
        const err = await refusal(() => fx.domain.listOrders("alice", 0, token));

        expect(err.code).to.equal(Code.InvalidArgument);
      });
    }
  });

  describe("resumePending", () => {
    async function effectsBefore(step: SagaStep, orderId: string): Promise<string | undefined> {
      const done = ["AUTHORIZE", "COMMIT", "CAPTURE"].indexOf(step);
      if (done >= 0) {
        await fx.upstreams.inventoryPort.reserve(orderId, [{ sku: "MUG-001", quantity: 2 }]);
      }
      let paymentId: string | undefined;
      if (done >= 1) {
        const authorized = await fx.upstreams.paymentsPort.authorize({
          idempotencyKey: authorizationKey(orderId),
          orderId,
          amountMinor: 2400,
          currencyCode: "USD",
          cardToken: "tok_visa",
        });
        paymentId = authorized.paymentId;
      }
      if (done >= 2) {
        await fx.upstreams.inventoryPort.commit(orderId);
      }
      fx.upstreams.calls.length = 0;
      return paymentId;
    }

    const expectations: { step: SagaStep; calls: string[] }[] = [
      { step: "RESERVE", calls: ["reserve", "authorize", "commit", "capture"] },
      { step: "AUTHORIZE", calls: ["authorize", "commit", "capture"] },
      { step: "COMMIT", calls: ["commit", "capture"] },
      { step: "CAPTURE", calls: ["capture"] },
    ];
    for (const { step, calls } of expectations) {
      it(`drives an order left at ${step} to CONFIRMED`, async () => {
        const paymentId = await effectsBefore(step, `ord-${step.toLowerCase()}`);
        const seeded = await seedPending(step, paymentId === undefined ? {} : { paymentId, cardToken: undefined });

        const resumed = await fx.domain.resumePending();

        expect(resumed.map((order) => [order.orderId, order.state])).to.deep.equal([[seeded.orderId, "CONFIRMED"]]);
        expect(fx.upstreams.calls.map((call) => call.split(" ")[0])).to.deep.equal(calls);
        expect(fx.upstreams.authorizations.size).to.equal(1);
        expect([...fx.upstreams.authorizations.values()][0]?.state).to.equal("CAPTURED");
        expect(fx.upstreams.reservations.get(seeded.orderId)?.state).to.equal("COMMITTED");
      });
    }

    it("repeats an authorization that landed before the crash without charging twice", async () => {
      const orderId = "ord-authorize";
      await effectsBefore("COMMIT", orderId);
      await seedPending("AUTHORIZE");

      const [resumed] = await fx.domain.resumePending();

      expect(resumed).to.include({ state: "CONFIRMED", paymentId: "pay_1" });
      expect(fx.upstreams.authorizations.size).to.equal(1);
    });

    it("finishes the compensations of an order left at COMPENSATE", async () => {
      const paymentId = await effectsBefore("COMMIT", "ord-compensate");
      await seedPending("COMPENSATE", {
        paymentId,
        cardToken: undefined,
        undo: ["VOID", "RELEASE"],
        cancelReason: "PAYMENT_FAILED",
        cancelDetail: "the payment could not be authorized",
      });

      const [resumed] = await fx.domain.resumePending();

      expect(resumed).to.include({ state: "CANCELLED", cancelReason: "PAYMENT_FAILED", sagaStep: "DONE" });
      expect(resumed?.undo).to.deep.equal([]);
      expect(fx.upstreams.calls).to.deep.equal(["void pay_1", "release ord-compensate"]);
      expect(fx.upstreams.items.get("MUG-001")?.available).to.equal(10);
    });

    it("does nothing the second time", async () => {
      await seedPending("RESERVE");
      await fx.domain.resumePending();
      const callsAfterFirst = fx.upstreams.calls.length;

      expect(await fx.domain.resumePending()).to.deep.equal([]);
      expect(fx.upstreams.calls).to.have.length(callsAfterFirst);
    });

    it("is what a replay of the same PlaceOrder does to an idle pending order", async () => {
      fx.upstreams.fail("release", new ConnectError("unavailable", Code.Unavailable));
      const stalled = await fx.domain.placeOrder("alice", { ...request, cardToken: "tok_declined" });
      expect(stalled.state).to.equal("PENDING");
      fx.upstreams.heal("release");

      const replayed = await fx.domain.placeOrder("alice", { ...request, cardToken: "tok_declined" });

      expect(replayed).to.include({ orderId: stalled.orderId, state: "CANCELLED" });
    });
  });

  it("validates its options once, in the factory", async () => {
    const deps = { store: fx.store, inventory: fx.upstreams.inventoryPort, payments: fx.upstreams.paymentsPort };
    expect(() => createOrderDomain(deps, { retryAttempts: 0 })).to.throw(RangeError);
    expect(() => createOrderDomain(deps, { retryBackoffMs: -1 })).to.throw(RangeError);
  });
});
