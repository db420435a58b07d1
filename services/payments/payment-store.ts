import type { Payment, PaymentState } from "./model.js";

/** A stored payment with the fingerprint of the request that authorized it. */
export interface KeyedPayment {
  readonly payment: Payment;
  /** Identifies the authorizing request's order, amount, currency and card, to tell a retry from a reused key. */
  readonly fingerprint: string;
}

/** Reads and writes of payments: on their own (one statement each) or inside a `transaction`. */
export interface PaymentRecords {
  /**
   * The payment, or undefined. With `forUpdate` inside a transaction, nobody
   * else changes it until the transaction ends (a row lock on PostgreSQL;
   * SQLite has one writer at a time anyway).
   */
  findPayment(paymentId: string, options?: { readonly forUpdate?: boolean }): Promise<Payment | undefined>;
  findByIdempotencyKey(idempotencyKey: string): Promise<KeyedPayment | undefined>;
  /** Stores a new payment under its idempotency key; a key already stored is an error. */
  insertPayment(payment: Payment, idempotencyKey: string, fingerprint: string): Promise<void>;
  setState(paymentId: string, state: PaymentState, updatedAtMs: number): Promise<void>;
}

/**
 * What the payments domain needs from storage: one port, with an SQLite and
 * a PostgreSQL implementation. Operations that read and then write run
 * inside one `transaction`, so a failing one writes nothing.
 */
export interface PaymentStore extends PaymentRecords {
  /**
   * Runs `fn` atomically with the records of one transaction: all its writes
   * land, or none do if it rejects. On PostgreSQL it may run again after a
   * conflict, so `fn` must have no effect outside `tx`.
   */
  transaction<T>(fn: (tx: PaymentRecords) => Promise<T>): Promise<T>;
  /** A trivial query, for readiness: fails once the database is closed or unreachable (see storeCheck). */
  ping(): void | Promise<void>;
  close(): Promise<void>;
}
