import { Code, ConnectError, failure } from "../../mesh/errors.js";
import type { InventoryStore, InventoryTransaction } from "./inventory-store.js";
import type { Item, ItemPage, Reservation, ReservationLine, ReservationState, Stock } from "./model.js";
import { decodePageToken, encodePageToken } from "./page-token.js";

export interface InventoryOptions {
  /** Where items, reservations and adjustments live. */
  readonly store: InventoryStore;
  /** The clock in ms since the epoch. Default: `Date.now`; tests pass their own to drive expiry. */
  readonly now?: () => number;
  /**
   * How long a reservation lives when its request names no TTL. Default: 15
   * minutes, long enough for a checkout to finish (a slow card included),
   * short enough that an abandoned order does not hold stock for long.
   */
  readonly defaultReservationTtlMs?: number;
}

/** ReserveStock's input: hold `lines` for `orderId`, each SKU at most once. */
export interface ReserveRequest {
  readonly orderId: string;
  readonly lines: readonly ReservationLine[];
  /** The reservation's lifetime; absent or 0 means the configured default, as in the contract. */
  readonly ttlMs?: number;
}

/** AdjustStock's input: add `delta` units (negative removes) to the available stock of `sku`. */
export interface AdjustRequest {
  readonly adjustmentId: string;
  readonly sku: string;
  readonly delta: number;
  readonly reason: string;
}

/** The page size of a ListItems request that names none, as the contract says. */
const defaultPageSize = 20;

const defaultReservationTtlMs = 15 * 60 * 1000;

/** Every bucket is an int32 on the wire; keeping an item's total within it keeps each bucket within it. */
const maxTotalStock = 2_147_483_647;

/**
 * The inventory domain: the catalogue and the stock of every item, moved
 * between available, reserved and sold. Stock changes only by adjustment, so
 * for every item available + reserved + sold == seeded stock + sum of deltas.
 *
 * Each operation runs in one store transaction and first expires the
 * reservations whose TTL has run out, so no caller ever sees stock held by a
 * dead reservation, and a failing operation writes nothing at all.
 */
export class Inventory {
  private readonly store: InventoryStore;
  private readonly now: () => number;
  private readonly defaultTtlMs: number;

  constructor(options: InventoryOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.defaultTtlMs = options.defaultReservationTtlMs ?? defaultReservationTtlMs;
    if (!Number.isSafeInteger(this.defaultTtlMs) || this.defaultTtlMs <= 0) {
      throw new RangeError(`defaultReservationTtlMs must be a positive integer, got ${this.defaultTtlMs}`);
    }
  }

  /** One item with its current stock; NotFound if the SKU is unknown. */
  getItem(sku: string): Promise<Item> {
    return this.store.transaction(async (tx) => {
      await this.expireAt(tx, this.now());
      return requireItem(tx, sku);
    });
  }

  /** One page of the catalogue ordered by SKU; `pageSize` 0 means `defaultPageSize`. */
  listItems(pageSize: number, pageToken: string): Promise<ItemPage> {
    const afterSku = pageToken === "" ? "" : decodePageToken(pageToken);
    const limit = pageSize > 0 ? pageSize : defaultPageSize;
    return this.store.transaction(async (tx) => {
      await this.expireAt(tx, this.now());
      const items = await tx.listItems(afterSku, limit + 1);
      const last = items.length > limit ? items[limit - 1] : undefined;
      return { items: items.slice(0, limit), nextPageToken: last ? encodePageToken(last.sku) : "" };
    });
  }

  /**
   * Holds every line for the order, or none. Idempotent by order id: the same
   * lines again return the existing reservation in whatever state it is now;
   * other lines under the same order id are refused (IDEMPOTENCY_KEY_REUSED).
   */
  async reserve(request: ReserveRequest): Promise<Reservation> {
    assertDistinctSkus(request.lines);
    return this.store.transaction(async (tx) => {
      const now = this.now();
      await this.expireAt(tx, now);
      const existing = await tx.findReservation(request.orderId);
      if (existing) {
        if (!sameLines(existing.lines, request.lines)) {
          throw failure(
            Code.AlreadyExists,
            "IDEMPOTENCY_KEY_REUSED",
            `order ${request.orderId} already holds a reservation for other lines`,
            { metadata: { order_id: request.orderId } },
          );
        }
        return existing;
      }
      for (const line of request.lines) {
        const { available } = (await requireItem(tx, line.sku, { forUpdate: true })).stock;
        if (available < line.quantity) {
          throw insufficientStock(line.sku, available, line.quantity);
        }
      }
      for (const line of request.lines) {
        await tx.changeStock(
          line.sku,
          { available: -line.quantity, reserved: line.quantity, sold: 0 },
          { cause: "RESERVED", orderId: request.orderId },
        );
      }
      const reservation: Reservation = {
        orderId: request.orderId,
        lines: request.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
        state: "ACTIVE",
        expiresAtMs: now + (request.ttlMs || this.defaultTtlMs),
      };
      await tx.insertReservation(reservation);
      return reservation;
    });
  }

  /** Returns an active reservation's stock to available; a released or expired one comes back unchanged. */
  release(orderId: string): Promise<Reservation> {
    return this.store.transaction(async (tx) => {
      await this.expireAt(tx, this.now());
      const reservation = await requireReservation(tx, orderId);
      switch (reservation.state) {
        case "ACTIVE":
          return this.settle(tx, reservation, "RELEASED");
        case "RELEASED":
        case "EXPIRED":
          return reservation;
        case "COMMITTED":
          throw notActive(reservation, "RESERVATION_COMMITTED", "is committed and cannot be released");
      }
    });
  }

  /** Turns an active reservation's stock into sold stock; a committed one comes back unchanged. */
  commit(orderId: string): Promise<Reservation> {
    return this.store.transaction(async (tx) => {
      await this.expireAt(tx, this.now());
      const reservation = await requireReservation(tx, orderId);
      switch (reservation.state) {
        case "ACTIVE":
          return this.settle(tx, reservation, "COMMITTED");
        case "COMMITTED":
          return reservation;
        case "RELEASED":
          throw notActive(reservation, "RESERVATION_RELEASED", "was released and cannot be committed");
        case "EXPIRED":
          throw notActive(reservation, "RESERVATION_EXPIRED", "expired and cannot be committed");
      }
    });
  }

  /**
   * Changes an item's available stock. Idempotent by adjustment id: the same
   * request again returns the item as that adjustment left it and changes
   * nothing; a different request under the same id is refused.
   */
  adjust(request: AdjustRequest): Promise<Item> {
    return this.store.transaction(async (tx) => {
      const now = this.now();
      await this.expireAt(tx, now);
      const previous = await tx.findAdjustment(request.adjustmentId);
      if (previous) {
        if (previous.sku !== request.sku || previous.delta !== request.delta || previous.reason !== request.reason) {
          throw failure(
            Code.AlreadyExists,
            "IDEMPOTENCY_KEY_REUSED",
            `adjustment ${request.adjustmentId} was already made with other values`,
            { metadata: { adjustment_id: request.adjustmentId } },
          );
        }
        return { ...(await requireItem(tx, previous.sku)), stock: previous.stockAfter };
      }
      const item = await requireItem(tx, request.sku, { forUpdate: true });
      const available = item.stock.available + request.delta;
      if (available < 0) {
        throw insufficientStock(request.sku, item.stock.available, -request.delta);
      }
      if (total(item.stock) + request.delta > maxTotalStock) {
        throw failure(Code.OutOfRange, "STOCK_LIMIT_EXCEEDED", `${request.sku} cannot hold more than ${maxTotalStock} units`, {
          metadata: { sku: request.sku },
        });
      }
      const stockAfter: Stock = { ...item.stock, available };
      await tx.changeStock(request.sku, { available: request.delta, reserved: 0, sold: 0 }, { cause: "ADJUSTED" });
      await tx.insertAdjustment({ ...request, stockAfter, createdAtMs: now });
      return { ...item, stock: stockAfter };
    });
  }

  /**
   * Expires every active reservation whose TTL has run out and returns its
   * stock to available; returns how many expired. Operations already do this
   * lazily; a periodic sweep keeps `reserved` honest for items nobody touches.
   */
  expireDue(): Promise<number> {
    return this.store.transaction((tx) => this.expireAt(tx, this.now()));
  }

  private async expireAt(tx: InventoryTransaction, nowMs: number): Promise<number> {
    const due = await tx.listDueReservations(nowMs);
    for (const reservation of due) {
      await this.settle(tx, reservation, "EXPIRED");
    }
    return due.length;
  }

  /** Moves an active reservation's stock out of reserved: to sold on commit, back to available otherwise. */
  private async settle(tx: InventoryTransaction, reservation: Reservation, state: Exclude<ReservationState, "ACTIVE">): Promise<Reservation> {
    for (const { sku, quantity } of reservation.lines) {
      const sold = state === "COMMITTED" ? quantity : 0;
      await tx.changeStock(sku, { available: quantity - sold, reserved: -quantity, sold }, { cause: state, orderId: reservation.orderId });
    }
    await tx.setReservationState(reservation.orderId, state);
    return { ...reservation, state };
  }
}

async function requireItem(tx: InventoryTransaction, sku: string, options?: { forUpdate: boolean }): Promise<Item> {
  const item = await tx.findItem(sku, options);
  if (!item) {
    throw new ConnectError(`item ${sku} not found`, Code.NotFound);
  }
  return item;
}

async function requireReservation(tx: InventoryTransaction, orderId: string): Promise<Reservation> {
  const reservation = await tx.findReservation(orderId);
  if (!reservation) {
    throw new ConnectError(`no reservation for order ${orderId}`, Code.NotFound);
  }
  return reservation;
}

function total(stock: Stock): number {
  return stock.available + stock.reserved + stock.sold;
}

function assertDistinctSkus(lines: readonly ReservationLine[]): void {
  const seen = new Set<string>();
  for (const { sku } of lines) {
    if (seen.has(sku)) {
      throw failure(Code.InvalidArgument, "DUPLICATE_SKU", `SKU ${sku} appears in more than one line`, {
        metadata: { sku },
      });
    }
    seen.add(sku);
  }
}

/** Lines hold distinct SKUs, so two requests match when they hold the same quantity of each SKU, in any order. */
function sameLines(a: readonly ReservationLine[], b: readonly ReservationLine[]): boolean {
  const quantities = new Map(a.map((line) => [line.sku, line.quantity]));
  return a.length === b.length && b.every((line) => quantities.get(line.sku) === line.quantity);
}

function insufficientStock(sku: string, available: number, requested: number): ConnectError {
  return failure(
    Code.FailedPrecondition,
    "INSUFFICIENT_STOCK",
    `only ${available} of ${sku} available, ${requested} requested`,
    { metadata: { sku, available: String(available), requested: String(requested) } },
  );
}

function notActive(reservation: Reservation, reason: string, what: string): ConnectError {
  return failure(Code.FailedPrecondition, reason, `the reservation of order ${reservation.orderId} ${what}`, {
    metadata: { order_id: reservation.orderId },
  });
}
