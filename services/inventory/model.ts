/**
 * The inventory domain's own types. They mirror the contract in
 * proto/meshwork/inventory/v1 but are plain objects: generated types stop at
 * the handlers (v1, and v2alpha1, which maps the same types to its own shape).
 */

/** What moved an item's stock; each move is published as a stock event. */
export type StockChangeCause = "RESERVED" | "RELEASED" | "COMMITTED" | "EXPIRED" | "ADJUSTED";

/** Why one item's stock changed: the cause, and the order whose reservation moved it, when one did. */
export interface StockChange {
  readonly cause: StockChangeCause;
  readonly orderId?: string;
}

/** Units of one item in each bucket. Stock only ever moves between buckets, except by adjustment. */
export interface Stock {
  /** Free to reserve. */
  readonly available: number;
  /** Held by active reservations. */
  readonly reserved: number;
  /** Sold to committed reservations. */
  readonly sold: number;
}

/** One catalogue entry with its stock. */
export interface Item {
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  /** Unit price in the currency's minor unit (cents for USD). */
  readonly priceMinor: number;
  /** ISO 4217 code, e.g. "USD". */
  readonly currencyCode: string;
  readonly stock: Stock;
}

/** The quantity of one item held for an order. */
export interface ReservationLine {
  readonly sku: string;
  readonly quantity: number;
}

/**
 * ACTIVE holds stock; COMMITTED sold it; RELEASED and EXPIRED returned it to
 * available (on request, or because the TTL ran out). Only ACTIVE ever changes.
 */
export type ReservationState = "ACTIVE" | "COMMITTED" | "RELEASED" | "EXPIRED";

/** The stock held for one order. */
export interface Reservation {
  readonly orderId: string;
  /** One line per SKU, in the order the caller sent them. */
  readonly lines: readonly ReservationLine[];
  readonly state: ReservationState;
  /** When an active reservation expires, in ms since the epoch. */
  readonly expiresAtMs: number;
}

/** An administrative change to an item's available stock, kept for idempotency and audit. */
export interface Adjustment {
  readonly adjustmentId: string;
  readonly sku: string;
  /** Units added (positive) or removed (negative). */
  readonly delta: number;
  readonly reason: string;
  /** The item's stock right after the adjustment: what a repeated request returns. */
  readonly stockAfter: Stock;
  readonly createdAtMs: number;
}

/** One page of the catalogue. */
export interface ItemPage {
  readonly items: readonly Item[];
  /** Opaque token of the next page; empty when this page is the last. */
  readonly nextPageToken: string;
}
