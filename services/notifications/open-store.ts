import type { Logger } from "pino";
import type { StoreLocation } from "../../mesh/index.js";
import type { NotificationDatabase } from "./notification-store.js";
import { openPostgresNotificationStore } from "./postgres-store.js";
import { openSqliteNotificationStore } from "./sqlite-store.js";

/** The notifications database at `location`: SQLite (the embedded default) or PostgreSQL. */
export async function openNotificationStore(location: StoreLocation, options: { logger?: Logger } = {}): Promise<NotificationDatabase> {
  return location.engine === "sqlite" ? openSqliteNotificationStore(location.path) : openPostgresNotificationStore(location.url, options);
}
