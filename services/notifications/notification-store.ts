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
 * Persistence the notifications domain needs. Synchronous, like every store
 * here: an event's notification is written inside the consumer's inbox
 * transaction, which a synchronous call cannot escape.
 */
export interface NotificationStore {
  /**
   * Stores `notification` unless one for its event id exists; returns whether
   * it was stored. The database's uniqueness on the event id decides.
   */
  insert(notification: Notification): boolean;
  /** The customer's notifications about `orderId`, oldest first, after `cursor`. */
  listForOrder(customerId: string, orderId: string, limit: number, cursor?: NotificationCursor): StoredNotification[];
}
