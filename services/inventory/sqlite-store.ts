import type Database from "better-sqlite3";
import type { InventoryStore } from "./inventory-store.js";
import { appendToOutbox } from "../../mesh/events/index.js";
import { openDatabase } from "../../mesh/index.js";
import { inventoryStream, stockLevelChangedEnvelope } from "./events.js";
import { migrations } from "./migrations.js";
import type { Adjustment, Item, Reservation, ReservationLine, ReservationState, Stock, StockChange } from "./model.js";

export interface SqliteInventoryStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing with
   * SQLITE_BUSY. Default: 5000 ms, far beyond any of this store's
   * transactions, so only a stuck process makes a call fail.
   */
  readonly busyTimeoutMs?: number;
  /**
   * Called after a transaction that recorded stock events has committed, to
   * wake the outbox relay at once. Default: nothing (the relay polls).
   */
  readonly onEventsCommitted?: () => void;
}

interface ItemRow {
  sku: string;
  name: string;
  description: string;
  price_minor: number;
  currency_code: string;
  available: number;
  reserved: number;
  sold: number;
}

interface ReservationRow {
  order_id: string;
  state: ReservationState;
  expires_at_ms: number;
}

interface AdjustmentRow {
  adjustment_id: string;
  sku: string;
  delta: number;
  reason: string;
  available_after: number;
  reserved_after: number;
  sold_after: number;
  created_at_ms: number;
}

/**
 * Opens (creating if needed) the inventory database at `path`, or an
 * in-memory one for ":memory:", and migrates it to the latest schema.
 */
export function openSqliteInventoryStore(path: string, options: SqliteInventoryStoreOptions = {}): SqliteInventoryStore {
  const db = openDatabase(path, { name: "inventory", migrations, busyTimeoutMs: options.busyTimeoutMs });
  return new SqliteInventoryStore(db, options.onEventsCommitted);
}

/** The inventory store on one better-sqlite3 connection. Statements are prepared once, at open. */
export class SqliteInventoryStore implements InventoryStore {
  private readonly statements;
  /** Whether the transaction running now has recorded a stock event. */
  private eventsRecorded = false;

  constructor(
    /** The connection; the outbox relay and the embedded bus's event log use it too. */
    readonly db: Database.Database,
    private readonly onEventsCommitted: () => void = () => {},
  ) {
    this.statements = {
      findItem: db.prepare<[string], ItemRow>("SELECT * FROM items WHERE sku = ?"),
      listItems: db.prepare<[string, number], ItemRow>("SELECT * FROM items WHERE sku > ? ORDER BY sku LIMIT ?"),
      // RETURNING gives the levels after the change for its event, without reading the row again.
      changeStock: db.prepare<[number, number, number, string], ItemRow>(
        "UPDATE items SET available = available + ?, reserved = reserved + ?, sold = sold + ? WHERE sku = ? RETURNING *",
      ),
      ping: db.prepare("SELECT 1"),
      findReservation: db.prepare<[string], ReservationRow>("SELECT * FROM reservations WHERE order_id = ?"),
      reservationLines: db.prepare<[string], ReservationLine>(
        "SELECT sku, quantity FROM reservation_lines WHERE order_id = ? ORDER BY position",
      ),
      insertReservation: db.prepare<[string, ReservationState, number]>(
        "INSERT INTO reservations (order_id, state, expires_at_ms) VALUES (?, ?, ?)",
      ),
      insertReservationLine: db.prepare<[string, number, string, number]>(
        "INSERT INTO reservation_lines (order_id, position, sku, quantity) VALUES (?, ?, ?, ?)",
      ),
      setReservationState: db.prepare<[ReservationState, string]>(
        "UPDATE reservations SET state = ? WHERE order_id = ?",
      ),
      dueReservations: db.prepare<[number], ReservationRow>(
        "SELECT * FROM reservations WHERE state = 'ACTIVE' AND expires_at_ms <= ? ORDER BY expires_at_ms",
      ),
      findAdjustment: db.prepare<[string], AdjustmentRow>("SELECT * FROM adjustments WHERE adjustment_id = ?"),
      insertAdjustment: db.prepare<[string, string, number, string, number, number, number, number]>(
        `INSERT INTO adjustments (adjustment_id, sku, delta, reason, available_after, reserved_after, sold_after, created_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) {
      return this.db.transaction(fn)();
    }
    this.eventsRecorded = false;
    const result = this.db.transaction(fn)();
    if (this.eventsRecorded) {
      this.eventsRecorded = false;
      this.onEventsCommitted();
    }
    return result;
  }

  findItem(sku: string): Item | undefined {
    const row = this.statements.findItem.get(sku);
    return row && toItem(row);
  }

  listItems(afterSku: string, limit: number): Item[] {
    return this.statements.listItems.all(afterSku, limit).map(toItem);
  }

  changeStock(sku: string, delta: Stock, change: StockChange): void {
    const after = this.statements.changeStock.get(delta.available, delta.reserved, delta.sold, sku);
    if (after !== undefined) {
      appendToOutbox(this.db, inventoryStream, stockLevelChangedEnvelope(sku, toItem(after).stock, change));
      this.eventsRecorded = true;
    }
  }

  findReservation(orderId: string): Reservation | undefined {
    const row = this.statements.findReservation.get(orderId);
    return row && this.toReservation(row);
  }

  insertReservation(reservation: Reservation): void {
    this.statements.insertReservation.run(reservation.orderId, reservation.state, reservation.expiresAtMs);
    reservation.lines.forEach((line, position) => {
      this.statements.insertReservationLine.run(reservation.orderId, position, line.sku, line.quantity);
    });
  }

  setReservationState(orderId: string, state: ReservationState): void {
    this.statements.setReservationState.run(state, orderId);
  }

  listDueReservations(nowMs: number): Reservation[] {
    return this.statements.dueReservations.all(nowMs).map((row) => this.toReservation(row));
  }

  findAdjustment(adjustmentId: string): Adjustment | undefined {
    const row = this.statements.findAdjustment.get(adjustmentId);
    return row && toAdjustment(row);
  }

  insertAdjustment(adjustment: Adjustment): void {
    const { stockAfter } = adjustment;
    this.statements.insertAdjustment.run(
      adjustment.adjustmentId,
      adjustment.sku,
      adjustment.delta,
      adjustment.reason,
      stockAfter.available,
      stockAfter.reserved,
      stockAfter.sold,
      adjustment.createdAtMs,
    );
  }

  /** A trivial query, for readiness: throws once the database is closed or unusable. */
  ping(): void {
    this.statements.ping.get();
  }

  close(): void {
    this.db.close();
  }

  private toReservation(row: ReservationRow): Reservation {
    return {
      orderId: row.order_id,
      lines: this.statements.reservationLines.all(row.order_id),
      state: row.state,
      expiresAtMs: row.expires_at_ms,
    };
  }
}

function toItem(row: ItemRow): Item {
  return {
    sku: row.sku,
    name: row.name,
    description: row.description,
    priceMinor: row.price_minor,
    currencyCode: row.currency_code,
    stock: { available: row.available, reserved: row.reserved, sold: row.sold },
  };
}

function toAdjustment(row: AdjustmentRow): Adjustment {
  return {
    adjustmentId: row.adjustment_id,
    sku: row.sku,
    delta: row.delta,
    reason: row.reason,
    stockAfter: { available: row.available_after, reserved: row.reserved_after, sold: row.sold_after },
    createdAtMs: row.created_at_ms,
  };
}
