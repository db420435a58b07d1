import type Database from "better-sqlite3";
import { openDatabase } from "../../mesh/index.js";
import { appendToOutbox } from "../../mesh/events/index.js";
import { orderEventEnvelope, ordersStream } from "./events.js";
import type { CancelReason, Compensation, Order, OrderEvent, OrderLine, OrderState, SagaStep } from "./order.js";
import type { OrderCursor, OrderStore } from "./order-store.js";
import { migrations } from "./migrations.js";

export interface SqliteOrderStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing with
   * SQLITE_BUSY. Default 5000 ms: far above any write this service makes, so
   * it only trips when something is genuinely stuck.
   */
  readonly busyTimeoutMs?: number;
  /**
   * Called after a write that recorded order events has committed, to wake
   * the outbox relay at once. Default: nothing (the relay polls).
   */
  readonly onEventsCommitted?: () => void;
}

export interface SqliteOrderStore extends OrderStore {
  /** The connection, for the outbox relay and the embedded bus's event log, which live in this database. */
  readonly db: Database.Database;
  /** A trivial query, for readiness: throws once the database is closed or unusable. */
  ping(): void;
  close(): void;
}

interface OrderRow {
  order_id: string;
  customer_id: string;
  request_id: string;
  request_fingerprint: string;
  lines: string;
  total_minor: number;
  currency_code: string;
  state: string;
  cancel_reason: string | null;
  cancel_detail: string;
  payment_id: string | null;
  cancel_requested: number;
  saga_step: string;
  undo: string;
  card_token: string | null;
  created_at: number;
  updated_at: number;
}

/** Opens (creating and migrating as needed) the orders database at `path`. */
export function openSqliteOrderStore(path: string, options: SqliteOrderStoreOptions = {}): SqliteOrderStore {
  const db = openDatabase(path, { name: "orders", migrations, busyTimeoutMs: options.busyTimeoutMs });

  const insert = db.prepare(
    `INSERT INTO orders (order_id, customer_id, request_id, request_fingerprint, lines, total_minor, currency_code,
       state, cancel_reason, cancel_detail, payment_id, cancel_requested, saga_step, undo, card_token, created_at, updated_at)
     VALUES (@order_id, @customer_id, @request_id, @request_fingerprint, @lines, @total_minor, @currency_code,
       @state, @cancel_reason, @cancel_detail, @payment_id, @cancel_requested, @saga_step, @undo, @card_token, @created_at, @updated_at)
     ON CONFLICT (customer_id, request_id) DO NOTHING`,
  );
  const get = db.prepare<[string], OrderRow>(`SELECT * FROM orders WHERE order_id = ?`);
  const findByRequest = db.prepare<[string, string], OrderRow>(
    `SELECT * FROM orders WHERE customer_id = ? AND request_id = ?`,
  );
  const firstPage = db.prepare<[string, number], OrderRow>(
    `SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC, order_id DESC LIMIT ?`,
  );
  const nextPage = db.prepare<[string, number, number, string, number], OrderRow>(
    `SELECT * FROM orders WHERE customer_id = ? AND (created_at < ? OR (created_at = ? AND order_id < ?))
     ORDER BY created_at DESC, order_id DESC LIMIT ?`,
  );
  const pending = db
    .prepare<[], string>(`SELECT order_id FROM orders WHERE state = 'PENDING' ORDER BY created_at, order_id`)
    .pluck();
  const update = db.prepare(
    `UPDATE orders SET state = @state, saga_step = @saga_step, undo = @undo, payment_id = @payment_id,
       card_token = @card_token, cancel_reason = @cancel_reason, cancel_detail = @cancel_detail, updated_at = @updated_at
     WHERE order_id = @order_id AND saga_step = @expected_step`,
  );
  const requestCancel = db.prepare<[number, string]>(
    `UPDATE orders SET cancel_requested = 1, updated_at = ? WHERE order_id = ? AND state = 'PENDING'`,
  );

  const ping = db.prepare("SELECT 1");

  /**
   * Runs `write` and, when it changed the row, records `events` about `order`
   * (as written) in the outbox, in one transaction; once that has committed,
   * wakes the relay if there were events. Returns whether the row changed.
   */
  const writeInTransaction = db.transaction((write: () => boolean, order: Order, events: readonly OrderEvent[]): boolean => {
    if (!write()) {
      return false;
    }
    for (const event of events) {
      appendToOutbox(db, ordersStream, orderEventEnvelope(event, order));
    }
    return true;
  });
  const writeWithEvents = (write: () => boolean, order: Order, events: readonly OrderEvent[]): boolean => {
    const changed = writeInTransaction(write, order, events);
    if (changed && events.length > 0) {
      options.onEventsCommitted?.();
    }
    return changed;
  };

  return {
    db,
    insert(order, events = []) {
      return writeWithEvents(() => insert.run(toRow(order)).changes === 1, order, events);
    },
    get(orderId) {
      return fromRow(get.get(orderId));
    },
    findByRequest(customerId, requestId) {
      return fromRow(findByRequest.get(customerId, requestId));
    },
    listByCustomer(customerId, limit, cursor?: OrderCursor) {
      const rows =
        cursor === undefined
          ? firstPage.all(customerId, limit)
          : nextPage.all(customerId, cursor.createdAt.getTime(), cursor.createdAt.getTime(), cursor.orderId, limit);
      return rows.map(toOrder);
    },
    pendingOrderIds() {
      return pending.all();
    },
    update(order, expectedStep, events = []) {
      // The statement leaves cancel_requested alone: CancelOrder owns it.
      const write = (): boolean => update.run({ ...toRow(order), expected_step: expectedStep }).changes === 1;
      if (!writeWithEvents(write, order, events)) {
        return undefined;
      }
      return fromRow(get.get(order.orderId));
    },
    requestCancel(orderId, at) {
      requestCancel.run(at.getTime(), orderId);
    },
    ping() {
      ping.get();
    },
    close() {
      db.close();
    },
  };
}

function toRow(order: Order): OrderRow {
  return {
    order_id: order.orderId,
    customer_id: order.customerId,
    request_id: order.requestId,
    request_fingerprint: order.requestFingerprint,
    lines: JSON.stringify(order.lines),
    total_minor: order.totalMinor,
    currency_code: order.currencyCode,
    state: order.state,
    cancel_reason: order.cancelReason ?? null,
    cancel_detail: order.cancelDetail,
    payment_id: order.paymentId ?? null,
    cancel_requested: order.cancelRequested ? 1 : 0,
    saga_step: order.sagaStep,
    undo: JSON.stringify(order.undo),
    card_token: order.cardToken ?? null,
    created_at: order.createdAt.getTime(),
    updated_at: order.updatedAt.getTime(),
  };
}

function fromRow(row: OrderRow | undefined): Order | undefined {
  return row === undefined ? undefined : toOrder(row);
}

/** Rows are written only by toRow, so their text columns hold the domain's values; NULL leaves an optional field out. */
function toOrder(row: OrderRow): Order {
  return {
    orderId: row.order_id,
    customerId: row.customer_id,
    requestId: row.request_id,
    requestFingerprint: row.request_fingerprint,
    lines: JSON.parse(row.lines) as OrderLine[],
    totalMinor: row.total_minor,
    currencyCode: row.currency_code,
    state: row.state as OrderState,
    ...(row.cancel_reason === null ? {} : { cancelReason: row.cancel_reason as CancelReason }),
    cancelDetail: row.cancel_detail,
    ...(row.payment_id === null ? {} : { paymentId: row.payment_id }),
    cancelRequested: row.cancel_requested === 1,
    sagaStep: row.saga_step as SagaStep,
    undo: JSON.parse(row.undo) as Compensation[],
    ...(row.card_token === null ? {} : { cardToken: row.card_token }),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
