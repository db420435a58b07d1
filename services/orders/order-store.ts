import type { EventStores } from "../../mesh/events/index.js";
import type { Order, OrderEvent, SagaStep } from "./order.js";

/** A position in a customer's newest-first order list: just after this order. */
export interface OrderCursor {
  readonly createdAt: Date;
  readonly orderId: string;
}

/**
 * A replica's hold on an order's saga: only the owner drives it, until
 * `untilMs` (epoch ms); the owner renews it while driving. A replica that
 * dies stops renewing, and another takes the saga over once it has expired.
 */
export interface SagaLease {
  /** The replica's id, unique per process. */
  readonly owner: string;
  readonly untilMs: number;
}

/**
 * Persistence the orders domain needs: one port, with an SQLite and a
 * PostgreSQL implementation. Each call is atomic on its own; the ones that
 * write order events record them in the same transaction (the outbox).
 */
export interface OrderStore {
  /**
   * Stores a new order unless the customer already has one under its request
   * id; resolves with whether it was stored. The database's uniqueness
   * constraint decides, so of two concurrent identical requests exactly one
   * wins. `events` (default none) are recorded in the same transaction, and
   * only when the order is stored: a replay records nothing. `lease`, when
   * given, is taken with the insert, so that no other replica picks the new
   * saga up before its placer drives it.
   */
  insert(order: Order, events?: readonly OrderEvent[], lease?: SagaLease): Promise<boolean>;
  get(orderId: string): Promise<Order | undefined>;
  findByRequest(customerId: string, requestId: string): Promise<Order | undefined>;
  /** The customer's orders, newest first (ties broken by order id), after `cursor`. */
  listByCustomer(customerId: string, limit: number, cursor?: OrderCursor): Promise<Order[]>;
  /** Ids of every PENDING order whose saga nobody holds (no lease, or one expired by `nowMs`), oldest first. */
  resumableOrderIds(nowMs: number): Promise<string[]>;
  /**
   * Writes the saga's view of `order` (state, step, undo, payment, card token,
   * cancel reason and detail, updated_at) if the stored step is still
   * `expectedStep` and no other replica holds the saga (the lease is
   * `owner`'s or nobody's), and resolves with the stored order after the
   * write; undefined when the step has moved on or the lease is another's.
   * A write to step DONE also gives the lease up. cancel_requested is never
   * written here: CancelOrder sets it concurrently. `events` (default none)
   * are recorded in the same transaction, and only by the write that wins.
   */
  update(order: Order, expectedStep: SagaStep, events?: readonly OrderEvent[], owner?: string): Promise<Order | undefined>;
  /** Sets cancel_requested on a PENDING order; does nothing otherwise. */
  requestCancel(orderId: string, at: Date): Promise<void>;
  /**
   * Takes (or renews) the saga's lease for `lease.owner` when the order is
   * PENDING and the lease is free, expired by `nowMs`, or already the
   * owner's; resolves with whether the owner now holds it.
   */
  takeLease(orderId: string, lease: SagaLease, nowMs: number): Promise<boolean>;
  /** Gives the lease up, if `owner` holds it. */
  releaseLease(orderId: string, owner: string): Promise<void>;
  /** The outbox (order events), event log and the rest of mesh/events' tables in this database. */
  readonly events: EventStores;
  /** A trivial query, for readiness (see storeCheck). */
  ping(): void | Promise<void>;
  close(): Promise<void>;
}
