import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, failure } from "../../mesh/errors.js";
import type { CardProcessor } from "./card-processor.js";

export interface SimulatedCardProcessorOptions {
  /**
   * The longest wait a `tok_slow_<ms>` token gets; larger values are cut to
   * it. Default: 30000 ms, longer than any deadline the mesh sets, so slow
   * tokens can still drive timeouts, while a mistyped one cannot hold a call
   * for hours.
   */
  readonly maxDelayMs?: number;
}

const slowToken = /^tok_slow_(\d+)$/;

/**
 * A card processor whose outcome is decided by the card token alone, so
 * anyone can drive every path from outside:
 * - `tok_visa` approves;
 * - `tok_declined` declines (FailedPrecondition, CARD_DECLINED);
 * - `tok_insufficient_funds` declines (FailedPrecondition, INSUFFICIENT_FUNDS);
 * - `tok_unavailable` fails as an outage would (Unavailable);
 * - `tok_slow_<ms>` approves after <ms> milliseconds, unless the signal aborts first;
 * - any other token is refused (InvalidArgument, UNKNOWN_CARD_TOKEN).
 */
export function createSimulatedCardProcessor(options: SimulatedCardProcessorOptions = {}): CardProcessor {
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  return {
    async authorize({ cardToken }, signal) {
      switch (cardToken) {
        case "tok_visa":
          return;
        case "tok_declined":
          throw failure(Code.FailedPrecondition, "CARD_DECLINED", "the card was declined");
        case "tok_insufficient_funds":
          throw failure(Code.FailedPrecondition, "INSUFFICIENT_FUNDS", "the card has insufficient funds");
        case "tok_unavailable":
          throw new ConnectError("payment processor unavailable", Code.Unavailable);
      }
      const slow = slowToken.exec(cardToken);
      if (!slow) {
        throw failure(
          Code.InvalidArgument,
          "UNKNOWN_CARD_TOKEN",
          // No token quoted, not even the test ones: the message reaches the
          // caller's logs, which never carry a card token.
          "unknown card token; the simulated processor's test tokens are listed in the README (Test card tokens)",
        );
      }
      // The signal's reason is the caller's own error (Canceled, DeadlineExceeded), so pass it on as is.
      await sleep(Math.min(Number(slow[1]), maxDelayMs), undefined, { signal }).catch((err: unknown) => {
        throw ConnectError.from(signal?.reason ?? err, Code.Canceled);
      });
    },
  };
}
