import { expect } from "chai";
import { Code, ConnectError, failure } from "../../mesh/errors.js";
import { createOrderDomain } from "./domain.js";
import type { Order, SagaStep } from "./order.js";
import { authorizationKey } from "./saga.js";
import { storeEngines } from "../../test/support/store-engines.js";
import { ordersFixture } from "./orders.fixture.js";

const mugs = { requestId: "r1", lines: [{ sku: "MUG-001", quantity: 2 }, { sku: "TEE-002", quantity: 1 }], cardToken: "tok_visa" };

for (const engine of storeEngines) describe(`order saga on ${engine}`, () => {
  let fx: Awaited<ReturnType<typeof ordersFixture>>;
  beforeEach(async () => {
    fx = await ordersFixture({}, engine);
  });
  afterEach(async () => fx.dispose());

  function place(cardToken = "tok_visa"): Promise<Order> {
    return fx.domain.placeOrder("alice", { ...mugs, cardToken });
  }

  it("confirms an order, storing each step before its call", async () => {
    const stepsAtCall: (SagaStep | undefined)[] = [];
    fx.upstreams.onCall = async () => void stepsAtCall.push((await fx.store.findByRequest("alice", "r1"))?.sagaStep);

    const order = await place();

    expect(order.state).to.equal("CONFIRMED");
    expect(order.sagaStep).to.equal("DONE");
    expect(order.totalMinor).to.equal(2 * 1200 + 2500);
    expect(order.currencyCode).to.equal("USD");
    expect(order.paymentId).to.equal("pay_1");
    expect(order.cardToken).to.equal(undefined);
    expect(fx.upstreams.calls).to.deep.equal([
      `reserve ${order.orderId}`,
      `authorize ${order.orderId}`,
      `commit ${order.orderId}`,
      "capture pay_1",
    ]);
    expect(stepsAtCall).to.deep.equal(["RESERVE", "AUTHORIZE", "COMMIT", "CAPTURE"]);
    const payment = fx.upstreams.authorizations.get("pay_1");
    expect(payment?.state).to.equal("CAPTURED");
    expect(payment?.request).to.include({
      idempotencyKey: authorizationKey(order.orderId),
      amountMinor: 4900,
      currencyCode: "USD",
      cardToken: "tok_visa",
    });
    expect(fx.upstreams.reservations.get(order.orderId)?.state).to.equal("COMMITTED");
    expect(await fx.store.get(order.orderId)).to.deep.equal(order);
  });

  for (const [token, reason] of [
    ["tok_declined", "CARD_DECLINED"],
    ["tok_insufficient_funds", "INSUFFICIENT_FUNDS"],
  ]) {
    it(`releases the stock and cancels PAYMENT_DECLINED on ${token}`, async () => {
      const order = await place(token);

      expect(order).to.include({ state: "CANCELLED", cancelReason: "PAYMENT_DECLINED" });
      expect(order.cancelDetail).to.contain(reason);
      expect(order.paymentId).to.equal(undefined);
      expect(fx.upstreams.calls).to.deep.equal([
        `reserve ${order.orderId}`,
        `authorize ${order.orderId}`,
        `release ${order.orderId}`,
      ]);
      expect(fx.upstreams.items.get("MUG-001")?.available).to.equal(10);
    });
  }

  it("releases the stock and cancels PAYMENT_FAILED when the processor is unavailable", async () => {
    const order = await place("tok_unavailable");

    expect(order).to.include({
      state: "CANCELLED",
      cancelReason: "PAYMENT_FAILED",
      cancelDetail: "the payment could not be processed right now; please try again later",
    });
    expect(fx.upstreams.calls.at(-1)).to.equal(`release ${order.orderId}`);
    expect(fx.upstreams.reservations.get(order.orderId)?.state).to.equal("RELEASED");
  });

  it("cancels OUT_OF_STOCK without compensating when the reservation is refused", async () => {
    // Stock was there when priced but went to another buyer before the reservation.
    fx.upstreams.fail("reserve", failure(Code.FailedPrecondition, "INSUFFICIENT_STOCK", "only 1 of MUG-001 available"));

    const order = await place();

    expect(order).to.include({ state: "CANCELLED", cancelReason: "OUT_OF_STOCK", cancelDetail: "an item is not in stock in the quantity ordered" });
    expect(fx.upstreams.calls).to.deep.equal([`reserve ${order.orderId}`]);
  });

  it("releases and cancels INTERNAL when the reservation fails ambiguously", async () => {
    fx.upstreams.fail("reserve", new ConnectError("timeout", Code.DeadlineExceeded));

    const order = await place();

    expect(order).to.include({ state: "CANCELLED", cancelReason: "INTERNAL" });
    expect(fx.upstreams.calls).to.deep.equal([`reserve ${order.orderId}`, `release ${order.orderId}`]);
  });

  it("voids the payment and cancels RESERVATION_EXPIRED when the reservation expired before the commit", async () => {
    fx.upstreams.onCall = (method, id) => {
      if (method === "commit") {
        fx.upstreams.expire(id);
      }
    };

    const order = await place();

    expect(order).to.include({ state: "CANCELLED", cancelReason: "RESERVATION_EXPIRED" });
    expect(fx.upstreams.calls.slice(2)).to.deep.equal([`commit ${order.orderId}`, "void pay_1"]);
    expect(fx.upstreams.authorizations.get("pay_1")?.state).to.equal("VOIDED");
  });

  it("retries an ambiguous commit in place instead of compensating", async () => {
    fx.upstreams.fail("commit", new ConnectError("unavailable", Code.Unavailable), 2);

    const order = await place();

    expect(order.state).to.equal("CONFIRMED");
    expect(fx.upstreams.calls.filter((call) => call.startsWith("commit"))).to.have.length(3);
  });

  it("leaves an order PENDING at CAPTURE when the capture keeps failing, and resumes it later", async () => {
    fx.upstreams.fail("capture", new ConnectError("unavailable", Code.Unavailable));

    const stalled = await place();

    expect(stalled).to.include({ state: "PENDING", sagaStep: "CAPTURE" });
    expect(fx.upstreams.calls.filter((call) => call.startsWith("capture"))).to.have.length(4);
    fx.upstreams.heal("capture");
    const [resumed] = await fx.domain.resumePending();
    expect(resumed).to.include({ orderId: stalled.orderId, state: "CONFIRMED" });
  });

  it("voids and cancels INTERNAL when the capture is refused", async () => {
    fx.upstreams.fail("capture", failure(Code.FailedPrecondition, "AUTHORIZATION_EXPIRED", "expired"));

    const order = await place();

    expect(order).to.include({ state: "CANCELLED", cancelReason: "INTERNAL" });
    expect(fx.upstreams.calls.slice(-2)).to.deep.equal(["capture pay_1", "void pay_1"]);
  });

  describe("a cancel requested while the saga runs", () => {
    const cases: { during: "reserve" | "authorize"; compensations: string[] }[] = [
      { during: "reserve", compensations: ["release"] },
      { during: "authorize", compensations: ["void", "release"] },
    ];
    for (const { during, compensations } of cases) {
      it(`is honoured after ${during} by ${compensations.join(" + ")}`, async () => {
        let seenByCaller: Order | undefined;
        fx.upstreams.onCall = async (method) => {
          if (method === during) {
            const orderId = (await fx.store.findByRequest("alice", "r1"))?.orderId ?? "";
            seenByCaller = await fx.domain.cancelOrder("alice", orderId);
          }
        };

        const order = await place();

        expect(seenByCaller).to.include({ state: "PENDING", cancelRequested: true });
        expect(order).to.include({ state: "CANCELLED", cancelReason: "CUSTOMER_REQUESTED", cancelRequested: true });
        const made = fx.upstreams.calls.map((call) => call.split(" ")[0]);
        expect(made.slice(made.indexOf(during) + 1)).to.deep.equal(compensations);
      });
    }
  });

  it("is not honoured once the stock is committed: the order is confirmed", async () => {
    fx.upstreams.onCall = async (method) => {
      if (method === "commit") {
        await fx.domain.cancelOrder("alice", (await fx.store.findByRequest("alice", "r1"))?.orderId ?? "");
      }
    };

    const order = await place();

    expect(order).to.include({ state: "CONFIRMED", cancelRequested: true });
    expect(fx.upstreams.calls.map((call) => call.split(" ")[0]).slice(-2)).to.deep.equal(["commit", "capture"]);
  });

  describe("a cancel requested while the process is down", () => {
    /**
     * Makes the next call of `method` behave as if the process died around it:
     * the call takes effect (unless `lands` is false) and the saga never hears
     * back. Resolves, once it has, with a second domain over the same store:
     * the restarted process.
     */
    async function crashAt(method: "authorize" | "commit", lands = true) {
      const port = (method === "authorize" ? fx.upstreams.paymentsPort : fx.upstreams.inventoryPort) as unknown as Record<
        typeof method,
        (...args: never[]) => Promise<unknown>
      >;
      const original = port[method];
      const crashed = new Promise<void>((resolve) => {
        port[method] = async (...args: never[]) => {
          port[method] = original;
          if (lands) {
            await original(...args);
          }
          resolve();
          return new Promise(() => {});
        };
      });
      void place();
      await crashed;
      return createOrderDomain(
        { store: fx.store, inventory: fx.upstreams.inventoryPort, payments: fx.upstreams.paymentsPort },
        { retryBackoffMs: 0 },
      );
    }

    /** The customer's cancel, arriving while the process is down (it only marks the stored order). */
    async function cancel(): Promise<Order> {
      const order = await fx.store.findByRequest("alice", "r1");
      expect(order?.state).to.equal("PENDING");
      return await fx.domain.cancelOrder("alice", order!.orderId);
    }

    it("voids a hold an authorization placed before the crash", async () => {
      const restarted = await crashAt("authorize");
      const order = await cancel();
      fx.upstreams.calls.length = 0;

      const [resumed] = await restarted.resumePending();

      expect(resumed).to.include({ state: "CANCELLED", cancelReason: "CUSTOMER_REQUESTED", paymentId: "pay_1" });
      expect(fx.upstreams.authorizations.size).to.equal(1);
      expect(fx.upstreams.authorizations.get("pay_1")?.state).to.equal("VOIDED");
      expect(fx.upstreams.reservations.get(order.orderId)?.state).to.equal("RELEASED");
      expect(fx.upstreams.calls.map((call) => call.split(" ")[0])).to.deep.equal(["authorize", "void", "release"]);
    });

    it("confirms an order whose commit landed before the crash: sold stock is not given back", async () => {
      const restarted = await crashAt("commit");
      const order = await cancel();

      const [resumed] = await restarted.resumePending();

      expect(resumed).to.include({ state: "CONFIRMED", cancelRequested: true });
      expect(fx.upstreams.authorizations.get("pay_1")?.state).to.equal("CAPTURED");
      expect(fx.upstreams.reservations.get(order.orderId)?.state).to.equal("COMMITTED");
    });

    it("releases and voids when the commit had not landed", async () => {
      const restarted = await crashAt("commit", false);
      const order = await cancel();
      fx.upstreams.calls.length = 0;

      const [resumed] = await restarted.resumePending();

      expect(resumed).to.include({ state: "CANCELLED", cancelReason: "CUSTOMER_REQUESTED" });
      expect(fx.upstreams.calls).to.deep.equal([`release ${order.orderId}`, "void pay_1"]);
      expect(fx.upstreams.items.get("MUG-001")?.available).to.equal(10);
    });
  });

  describe("compensations", () => {
    it("are retried with backoff", async () => {
      fx.upstreams.fail("release", new ConnectError("unavailable", Code.Unavailable), 2);

      const order = await place("tok_declined");

      expect(order).to.include({ state: "CANCELLED", cancelReason: "PAYMENT_DECLINED" });
      expect(fx.upstreams.calls.filter((call) => call.startsWith("release"))).to.have.length(3);
    });

    it("that keep failing leave the order PENDING at COMPENSATE until resumePending finishes it", async () => {
      fx.upstreams.fail("release", new ConnectError("unavailable", Code.Unavailable));

      const stalled = await place("tok_declined");

      expect(stalled).to.include({ state: "PENDING", sagaStep: "COMPENSATE", cancelReason: "PAYMENT_DECLINED" });
      expect(stalled.undo).to.deep.equal(["RELEASE"]);
      fx.upstreams.heal("release");
      const [resumed] = await fx.domain.resumePending();
      expect(resumed).to.include({ state: "CANCELLED", cancelReason: "PAYMENT_DECLINED", sagaStep: "DONE" });
      expect(fx.upstreams.reservations.get(stalled.orderId)?.state).to.equal("RELEASED");
    });

    it("that are refused are final: the saga moves on to CANCELLED", async () => {
      fx.upstreams.fail("void", failure(Code.FailedPrecondition, "PAYMENT_CAPTURED", "captured"));
      fx.upstreams.fail("commit", failure(Code.FailedPrecondition, "RESERVATION_RELEASED", "released"));

      const order = await place();

      expect(order).to.include({ state: "CANCELLED", cancelReason: "INTERNAL" });
      expect(fx.upstreams.calls.slice(-2)).to.deep.equal(["void pay_1", `release ${order.orderId}`]);
    });
  });
});
