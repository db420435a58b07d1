import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { PaymentSchema, PaymentService, PaymentState } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { createLogger, failure, registration, serve, type MeshServer } from "../../mesh/index.js";

/**
 * The server both client-transport parity suites call: a PaymentService
 * whose card tokens pick the outcome, plus the helpers that compare what two
 * transports observe of a call.
 */

/** A message with a reserved character, non-ASCII and a literal percent sign. */
export const oddMessage = "carte refusée: ünïcødé ✓ 100% sûr; a/b?c=d&e#f";

const logger = createLogger("payment-fixture", "silent");

/**
 * Serves PaymentService on `port` (0: any). AuthorizePayment echoes x-echo and
 * x-added back as response headers, the grpc-timeout it saw as x-timeout, and
 * always sets the trailer x-trailer; tok_declined fails FailedPrecondition
 * CARD_DECLINED, tok_odd fails Aborted with `oddMessage`, tok_slow_<ms> waits
 * (stopping early when the call is cancelled, then telling `onSlowAbort`).
 */
export function startPaymentFixture(
  port = 0,
  onSlowAbort: (token: string, reason: unknown) => void = () => undefined,
): Promise<MeshServer> {
  return serve({
    port,
    logger,
    gracePeriodMs: 500,
    services: [
      registration(PaymentService, {
        async authorizePayment(req, ctx) {
          ctx.responseHeader.set("x-echo", ctx.requestHeader.get("x-echo") ?? "");
          ctx.responseHeader.set("x-added", ctx.requestHeader.get("x-added") ?? "");
          ctx.responseHeader.set("x-timeout", ctx.requestHeader.get("grpc-timeout") ?? "");
          ctx.responseTrailer.set("x-trailer", "t1");
          if (req.cardToken === "tok_declined") {
            throw failure(Code.FailedPrecondition, "CARD_DECLINED", "card declined", { metadata: { token: req.cardToken } });
          }
          if (req.cardToken === "tok_odd") {
            throw new ConnectError(oddMessage, Code.Aborted);
          }
          if (req.cardToken.startsWith("tok_slow_")) {
            const signal = ctx.signal;
            await sleep(Number(req.cardToken.slice("tok_slow_".length)), signal);
            if (signal.aborted) {
              onSlowAbort(req.cardToken, signal.reason);
            }
          }
          return {
            payment: create(PaymentSchema, {
              paymentId: `pay_${req.idempotencyKey}`,
              orderId: req.orderId,
              amountMinor: req.amountMinor,
              currencyCode: req.currencyCode,
              state: PaymentState.AUTHORIZED,
              createdAt: timestampFromMs(1_700_000_000_000),
            }),
          };
        },
        capturePayment: () => Promise.reject(new ConnectError("not in this test", Code.Unimplemented)),
        voidPayment: () => Promise.reject(new ConnectError("not in this test", Code.Unimplemented)),
        getPayment: () => Promise.reject(new ConnectError("not in this test", Code.Unimplemented)),
      }),
    ],
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** An AuthorizePayment request with the given card token. */
export function authorize(cardToken: string) {
  return { idempotencyKey: "k1", orderId: "o1", amountMinor: 1250n, currencyCode: "EUR", cardToken };
}

/** What a caller can observe of a failed call; the Date header differs between any two calls. */
export function outcomeOf(err: unknown) {
  const e = ConnectError.from(err);
  return {
    code: e.code,
    rawMessage: e.rawMessage,
    details: e.details,
    metadata: entries(e.metadata).filter(([key]) => key !== "date"),
  };
}

export function entries(headers: Headers | undefined): [string, string][] {
  const result: [string, string][] = [];
  headers?.forEach((value, key) => result.push([key, value]));
  return result;
}

export async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  return call.then(
    () => expect.fail("expected the call to fail"),
    (e: unknown) => ConnectError.from(e),
  );
}

export const paymentService = PaymentService.typeName;
