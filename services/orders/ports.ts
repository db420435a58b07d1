import type { RequestedLine } from "./order.js";

/**
 * The ports through which the orders domain reaches its upstream services.
 * Failures arrive as ConnectError: the domain branches on `code` and on
 * `reasonOf(err)`, never on message text. Every call that changes state is
 * idempotent by order id (inventory) or idempotency key (payments), which is
 * what lets the saga repeat a call after a crash or an ambiguous failure.
 */

export interface ItemQuote {
  readonly sku: string;
  /** Unit price in the currency's minor unit. */
  readonly priceMinor: number;
  readonly currencyCode: string;
  /** Units free to reserve right now. */
  readonly available: number;
}

export interface InventoryPort {
  /** Unknown SKU: NotFound. */
  getItem(sku: string, signal?: AbortSignal): Promise<ItemQuote>;
  /** Holds every line or none (FailedPrecondition when short); idempotent by order id. */
  reserve(orderId: string, lines: readonly RequestedLine[], signal?: AbortSignal): Promise<void>;
  /** Released or expired: no-op; committed: FailedPrecondition; never reserved: NotFound. */
  release(orderId: string): Promise<void>;
  /** Committed: no-op; expired: FailedPrecondition RESERVATION_EXPIRED; released: FailedPrecondition. */
  commit(orderId: string): Promise<void>;
}

export interface AuthorizeRequest {
  readonly idempotencyKey: string;
  readonly orderId: string;
  readonly amountMinor: number;
  readonly currencyCode: string;
  readonly cardToken: string;
}

export interface PaymentsPort {
  /** A decline is FailedPrecondition with reason CARD_DECLINED or INSUFFICIENT_FUNDS. */
  authorize(request: AuthorizeRequest): Promise<{ readonly paymentId: string }>;
  /** Captured: no-op; voided: FailedPrecondition. */
  capture(paymentId: string): Promise<void>;
  /** Voided: no-op; captured: FailedPrecondition. */
  void(paymentId: string): Promise<void>;
}

/**
 * The pricing rules being rolled out behind feature flags, as the domain asks
 * for them: per customer, so a customer sees one price list.
 */
export interface PricingRulesPort {
  /**
   * Bulk pricing: a line of `bulkPricingMinQuantity` or more units costs
   * `bulkPricingPercentOff`% less per unit (rounded down to the minor unit).
   */
  bulkPricing(customerId: string): Promise<boolean>;
}
