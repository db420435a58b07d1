import { createHash, randomBytes } from "node:crypto";
import { dependencyUnavailable } from "../../mesh/dependency-unavailable.js";
import { Code, ConnectError, failure } from "../../mesh/errors.js";
import type { CardProcessor } from "./card-processor.js";
import type { AuthorizeRequest, Payment, PaymentState } from "./model.js";
import type { PaymentRecords, PaymentStore } from "./payment-store.js";

export interface PaymentsOptions {
  /** Where payments and their idempotency keys live. */
  readonly store: PaymentStore;
  /** The card network that approves or declines charges. */
  readonly processor: CardProcessor;
  /** The clock in ms since the epoch. Default: `Date.now`. */
  readonly now?: () => number;
}

/**
 * The payments domain: authorizations placed with a card processor, then
 * captured or voided.
 *
 * Authorization is idempotent by key: a key maps to at most one approved
 * processor call. The key is stored only once the processor approves, so a
 * declined or failed authorization writes nothing and may be retried under the
 * same key. While a call is in flight, the same request under the same key
 * joins it instead of calling the processor again.
 */
export class Payments {
  private readonly store: PaymentStore;
  private readonly processor: CardProcessor;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, { readonly fingerprint: string; readonly payment: Promise<Payment> }>();

  constructor(options: PaymentsOptions) {
    this.store = options.store;
    this.processor = options.processor;
    this.now = options.now ?? Date.now;
  }

  /**
   * Authorizes the amount on the card, once per idempotency key. The same
   * request again returns the stored payment in whatever state it is now; a
   * different request under the same key is refused (IDEMPOTENCY_KEY_REUSED).
   * `signal` stops a slow processor call; nothing is then written.
   */
  async authorize(request: AuthorizeRequest, signal?: AbortSignal): Promise<Payment> {
    const key = request.idempotencyKey;
    const fingerprint = fingerprintOf(request);
    const stored = await this.store.findByIdempotencyKey(key);
    if (stored) {
      assertSameRequest(stored.fingerprint, fingerprint, key);
      return stored.payment;
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      // A joined caller shares the first caller's outcome, cancellation included; it may simply retry.
      assertSameRequest(pending.fingerprint, fingerprint, key);
      return pending.payment;
    }
    const payment = this.authorizeOnce(request, fingerprint, signal).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, { fingerprint, payment });
    return payment;
  }

  /** Collects an authorized payment; a captured one comes back unchanged, a voided one is refused. */
  capture(paymentId: string): Promise<Payment> {
    return this.store.transaction(async (tx) => {
      const payment = await requirePayment(tx, paymentId, { forUpdate: true });
      switch (payment.state) {
        case "AUTHORIZED":
          return this.moveTo(tx, payment, "CAPTURED");
        case "CAPTURED":
          return payment;
        case "VOIDED":
          throw failure(Code.FailedPrecondition, "PAYMENT_VOIDED", `payment ${paymentId} was voided and cannot be captured`, {
            metadata: { payment_id: paymentId },
          });
      }
    });
  }

  /** Cancels an authorization; a voided one comes back unchanged, a captured one is refused. */
  void(paymentId: string): Promise<Payment> {
    return this.store.transaction(async (tx) => {
      const payment = await requirePayment(tx, paymentId, { forUpdate: true });
      switch (payment.state) {
        case "AUTHORIZED":
          return this.moveTo(tx, payment, "VOIDED");
        case "VOIDED":
          return payment;
        case "CAPTURED":
          throw failure(Code.FailedPrecondition, "PAYMENT_CAPTURED", `payment ${paymentId} was captured and cannot be voided`, {
            metadata: { payment_id: paymentId },
          });
      }
    });
  }

  /** One payment; NotFound if the id is unknown. */
  get(paymentId: string): Promise<Payment> {
    return requirePayment(this.store, paymentId);
  }

  private async authorizeOnce(request: AuthorizeRequest, fingerprint: string, signal?: AbortSignal): Promise<Payment> {
    const { amountMinor, currencyCode, cardToken } = request;
    await this.processor.authorize({ amountMinor, currencyCode, cardToken }, signal).catch((err: unknown) => {
      throw processorOutage(err);
    });
    const now = this.now();
    const payment: Payment = {
      paymentId: `pay_${randomBytes(12).toString("base64url")}`,
      orderId: request.orderId,
      amountMinor,
      currencyCode,
      state: "AUTHORIZED",
      createdAtMs: now,
      updatedAtMs: now,
    };
    await this.store.insertPayment(payment, request.idempotencyKey, fingerprint);
    return payment;
  }

  private async moveTo(tx: PaymentRecords, payment: Payment, state: PaymentState): Promise<Payment> {
    const updatedAtMs = this.now();
    await tx.setState(payment.paymentId, state, updatedAtMs);
    return { ...payment, state, updatedAtMs };
  }
}

async function requirePayment(records: PaymentRecords, paymentId: string, options?: { forUpdate: boolean }): Promise<Payment> {
  const payment = await records.findPayment(paymentId, options);
  if (!payment) {
    throw new ConnectError(`payment ${paymentId} not found`, Code.NotFound);
  }
  return payment;
}

/**
 * The processor's outage (Unavailable, as the port reports it) is answered as
 * a dependency of payments being down, not payments itself: a customer whose
 * card the processor fails on must not open the breakers and fail the
 * readiness of payments' callers (mesh/dependency-unavailable.ts). Anything
 * else passes on as it is.
 */
function processorOutage(err: unknown): unknown {
  if (err instanceof ConnectError && err.code === Code.Unavailable) {
    return dependencyUnavailable("card-processor", "the card processor is unavailable", { cause: err });
  }
  return err;
}

/** A digest rather than the fields themselves, so the card token is never stored. */
function fingerprintOf(request: AuthorizeRequest): string {
  const fields = [request.orderId, request.amountMinor, request.currencyCode, request.cardToken];
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex");
}

function assertSameRequest(storedFingerprint: string, fingerprint: string, idempotencyKey: string): void {
  if (storedFingerprint !== fingerprint) {
    throw failure(
      Code.AlreadyExists,
      "IDEMPOTENCY_KEY_REUSED",
      "the idempotency key was already used for a different payment request",
      { metadata: { idempotency_key: idempotencyKey } },
    );
  }
}
