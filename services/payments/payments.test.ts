import { expect } from "chai";
import { isDependencyUnavailable } from "../../mesh/dependency-unavailable.js";
import { Code, ConnectError, reasonMetadataOf, reasonOf } from "../../mesh/errors.js";
import type { CardProcessor } from "./card-processor.js";
import type { AuthorizeRequest } from "./model.js";
import { Payments } from "./payments.js";
import { createSimulatedCardProcessor } from "./simulated-card-processor.js";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import { openPaymentStore } from "./open-store.js";
import type { PaymentStore } from "./payment-store.js";

const start = Date.parse("2030-01-01T00:00:00Z");

const visa: AuthorizeRequest = {
  idempotencyKey: "key-1",
  orderId: "order-1",
  amountMinor: 4200,
  currencyCode: "USD",
  cardToken: "tok_visa",
};

for (const engine of storeEngines) describe(`Payments on ${engine}`, () => {
  let fresh: FreshStore;
  let store: PaymentStore;
  let nowMs: number;
  let processorCalls: number;
  let payments: Payments;

  beforeEach(async () => {
    fresh = await freshStore(engine, "payments");
    store = await openPaymentStore(fresh.location);
    nowMs = start;
    processorCalls = 0;
    const simulated = createSimulatedCardProcessor();
    // The real simulated processor, counted: the proof that a key never authorizes twice.
    const counted: CardProcessor = {
      authorize(charge, signal) {
        processorCalls++;
        return simulated.authorize(charge, signal);
      },
    };
    payments = new Payments({ store, processor: counted, now: () => nowMs });
  });

  afterEach(async () => {
    await store.close();
    await fresh.dispose();
  });

  /** Every payment row, read on a separate connection: what a failing call must leave untouched. */
  function snapshot(): Promise<unknown[]> {
    return fresh.query("SELECT * FROM payments ORDER BY created_at_ms, payment_id");
  }

  /** Awaits `call`, expects it to fail with `code` (and `reason`), and checks that it wrote nothing. */
  async function expectFailure(call: () => unknown, code: Code, reason?: string): Promise<ConnectError> {
    const before = await snapshot();
    const err = await Promise.resolve()
      .then(call)
      .then(
        () => expect.fail("the call should fail"),
        (reason: unknown) => reason,
      );
    expect(err).to.be.instanceOf(ConnectError);
    expect(Code[(err as ConnectError).code]).to.equal(Code[code]);
    expect(reasonOf(err)).to.equal(reason);
    expect(await snapshot()).to.deep.equal(before);
    return err as ConnectError;
  }

  describe("authorize", () => {
    it("authorizes tok_visa and stores the payment", async () => {
      const payment = await payments.authorize(visa);
      expect(payment.paymentId).to.match(/^pay_[A-Za-z0-9_-]{16}$/);
      expect(payment).to.deep.include({
        orderId: "order-1",
        amountMinor: 4200,
        currencyCode: "USD",
        state: "AUTHORIZED",
        createdAtMs: start,
        updatedAtMs: start,
      });
      expect(await payments.get(payment.paymentId)).to.deep.equal(payment);
    });

    it("never stores the card token", async () => {
      await payments.authorize(visa);
      expect(JSON.stringify(await snapshot())).to.not.contain("tok_visa");
    });

    for (const [token, code, reason] of [
      ["tok_declined", Code.FailedPrecondition, "CARD_DECLINED"],
      ["tok_insufficient_funds", Code.FailedPrecondition, "INSUFFICIENT_FUNDS"],
      ["tok_unavailable", Code.Unavailable, "DEPENDENCY_UNAVAILABLE"],
      ["tok_amex", Code.InvalidArgument, "UNKNOWN_CARD_TOKEN"],
    ] as const) {
      it(`writes nothing when ${token} fails, so the key can be retried`, async () => {
        await expectFailure(() => payments.authorize({ ...visa, cardToken: token }), code, reason);
        const payment = await payments.authorize(visa);
        expect(payment.state).to.equal("AUTHORIZED");
      });
    }

    it("answers the processor's outage as its dependency's, not its own: Unavailable naming the card processor", async () => {
      const err = await expectFailure(() => payments.authorize({ ...visa, cardToken: "tok_unavailable" }), Code.Unavailable, "DEPENDENCY_UNAVAILABLE");
      expect(isDependencyUnavailable(err)).to.equal(true);
      expect(reasonMetadataOf(err)).to.deep.equal({ dependency: "card-processor" });
      expect(err.rawMessage).to.equal("the card processor is unavailable");
    });

    it("returns the stored payment for the same request, authorizing once", async () => {
      const first = await payments.authorize(visa);
      nowMs += 1000;
      expect(await payments.authorize(visa)).to.deep.equal(first);
      expect(processorCalls).to.equal(1);
      expect(await snapshot()).to.have.length(1);
    });

    it("returns the payment in its current state once captured or voided", async () => {
      const captured = await payments.authorize(visa);
      await payments.capture(captured.paymentId);
      expect((await payments.authorize(visa)).state).to.equal("CAPTURED");
      const voided = await payments.authorize({ ...visa, idempotencyKey: "key-2" });
      await payments.void(voided.paymentId);
      expect((await payments.authorize({ ...visa, idempotencyKey: "key-2" })).state).to.equal("VOIDED");
      expect(processorCalls).to.equal(2);
    });

    it("refuses a different request under the same key without calling the processor", async () => {
      await payments.authorize(visa);
      for (const other of [
        { orderId: "order-2" },
        { amountMinor: 4201 },
        { currencyCode: "EUR" },
        { cardToken: "tok_slow_1" },
      ]) {
        const err = await expectFailure(
          () => payments.authorize({ ...visa, ...other }),
          Code.AlreadyExists,
          "IDEMPOTENCY_KEY_REUSED",
        );
        expect(reasonMetadataOf(err)).to.deep.equal({ idempotency_key: "key-1" });
      }
      expect(processorCalls).to.equal(1);
    });

    it("joins a concurrent identical request instead of authorizing twice", async () => {
      const slow = { ...visa, cardToken: "tok_slow_50" };
      const [a, b] = await Promise.all([payments.authorize(slow), payments.authorize(slow)]);
      expect(b).to.deep.equal(a);
      expect(processorCalls).to.equal(1);
      expect(await snapshot()).to.have.length(1);
    });

    it("refuses a concurrent different request under the same key", async () => {
      const slow = { ...visa, cardToken: "tok_slow_50" };
      const first = payments.authorize(slow);
      await expectFailure(
        () => payments.authorize({ ...slow, amountMinor: 1 }),
        Code.AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
      );
      await first;
      expect(processorCalls).to.equal(1);
    });

    it("stops a slow authorization when the signal aborts, writing nothing", async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 20);
      await expectFailure(() => payments.authorize({ ...visa, cardToken: "tok_slow_10000" }, controller.signal), Code.Canceled);
      expect(await snapshot()).to.have.length(0);
    });
  });

  describe("capture", () => {
    it("collects an authorized payment, and is idempotent", async () => {
      const { paymentId } = await payments.authorize(visa);
      nowMs += 1000;
      const captured = await payments.capture(paymentId);
      expect(captured).to.deep.include({ state: "CAPTURED", createdAtMs: start, updatedAtMs: start + 1000 });
      expect(await payments.get(paymentId)).to.deep.equal(captured);
      nowMs += 1000;
      const before = await snapshot();
      expect(await payments.capture(paymentId)).to.deep.equal(captured);
      expect(await snapshot()).to.deep.equal(before);
    });

    it("refuses a voided payment", async () => {
      const { paymentId } = await payments.authorize(visa);
      await payments.void(paymentId);
      const err = await expectFailure(() => payments.capture(paymentId), Code.FailedPrecondition, "PAYMENT_VOIDED");
      expect(reasonMetadataOf(err)).to.deep.equal({ payment_id: paymentId });
    });

    it("refuses an unknown payment with NotFound", async () => {
      await expectFailure(() => payments.capture("pay_unknown"), Code.NotFound);
    });
  });

  describe("void", () => {
    it("cancels an authorized payment, and is idempotent", async () => {
      const { paymentId } = await payments.authorize(visa);
      nowMs += 1000;
      const voided = await payments.void(paymentId);
      expect(voided).to.deep.include({ state: "VOIDED", updatedAtMs: start + 1000 });
      nowMs += 1000;
      const before = await snapshot();
      expect(await payments.void(paymentId)).to.deep.equal(voided);
      expect(await snapshot()).to.deep.equal(before);
    });

    it("refuses a captured payment", async () => {
      const { paymentId } = await payments.authorize(visa);
      await payments.capture(paymentId);
      await expectFailure(() => payments.void(paymentId), Code.FailedPrecondition, "PAYMENT_CAPTURED");
    });

    it("refuses an unknown payment with NotFound", async () => {
      await expectFailure(() => payments.void("pay_unknown"), Code.NotFound);
    });
  });

  it("refuses to get an unknown payment with NotFound", async () => {
    await expectFailure(() => payments.get("pay_unknown"), Code.NotFound);
  });
});
