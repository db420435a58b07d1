import type { Channel } from "./notification.js";
import type { StoredNotification } from "./notification-store.js";

/** A notifications row as both engines store it (created_at in epoch ms). */
export interface NotificationRow {
  sequence: number;
  notification_id: string;
  order_id: string;
  customer_id: string;
  channel: string;
  event_type: string;
  event_id: string;
  message: string;
  created_at: number;
}

/** Rows are written only by insert, so their text columns hold the domain's values. */
export function toNotification(row: NotificationRow): StoredNotification {
  return {
    sequence: row.sequence,
    notificationId: row.notification_id,
    orderId: row.order_id,
    customerId: row.customer_id,
    channel: row.channel as Channel,
    eventType: row.event_type,
    eventId: row.event_id,
    message: row.message,
    createdAt: new Date(row.created_at),
  };
}
