import { randomUUID } from "node:crypto";
import type { CancelReason, Channel, Notification, OrderChange, OrderEvent } from "./notification.js";
import type { NotificationStore } from "./notification-store.js";
import { decodeNotificationPageToken, encodeNotificationPageToken } from "./page-token.js";

export interface NotificationDomainOptions {
  /** The clock. Default: the system clock. */
  readonly now?: () => Date;
  /** Makes a new notification id. Default: a random UUID. */
  readonly newNotificationId?: () => string;
  /** How notifications are sent. Default: EMAIL, the one channel every customer has. */
  readonly channel?: Channel;
}

export interface NotificationPage {
  readonly notifications: Notification[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

export interface NotificationDomain {
  /**
   * Records the one notification an order event causes; false when that
   * event already has one (a redelivery), which then changes nothing.
   * `tx`: the records of the transaction to write in (the event consumer's),
   * by default the store's own.
   */
  record(event: OrderEvent, tx?: NotificationStore): Promise<boolean>;
  /**
   * The customer's notifications about one order, oldest first; pageSize 0
   * means 50. Another customer's order, or an order nothing was sent about
   * yet, has none: events arrive after the order exists, so "none yet" and
   * "not yours" cannot be told apart here, and neither reveals the order.
   */
  listNotifications(customerId: string, orderId: string, pageSize: number, pageToken: string): Promise<NotificationPage>;
}

const defaultPageSize = 50;

export function createNotificationDomain(store: NotificationStore, options: NotificationDomainOptions = {}): NotificationDomain {
  const now = options.now ?? (() => new Date());
  const newNotificationId = options.newNotificationId ?? randomUUID;
  const channel = options.channel ?? "EMAIL";
  return {
    record(event, tx = store) {
      return tx.insert({
        notificationId: newNotificationId(),
        orderId: event.orderId,
        customerId: event.customerId,
        channel,
        eventType: event.eventType,
        eventId: event.eventId,
        message: messageFor(event.orderId, event.change),
        createdAt: now(),
      });
    },

    async listNotifications(customerId, orderId, pageSize, pageToken) {
      const limit = pageSize || defaultPageSize;
      const cursor = pageToken === "" ? undefined : decodeNotificationPageToken(pageToken);
      const rows = await store.listForOrder(customerId, orderId, limit + 1, cursor);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const nextPageToken = rows.length > limit && last !== undefined ? encodeNotificationPageToken(last) : "";
      return { notifications: page.map(({ sequence: _, ...notification }) => notification), nextPageToken };
    },
  };
}

/** The text the customer reads about a change to their order. */
export function messageFor(orderId: string, change: OrderChange): string {
  switch (change.kind) {
    case "PLACED":
      return `We received your order ${orderId} for ${formatMoney(change.totalMinor, change.currencyCode)}.`;
    case "CONFIRMED":
      return `Your order ${orderId} is confirmed: ${formatMoney(change.totalMinor, change.currencyCode)} was charged.`;
    case "CANCELLED":
      return `Your order ${orderId} was cancelled: ${change.detail || reasonTexts[change.reason]}. No money was taken.`;
  }
}

/** Used when an OrderCancelled carries no detail. */
const reasonTexts: Record<CancelReason, string> = {
  OUT_OF_STOCK: "an item is out of stock",
  PAYMENT_DECLINED: "the payment was declined",
  PAYMENT_FAILED: "the payment could not be made",
  CUSTOMER_REQUESTED: "you asked us to cancel it",
  RESERVATION_EXPIRED: "it took too long to complete",
  INTERNAL: "something went wrong on our side",
  UNSPECIFIED: "no reason was given",
};

/** An amount in minor units as the customer reads it, e.g. 2800 USD -> "$28.00". */
function formatMoney(minor: number, currencyCode: string): string {
  try {
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency: currencyCode });
    return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    // Not a currency Intl knows: show the minor units as they are.
    return `${minor} ${currencyCode} (minor units)`;
  }
}
