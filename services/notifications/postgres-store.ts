import type { Logger } from "pino";
import { postgresEventStores } from "../../mesh/events/index.js";
import { openPostgres, prepared, type Queryable } from "../../mesh/index.js";
import { postgresMigrations } from "./migrations.js";
import type { NotificationDatabase, NotificationStore } from "./notification-store.js";
import { toNotification, type NotificationRow } from "./notification-row.js";

const sql = {
  insert: prepared(
    `INSERT INTO notifications (notification_id, order_id, customer_id, channel, event_type, event_id, message, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (event_id) DO NOTHING`,
  ),
  page: prepared("SELECT * FROM notifications WHERE order_id = $1 AND customer_id = $2 AND sequence > $3 ORDER BY sequence LIMIT $4"),
};

/** The notification records on `db`: the pool, or the inbox transaction's connection. */
function records(db: Queryable): NotificationStore {
  return {
    async insert(n) {
      const result = await db.query(
        sql.insert([n.notificationId, n.orderId, n.customerId, n.channel, n.eventType, n.eventId, n.message, n.createdAt.getTime()]),
      );
      return result.rowCount === 1;
    },
    async listForOrder(customerId, orderId, limit, cursor) {
      const { rows } = await db.query<NotificationRow>(sql.page([orderId, customerId, cursor?.sequence ?? 0, limit]));
      return rows.map(toNotification);
    },
  };
}

/** Connects to the notifications database `url` names and migrates it. */
export async function openPostgresNotificationStore(url: string, options: { logger?: Logger } = {}): Promise<NotificationDatabase> {
  const db = await openPostgres(url, { name: "notifications", migrations: postgresMigrations, ...options });
  return {
    ...records(db.pool),
    events: postgresEventStores(db, (client) => records(client)),
    ping: () => db.ping(),
    close: () => db.close(),
  };
}
