import type { EventStores } from "../../mesh/events/index.js";
import type { Notification } from "./notification.js";

/** A position in one order's oldest-first notification list: just after the notification recorded at `sequence`. */
export interface NotificationCursor {
  readonly sequence: number;
}

/** A stored notification with its position in recording order. */
export interface StoredNotification extends Notification {
  /** Increases with every notification recorded; orders a list as recorded. */
  readonly sequence: number;
}

/**
 * Reads and writes of notifications: on their own, or inside the event
 * consumer's inbox transaction (then handed to the handler as `tx`, so that
 * an event's notification commits with its inbox row).
 */
export interface NotificationStore {
  /**
   * Stores `notification` unless one for its event id exists; resolves with
   * whether it was stored. The database's uniqueness on the event id decides.
   */
  insert(notification: Notification): Promise<boolean>;
  /** The customer's notifications about `orderId`, oldest first, after `cursor`. */
  listForOrder(customerId: string, orderId: string, limit: number, cursor?: NotificationCursor): Promise<StoredNotification[]>;
}

/**
 * The notifications service's database: one port, with an SQLite and a
 * PostgreSQL implementation. Its records, the event consumer's inbox and
 * dead letters (whose handlers get the records of the inbox's transaction),
 * readiness and close.
 */
export interface NotificationDatabase extends NotificationStore {
  readonly events: EventStores<NotificationStore>;
  /** A trivial query, for readiness (see storeCheck). */
  ping(): void | Promise<void>;
  close(): Promise<void>;
}
