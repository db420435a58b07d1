import type { EventStores } from "../../mesh/events/index.js";
import type { Adjustment, Item, Reservation, ReservationState, Stock, StockChange } from "./model.js";

/** The reads and writes of one inventory transaction. */
export interface InventoryTransaction {
  /**
   * The item, or undefined. With `forUpdate`, nobody else changes it until
   * the transaction ends (a row lock on PostgreSQL; SQLite has one writer at
   * a time anyway): for a decision on its stock that the transaction acts on.
   */
  findItem(sku: string, options?: { readonly forUpdate?: boolean }): Promise<Item | undefined>;
  /** Up to `limit` items with a SKU greater than `afterSku`, ordered by SKU. */
  listItems(afterSku: string, limit: number): Promise<Item[]>;
  /**
   * Adds each bucket of `delta` to the item's stock, and records the levels
   * after it as a stock event (`change` says why) in the same transaction.
   */
  changeStock(sku: string, delta: Stock, change: StockChange): Promise<void>;

  /** The reservation, held until the transaction ends (every caller decides on its state). */
  findReservation(orderId: string): Promise<Reservation | undefined>;
  insertReservation(reservation: Reservation): Promise<void>;
  setReservationState(orderId: string, state: ReservationState): Promise<void>;
  /**
   * Active reservations whose `expiresAtMs` is at or before `nowMs`, held
   * until the transaction ends; on PostgreSQL those another transaction holds
   * are skipped (it is settling them).
   */
  listDueReservations(nowMs: number): Promise<Reservation[]>;

  findAdjustment(adjustmentId: string): Promise<Adjustment | undefined>;
  insertAdjustment(adjustment: Adjustment): Promise<void>;
}

/**
 * What the inventory domain needs from storage: one port, with an SQLite and
 * a PostgreSQL implementation. Every domain operation runs inside one
 * `transaction`, so a failing operation writes nothing.
 */
export interface InventoryStore {
  /**
   * Runs `fn` atomically: all its writes land, or none do if it rejects. On
   * PostgreSQL it may run again after a conflict, so `fn` must have no
   * effect outside `tx`.
   */
  transaction<T>(fn: (tx: InventoryTransaction) => Promise<T>): Promise<T>;
  /** The outbox (stock events), event log and the rest of mesh/events' tables in this database. */
  readonly events: EventStores;
  /** A trivial query, for readiness (see storeCheck). */
  ping(): void | Promise<void>;
  close(): Promise<void>;
}
