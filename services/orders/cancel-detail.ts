import type { CancelReason } from "./order.js";

/**
 * The customer's words for why an order was cancelled: one fixed sentence per
 * reason (and per decline reason the card processor gives), shown in
 * GetOrder and in the order's notification. Never an upstream's message: it
 * may name a breaker, an address or a raw connection error, which say
 * nothing to a customer and too much to anyone else. The saga logs the
 * internal cause with the order id and the request id instead.
 */
const sentences: Record<CancelReason, string> = {
  OUT_OF_STOCK: "an item is not in stock in the quantity ordered",
  PAYMENT_DECLINED: "the card was declined",
  PAYMENT_FAILED: "the payment could not be processed right now; please try again later",
  CUSTOMER_REQUESTED: "cancelled at the customer's request",
  RESERVATION_EXPIRED: "the order took too long to complete; please order again",
  INTERNAL: "something went wrong on our side; no money was taken and you may order again",
};

/** Decline reasons (ErrorInfo reasons of AuthorizePayment) with words of their own. */
const declines: Readonly<Record<string, string>> = {
  CARD_DECLINED: "the card was declined (CARD_DECLINED)",
  INSUFFICIENT_FUNDS: "the card was declined for insufficient funds (INSUFFICIENT_FUNDS)",
};

/** The fixed sentence of a cancel reason; for a decline, of its reason when it has one of its own. */
export function cancelDetailOf(reason: CancelReason, declineReason?: string): string {
  if (reason === "PAYMENT_DECLINED" && declineReason !== undefined) {
    return declines[declineReason] ?? sentences.PAYMENT_DECLINED;
  }
  return sentences[reason];
}
