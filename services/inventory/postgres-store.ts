import type pg from "pg";
import type { Logger } from "pino";
import { appendToPostgresOutbox, postgresEventStores } from "../../mesh/events/index.js";
import { openPostgres, prepared, type Queryable } from "../../mesh/index.js";
import { inventoryStream, stockLevelChangedEnvelope } from "./events.js";
import type { InventoryStore, InventoryTransaction } from "./inventory-store.js";
import { postgresMigrations } from "./migrations.js";
import type { Adjustment, Item, Reservation, ReservationLine, ReservationState } from "./model.js";

export interface PostgresInventoryStoreOptions {
  /** Called after a transaction that recorded stock events has committed, to wake the outbox relay. */
  readonly onEventsCommitted?: () => void;
  readonly logger?: Logger;
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
  lines: ReservationLine[];
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

/** A reservation with its lines in one row: the lines as a JSON array, in position order. */
const reservationColumns = `r.order_id, r.state, r.expires_at_ms,
  (SELECT coalesce(json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity) ORDER BY l.position), '[]')
     FROM reservation_lines l WHERE l.order_id = r.order_id) AS lines`;

const sql = {
  findItem: prepared("SELECT * FROM items WHERE sku = $1"),
  findItemForUpdate: prepared("SELECT * FROM items WHERE sku = $1 FOR UPDATE"),
  listItems: prepared("SELECT * FROM items WHERE sku > $1 ORDER BY sku LIMIT $2"),
  changeStock: prepared("UPDATE items SET available = available + $1, reserved = reserved + $2, sold = sold + $3 WHERE sku = $4 RETURNING *"),
  // Every caller decides on the reservation's state and may change it: lock it.
  findReservation: prepared(`SELECT ${reservationColumns} FROM reservations r WHERE r.order_id = $1 FOR UPDATE OF r`),
  insertReservation: prepared("INSERT INTO reservations (order_id, state, expires_at_ms) VALUES ($1, $2, $3)"),
  insertReservationLines: prepared(
    `INSERT INTO reservation_lines (order_id, position, sku, quantity)
     SELECT $1, ordinality - 1, sku, quantity FROM unnest($2::text[], $3::integer[]) WITH ORDINALITY AS l (sku, quantity, ordinality)`,
  ),
  setReservationState: prepared("UPDATE reservations SET state = $1 WHERE order_id = $2"),
  // A reservation another transaction holds is being settled by it: skip it rather than wait.
  dueReservations: prepared(
    `SELECT ${reservationColumns} FROM reservations r WHERE r.state = 'ACTIVE' AND r.expires_at_ms <= $1
     ORDER BY r.expires_at_ms FOR UPDATE OF r SKIP LOCKED`,
  ),
  findAdjustment: prepared("SELECT * FROM adjustments WHERE adjustment_id = $1"),
  insertAdjustment: prepared(
    `INSERT INTO adjustments (adjustment_id, sku, delta, reason, available_after, reserved_after, sold_after, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  ),
};

/**
 * Connects to the inventory database `url` names and migrates it. Several
 * replicas share it: a transaction locks the item rows it decides on
 * (reserve, adjust) and the reservations it settles, so concurrent
 * transactions on one item or reservation take turns; the CHECKs on the
 * buckets stay the last guard.
 */
export async function openPostgresInventoryStore(url: string, options: PostgresInventoryStoreOptions = {}): Promise<InventoryStore> {
  const db = await openPostgres(url, { name: "inventory", migrations: postgresMigrations, ...(options.logger ? { logger: options.logger } : {}) });
  const onEventsCommitted = options.onEventsCommitted ?? (() => {});
  return {
    events: postgresEventStores(db),
    async transaction(fn) {
      let recorded = false;
      const result = await db.transaction(async (client: pg.PoolClient) => {
        const tx = transaction(client);
        const value = await fn(tx.records);
        recorded = tx.eventsRecorded();
        return value;
      });
      if (recorded) {
        onEventsCommitted();
      }
      return result;
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

/** One transaction's records on its connection, and whether it recorded stock events. */
function transaction(client: Queryable): { records: InventoryTransaction; eventsRecorded(): boolean } {
  let eventsRecorded = false;
  const records: InventoryTransaction = {
    async findItem(sku, options) {
      const { rows } = await client.query<ItemRow>((options?.forUpdate === true ? sql.findItemForUpdate : sql.findItem)([sku]));
      return rows[0] && toItem(rows[0]);
    },
    async listItems(afterSku, limit) {
      const { rows } = await client.query<ItemRow>(sql.listItems([afterSku, limit]));
      return rows.map(toItem);
    },
    async changeStock(sku, delta, change) {
      const { rows } = await client.query<ItemRow>(sql.changeStock([delta.available, delta.reserved, delta.sold, sku]));
      if (rows[0] !== undefined) {
        await appendToPostgresOutbox(client, inventoryStream, stockLevelChangedEnvelope(sku, toItem(rows[0]).stock, change));
        eventsRecorded = true;
      }
    },
    async findReservation(orderId) {
      const { rows } = await client.query<ReservationRow>(sql.findReservation([orderId]));
      return rows[0] && toReservation(rows[0]);
    },
    async insertReservation(reservation) {
      await client.query(sql.insertReservation([reservation.orderId, reservation.state, reservation.expiresAtMs]));
      await client.query(
        sql.insertReservationLines([reservation.orderId, reservation.lines.map((l) => l.sku), reservation.lines.map((l) => l.quantity)]),
      );
    },
    async setReservationState(orderId, state) {
      await client.query(sql.setReservationState([state, orderId]));
    },
    async listDueReservations(nowMs) {
      const { rows } = await client.query<ReservationRow>(sql.dueReservations([nowMs]));
      return rows.map(toReservation);
    },
    async findAdjustment(adjustmentId) {
      const { rows } = await client.query<AdjustmentRow>(sql.findAdjustment([adjustmentId]));
      return rows[0] && toAdjustment(rows[0]);
    },
    async insertAdjustment(adjustment) {
      const { stockAfter } = adjustment;
      await client.query(
        sql.insertAdjustment([
          adjustment.adjustmentId,
          adjustment.sku,
          adjustment.delta,
          adjustment.reason,
          stockAfter.available,
          stockAfter.reserved,
          stockAfter.sold,
          adjustment.createdAtMs,
        ]),
      );
    },
  };
  return { records, eventsRecorded: () => eventsRecorded };
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

function toReservation(row: ReservationRow): Reservation {
  return { orderId: row.order_id, lines: row.lines, state: row.state, expiresAtMs: row.expires_at_ms };
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
