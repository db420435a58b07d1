import type Database from "better-sqlite3";
import { openDatabase } from "../../mesh/index.js";
import type { Channel, Notification } from "./notification.js";
import type { NotificationCursor, NotificationStore, StoredNotification } from "./notification-store.js";
import { migrations } from "./migrations.js";

export interface SqliteNotificationStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing with
   * SQLITE_BUSY. Default 5000 ms: far above any write this service makes.
   */
  readonly busyTimeoutMs?: number;
}

export interface SqliteNotificationStore extends NotificationStore {
  /**
   * The connection, for the event consumer: its inbox and dead letters live
   * in this database, and a handler's insert joins the inbox's transaction.
   */
  readonly db: Database.Database;
  /** A trivial query, for readiness: throws once the database is closed or unusable. */
  ping(): void;
  close(): void;
}

interface NotificationRow {
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

/**
 * Opens (creating and migrating as needed) the notifications database at
 * `path`, or an in-memory one for ":memory:".
 */
export function openSqliteNotificationStore(path: string, options: SqliteNotificationStoreOptions = {}): SqliteNotificationStore {
  const db = openDatabase(path, { name: "notifications", migrations, busyTimeoutMs: options.busyTimeoutMs });
  const insert = db.prepare(
    `INSERT INTO notifications (notification_id, order_id, customer_id, channel, event_type, event_id, message, created_at)
     VALUES (@notification_id, @order_id, @customer_id, @channel, @event_type, @event_id, @message, @created_at)
     ON CONFLICT (event_id) DO NOTHING`,
  );
  const ping = db.prepare("SELECT 1");
  const page = db.prepare<[string, string, number, number], NotificationRow>(
    `SELECT * FROM notifications WHERE order_id = ? AND customer_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`,
  );

  return {
    db,
    insert(notification) {
      return (
        insert.run({
          notification_id: notification.notificationId,
          order_id: notification.orderId,
          customer_id: notification.customerId,
          channel: notification.channel,
          event_type: notification.eventType,
          event_id: notification.eventId,
          message: notification.message,
          created_at: notification.createdAt.getTime(),
        }).changes === 1
      );
    },
    listForOrder(customerId, orderId, limit, cursor?: NotificationCursor) {
      return page.all(orderId, customerId, cursor?.sequence ?? 0, limit).map(toNotification);
    },
    ping() {
      ping.get();
    },
    close() {
      db.close();
    },
  };
}

/** Rows are written only by insert, so their text columns hold the domain's values. */
function toNotification(row: NotificationRow): StoredNotification {
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
