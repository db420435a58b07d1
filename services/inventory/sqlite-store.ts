import type Database from "better-sqlite3";
import { appendToOutbox, sqliteEventStores, type EventStores } from "../../mesh/events/index.js";
import { openDatabase, SqliteSession } from "../../mesh/index.js";
import type { InventoryStore, InventoryTransaction } from "./inventory-store.js";
import { inventoryStream, stockLevelChangedEnvelope } from "./events.js";
import { migrations } from "./migrations.js";
import type { Adjustment, Item, Reservation, ReservationLine, ReservationState } from "./model.js";

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
  const db = openDatabase(path, { name: "inventory", migrations: migrations, busyTimeoutMs: options.busyTimeoutMs });
  return new SqliteInventoryStore(db, options.onEventsCommitted);
}

/**
 * The inventory store on one better-sqlite3 connection. Statements are
 * prepared once, at open; transactions take the connection in turn
 * (SqliteSession), as SQLite's one writer would anyway.
 */
export class SqliteInventoryStore implements InventoryStore {
  private readonly session: SqliteSession;
  private readonly records: InventoryTransaction;
  readonly events: EventStores;
  /** Whether the transaction running now has recorded a stock event. */
  private eventsRecorded = false;
  private readonly pingStatement: Database.Statement;

  constructor(
    /** The connection; the outbox relay and the embedded bus's event log use it too. */
    readonly db: Database.Database,
    private readonly onEventsCommitted: () => void = () => {},
  ) {
    this.session = new SqliteSession(db);
    this.events = sqliteEventStores(this.session);
    this.pingStatement = db.prepare("SELECT 1");
    const sql = {
      findItem: db.prepare<[string], ItemRow>("SELECT * FROM items WHERE sku = ?"),
      listItems: db.prepare<[string, number], ItemRow>("SELECT * FROM items WHERE sku > ? ORDER BY sku LIMIT ?"),
      // RETURNING gives the levels after the change for its event, without reading the row again.
      changeStock: db.prepare<[number, number, number, string], ItemRow>(
        "UPDATE items SET available = available + ?, reserved = reserved + ?, sold = sold + ? WHERE sku = ? RETURNING *",
      ),
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
      setReservationState: db.prepare<[ReservationState, string]>("UPDATE reservations SET state = ? WHERE order_id = ?"),
      dueReservations: db.prepare<[number], ReservationRow>(
        "SELECT * FROM reservations WHERE state = 'ACTIVE' AND expires_at_ms <= ? ORDER BY expires_at_ms",
      ),
      findAdjustment: db.prepare<[string], AdjustmentRow>("SELECT * FROM adjustments WHERE adjustment_id = ?"),
      insertAdjustment: db.prepare<[string, string, number, string, number, number, number, number]>(
        `INSERT INTO adjustments (adjustment_id, sku, delta, reason, available_after, reserved_after, sold_after, created_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
    const toReservation = (row: ReservationRow): Reservation => ({
      orderId: row.order_id,
      lines: sql.reservationLines.all(row.order_id),
      state: row.state,
      expiresAtMs: row.expires_at_ms,
    });
    this.records = {
      findItem: async (sku) => {
        const row = sql.findItem.get(sku);
        return row && toItem(row);
      },
      listItems: async (afterSku, limit) => sql.listItems.all(afterSku, limit).map(toItem),
      changeStock: async (sku, delta, change) => {
        const after = sql.changeStock.get(delta.available, delta.reserved, delta.sold, sku);
        if (after !== undefined) {
          appendToOutbox(db, inventoryStream, stockLevelChangedEnvelope(sku, toItem(after).stock, change));
          this.eventsRecorded = true;
        }
      },
      findReservation: async (orderId) => {
        const row = sql.findReservation.get(orderId);
        return row && toReservation(row);
      },
      insertReservation: async (reservation) => {
        sql.insertReservation.run(reservation.orderId, reservation.state, reservation.expiresAtMs);
        reservation.lines.forEach((line, position) => {
          sql.insertReservationLine.run(reservation.orderId, position, line.sku, line.quantity);
        });
      },
      setReservationState: async (orderId, state) => {
        sql.setReservationState.run(state, orderId);
      },
      listDueReservations: async (nowMs) => sql.dueReservations.all(nowMs).map(toReservation),
      findAdjustment: async (adjustmentId) => {
        const row = sql.findAdjustment.get(adjustmentId);
        return row && toAdjustment(row);
      },
      insertAdjustment: async (adjustment) => {
        const { stockAfter } = adjustment;
        sql.insertAdjustment.run(
          adjustment.adjustmentId,
          adjustment.sku,
          adjustment.delta,
          adjustment.reason,
          stockAfter.available,
          stockAfter.reserved,
          stockAfter.sold,
          adjustment.createdAtMs,
        );
      },
    };
  }

  async transaction<T>(fn: (tx: InventoryTransaction) => Promise<T>): Promise<T> {
    let recorded = false;
    const result = await this.session.transaction(async () => {
      this.eventsRecorded = false;
      const value = await fn(this.records);
      recorded = this.eventsRecorded;
      return value;
    });
    if (recorded) {
      this.onEventsCommitted();
    }
    return result;
  }

  /** A trivial query, for readiness: throws at once when the database is closed or unusable. */
  ping(): void {
    this.pingStatement.get();
  }

  async close(): Promise<void> {
    this.session.close();
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
