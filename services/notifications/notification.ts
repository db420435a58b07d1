/** How a notification reaches the customer. */
export type Channel = "EMAIL" | "PUSH";

/** Why an order was cancelled, as the orders service reports it. */
export type CancelReason =
  | "OUT_OF_STOCK"
  | "PAYMENT_DECLINED"
  | "PAYMENT_FAILED"
  | "CUSTOMER_REQUESTED"
  | "RESERVATION_EXPIRED"
  | "INTERNAL"
  | "UNSPECIFIED";

/** What happened to an order, as far as the customer is told. */
export type OrderChange =
  | { readonly kind: "PLACED"; readonly totalMinor: number; readonly currencyCode: string }
  | { readonly kind: "CONFIRMED"; readonly totalMinor: number; readonly currencyCode: string }
  | { readonly kind: "CANCELLED"; readonly reason: CancelReason; readonly detail: string };

/** One order event, delivered (perhaps more than once) by the bus. */
export interface OrderEvent {
  /** The event's id: the same on every redelivery. */
  readonly eventId: string;
  /** The event's type name, e.g. "meshwork.orders.v1.OrderConfirmed". */
  readonly eventType: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly change: OrderChange;
}

/** One message sent to a customer about an order. */
export interface Notification {
  readonly notificationId: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly channel: Channel;
  readonly eventType: string;
  /** The event that caused it; at most one notification per event. */
  readonly eventId: string;
  readonly message: string;
  readonly createdAt: Date;
}
