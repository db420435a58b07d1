import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderPlacedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { CancelReason as CancelReasonMessage } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { on, type EventHandler } from "../../mesh/events/index.js";
import type { NotificationDomain } from "./domain.js";
import type { NotificationStore } from "./notification-store.js";
import type { CancelReason, OrderChange, OrderEvent } from "./notification.js";

/** The stream the notifications consumer reads, and its durable name there. */
export const ordersStream = "orders";
export const notificationsConsumer = "notifications";

export interface OrderEventHandlersOptions {
  /**
   * Test only: every event about this customer's orders fails, so a test can
   * drive an event into the dead letters and replay it once the fault is
   * gone. Default: none.
   */
  readonly failForCustomer?: string;
}

/**
 * The notifications consumer's handlers of the orders stream: proto event ->
 * domain event -> one notification. Each runs inside the consumer's inbox
 * transaction and writes through its records (`tx`), so its notification is
 * recorded with the event's id, once.
 */
export function orderEventHandlers(domain: NotificationDomain, options: OrderEventHandlersOptions = {}): EventHandler<NotificationStore>[] {
  const record = async (tx: NotificationStore, envelope: Envelope, orderId: string, customerId: string, change: OrderChange): Promise<void> => {
    if (options.failForCustomer !== undefined && customerId === options.failForCustomer) {
      throw new Error(`test fault: events of customer ${customerId} fail`);
    }
    const event: OrderEvent = { eventId: envelope.id, eventType: envelope.type, orderId, customerId, change };
    await domain.record(event, tx);
  };
  return [
    on(OrderPlacedSchema, (data, envelope, tx: NotificationStore) =>
      record(tx, envelope, data.orderId, data.customerId, {
        kind: "PLACED",
        totalMinor: Number(data.totalMinor),
        currencyCode: data.currencyCode,
      }),
    ),
    on(OrderConfirmedSchema, (data, envelope, tx: NotificationStore) =>
      record(tx, envelope, data.orderId, data.customerId, {
        kind: "CONFIRMED",
        totalMinor: Number(data.totalMinor),
        currencyCode: data.currencyCode,
      }),
    ),
    on(OrderCancelledSchema, (data, envelope, tx: NotificationStore) =>
      record(tx, envelope, data.orderId, data.customerId, { kind: "CANCELLED", reason: reasons[data.reason] ?? "UNSPECIFIED", detail: data.detail }),
    ),
  ];
}

const reasons: Record<CancelReasonMessage, CancelReason> = {
  [CancelReasonMessage.UNSPECIFIED]: "UNSPECIFIED",
  [CancelReasonMessage.OUT_OF_STOCK]: "OUT_OF_STOCK",
  [CancelReasonMessage.PAYMENT_DECLINED]: "PAYMENT_DECLINED",
  [CancelReasonMessage.PAYMENT_FAILED]: "PAYMENT_FAILED",
  [CancelReasonMessage.CUSTOMER_REQUESTED]: "CUSTOMER_REQUESTED",
  [CancelReasonMessage.RESERVATION_EXPIRED]: "RESERVATION_EXPIRED",
  [CancelReasonMessage.INTERNAL]: "INTERNAL",
};
