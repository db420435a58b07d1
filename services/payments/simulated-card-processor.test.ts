import { expect } from "chai";
import { Code, ConnectError, reasonOf } from "../../mesh/errors.js";
import { createSimulatedCardProcessor } from "./simulated-card-processor.js";

const processor = createSimulatedCardProcessor();
const charge = (cardToken: string) => ({ amountMinor: 1000, currencyCode: "USD", cardToken });

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  const err = await promise.then(
    () => expect.fail("the charge should fail"),
    (reason: unknown) => reason,
  );
  expect(err).to.be.instanceOf(ConnectError);
  return err as ConnectError;
}

describe("createSimulatedCardProcessor", () => {
  it("approves tok_visa", async () => {
    await processor.authorize(charge("tok_visa"));
  });

  for (const [token, reason] of [
    ["tok_declined", "CARD_DECLINED"],
    ["tok_insufficient_funds", "INSUFFICIENT_FUNDS"],
  ] as const) {
    it(`declines ${token} with FailedPrecondition ${reason}`, async () => {
      const err = await rejection(processor.authorize(charge(token)));
      expect(err.code).to.equal(Code.FailedPrecondition);
      expect(reasonOf(err)).to.equal(reason);
    });
  }

  it("fails tok_unavailable with Unavailable", async () => {
    const err = await rejection(processor.authorize(charge("tok_unavailable")));
    expect(err.code).to.equal(Code.Unavailable);
    expect(err.rawMessage).to.equal("payment processor unavailable");
  });

  for (const token of ["tok_mastercard", "tok_slow_", "tok_slow_1e3", "tok_slow_-5", "TOK_VISA", ""]) {
    it(`refuses the unknown token ${JSON.stringify(token)} with InvalidArgument`, async () => {
      const err = await rejection(processor.authorize(charge(token)));
      expect(err.code).to.equal(Code.InvalidArgument);
      expect(reasonOf(err)).to.equal("UNKNOWN_CARD_TOKEN");
    });
  }

  it("approves tok_slow_<ms> after <ms> milliseconds", async () => {
    const started = performance.now();
    await processor.authorize(charge("tok_slow_60"));
    expect(performance.now() - started).to.be.at.least(55);
  });

  it("cuts a slow token's wait to maxDelayMs", async () => {
    const capped = createSimulatedCardProcessor({ maxDelayMs: 20 });
    const started = performance.now();
    await capped.authorize(charge("tok_slow_99999999999999999999"));
    expect(performance.now() - started).to.be.below(1000);
  });

  it("stops waiting when the signal aborts, with the signal's reason", async () => {
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(new ConnectError("deadline", Code.DeadlineExceeded)), 20);
    const err = await rejection(processor.authorize(charge("tok_slow_10000"), controller.signal));
    expect(err.code).to.equal(Code.DeadlineExceeded);
    expect(performance.now() - started).to.be.below(1000);
  });

  it("reports a plain abort as Canceled", async () => {
    const err = await rejection(processor.authorize(charge("tok_slow_10000"), AbortSignal.abort()));
    expect(err.code).to.equal(Code.Canceled);
  });
});
