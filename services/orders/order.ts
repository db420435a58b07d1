/** Where an order is in its life. */
export type OrderState = "PENDING" | "CONFIRMED" | "CANCELLED";

/** Why an order ended (or is ending) CANCELLED. */
export type CancelReason =
  | "OUT_OF_STOCK"
  | "PAYMENT_DECLINED"
  | "PAYMENT_FAILED"
  | "CUSTOMER_REQUESTED"
  | "RESERVATION_EXPIRED"
  | "INTERNAL";

/**
 * The saga step an order is at. A forward step (RESERVE .. CAPTURE) is stored
 * before its upstream call is made, so a restarted process repeats the call
 * (every upstream call is idempotent by order id) instead of skipping it.
 * COMPENSATE means the calls in `undo` are still to be made; DONE means the
 * order is CONFIRMED or CANCELLED.
 */
export type SagaStep = "RESERVE" | "AUTHORIZE" | "COMMIT" | "CAPTURE" | "COMPENSATE" | "DONE";

/** A compensating call: VOID the payment, RELEASE the reservation. */
export type Compensation = "VOID" | "RELEASE";

/** A line as the customer asked for it. */
export interface RequestedLine {
  readonly sku: string;
  readonly quantity: number;
}

/** A line priced when the order was placed; amounts are integer minor units. */
export interface OrderLine extends RequestedLine {
  readonly unitPriceMinor: number;
}

export interface Order {
  readonly orderId: string;
  readonly customerId: string;
  /** The customer's idempotency key; unique per customer. */
  readonly requestId: string;
  /** Identifies the request (lines and card) that created the order, to tell a replay from a key reuse. */
  readonly requestFingerprint: string;
  readonly lines: readonly OrderLine[];
  readonly totalMinor: number;
  readonly currencyCode: string;
  readonly state: OrderState;
  /** Set when the saga decides to cancel: already while it compensates, then on the CANCELLED order. */
  readonly cancelReason?: CancelReason;
  readonly cancelDetail: string;
  readonly paymentId?: string;
  readonly cancelRequested: boolean;
  readonly sagaStep: SagaStep;
  /** The compensations still to make, in order; empty unless sagaStep is COMPENSATE. */
  readonly undo: readonly Compensation[];
  /** Kept only while the saga may still authorize (RESERVE, AUTHORIZE), then forgotten. */
  readonly cardToken?: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * An event the orders service publishes, written by the store in the same
 * transaction as the change that causes it (the transactional outbox):
 * ORDER_PLACED with the new order, ORDER_CONFIRMED / ORDER_CANCELLED with the
 * saga's step to DONE, which happens once per order.
 */
export type OrderEvent = "ORDER_PLACED" | "ORDER_CONFIRMED" | "ORDER_CANCELLED";
