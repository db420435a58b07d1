import type Database from "better-sqlite3";
import { sqliteEventStores } from "../../mesh/events/index.js";
import { openDatabase, SqliteSession } from "../../mesh/index.js";
import { migrations } from "./migrations.js";
import { toNotification, type NotificationRow } from "./notification-row.js";
import type { NotificationCursor, NotificationDatabase, NotificationStore } from "./notification-store.js";

export interface SqliteNotificationStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing with
   * SQLITE_BUSY. Default 5000 ms: far above any write this service makes.
   */
  readonly busyTimeoutMs?: number;
}

export interface SqliteNotificationStore extends NotificationDatabase {
  /** The connection (tests look into it). */
  readonly db: Database.Database;
  /** A trivial query, for readiness: throws at once when the database is closed or unusable. */
  ping(): void;
}


/**
 * Opens (creating and migrating as needed) the notifications database at
 * `path`, or an in-memory one for ":memory:".
 */
export function openSqliteNotificationStore(path: string, options: SqliteNotificationStoreOptions = {}): SqliteNotificationStore {
  const db = openDatabase(path, { name: "notifications", migrations: migrations, busyTimeoutMs: options.busyTimeoutMs });
  const session = new SqliteSession(db);
  const insert = db.prepare(
    `INSERT INTO notifications (notification_id, order_id, customer_id, channel, event_type, event_id, message, created_at)
     VALUES (@notification_id, @order_id, @customer_id, @channel, @event_type, @event_id, @message, @created_at)
     ON CONFLICT (event_id) DO NOTHING`,
  );
  const ping = db.prepare("SELECT 1");
  const page = db.prepare<[string, string, number, number], NotificationRow>(
    `SELECT * FROM notifications WHERE order_id = ? AND customer_id = ? AND sequence > ? ORDER BY sequence LIMIT ?`,
  );

  // The records on the connection itself: what a handler gets inside the inbox's transaction.
  const records: NotificationStore = {
    async insert(notification) {
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
    async listForOrder(customerId, orderId, limit, cursor?: NotificationCursor) {
      return page.all(orderId, customerId, cursor?.sequence ?? 0, limit).map(toNotification);
    },
  };

  return {
    db,
    events: sqliteEventStores(session, records),
    insert: (notification) => session.run(() => records.insert(notification)),
    listForOrder: (customerId, orderId, limit, cursor) => session.run(() => records.listForOrder(customerId, orderId, limit, cursor)),
    ping() {
      ping.get();
    },
    async close() {
      session.close();
    },
  };
}
