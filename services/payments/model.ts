/**
 * The payments domain's own types. They mirror the contract in
 * proto/meshwork/payments/v1 but are plain objects: generated types stop at
 * the handler.
 */

/** AUTHORIZED holds the amount on the card; CAPTURED collected it; VOIDED released the hold. */
export type PaymentState = "AUTHORIZED" | "CAPTURED" | "VOIDED";

/** One authorization and what became of it. */
export interface Payment {
  /** Assigned by the service: "pay_" and random characters. */
  readonly paymentId: string;
  /** The order the payment is for; empty if the caller named none. */
  readonly orderId: string;
  /** The amount in the currency's minor unit. */
  readonly amountMinor: number;
  /** ISO 4217 code, e.g. "USD". */
  readonly currencyCode: string;
  readonly state: PaymentState;
  readonly createdAtMs: number;
  /** When the payment last changed state. */
  readonly updatedAtMs: number;
}

/** AuthorizePayment's input. */
export interface AuthorizeRequest {
  /** Makes the request idempotent: one key, one authorization. */
  readonly idempotencyKey: string;
  readonly orderId: string;
  readonly amountMinor: number;
  readonly currencyCode: string;
  readonly cardToken: string;
}

/** What the card processor is asked to approve. */
export interface Charge {
  readonly amountMinor: number;
  readonly currencyCode: string;
  readonly cardToken: string;
}
