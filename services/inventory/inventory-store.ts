import type { Adjustment, Item, Reservation, ReservationState, Stock, StockChange } from "./model.js";

/**
 * What the inventory domain needs from storage. Every domain operation runs
 * inside one `transaction`, so a failing operation writes nothing; the other
 * methods assume they are called inside it.
 */
export interface InventoryStore {
  /** Runs `fn` atomically: all its writes land, or none do if it throws. */
  transaction<T>(fn: () => T): T;

  findItem(sku: string): Item | undefined;
  /** Up to `limit` items with a SKU greater than `afterSku`, ordered by SKU. */
  listItems(afterSku: string, limit: number): Item[];
  /**
   * Adds each bucket of `delta` to the item's stock, and records the levels
   * after it as a stock event (`change` says why) in the same transaction.
   */
  changeStock(sku: string, delta: Stock, change: StockChange): void;

  findReservation(orderId: string): Reservation | undefined;
  insertReservation(reservation: Reservation): void;
  setReservationState(orderId: string, state: ReservationState): void;
  /** Active reservations whose `expiresAtMs` is at or before `nowMs`. */
  listDueReservations(nowMs: number): Reservation[];

  findAdjustment(adjustmentId: string): Adjustment | undefined;
  insertAdjustment(adjustment: Adjustment): void;
}
