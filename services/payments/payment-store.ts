import type { Payment, PaymentState } from "./model.js";

/** A stored payment with the fingerprint of the request that authorized it. */
export interface KeyedPayment {
  readonly payment: Payment;
  /** Identifies the authorizing request's order, amount, currency and card, to tell a retry from a reused key. */
  readonly fingerprint: string;
}

/**
 * What the payments domain needs from storage. Operations that read and then
 * write run inside one `transaction`, so a failing one writes nothing.
 */
export interface PaymentStore {
  /** Runs `fn` atomically: all its writes land, or none do if it throws. */
  transaction<T>(fn: () => T): T;

  findPayment(paymentId: string): Payment | undefined;
  findByIdempotencyKey(idempotencyKey: string): KeyedPayment | undefined;
  /** Stores a new payment under its idempotency key; a key already stored is an error. */
  insertPayment(payment: Payment, idempotencyKey: string, fingerprint: string): void;
  setState(paymentId: string, state: PaymentState, updatedAtMs: number): void;
}
