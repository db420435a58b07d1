import type { Order, OrderEvent, SagaStep } from "./order.js";

/** A position in a customer's newest-first order list: just after this order. */
export interface OrderCursor {
  readonly createdAt: Date;
  readonly orderId: string;
}

/**
 * Persistence the orders domain needs. Calls are synchronous: the one
 * implementation is an embedded SQLite database, and a synchronous store makes
 * each call atomic with respect to the event loop.
 */
export interface OrderStore {
  /**
   * Stores a new order unless the customer already has one under its request
   * id; returns whether it was stored. The database's uniqueness constraint
   * decides, so of two concurrent identical requests exactly one wins.
   * `events` (default none) are recorded in the same transaction, and only
   * when the order is stored: a replay records nothing.
   */
  insert(order: Order, events?: readonly OrderEvent[]): boolean;
  get(orderId: string): Order | undefined;
  findByRequest(customerId: string, requestId: string): Order | undefined;
  /** The customer's orders, newest first (ties broken by order id), after `cursor`. */
  listByCustomer(customerId: string, limit: number, cursor?: OrderCursor): Order[];
  /** Ids of every PENDING order, oldest first. */
  pendingOrderIds(): string[];
  /**
   * Writes the saga's view of `order` (state, step, undo, payment, card token,
   * cancel reason and detail, updated_at) if the stored step is still
   * `expectedStep`, and returns the stored order after the write; undefined
   * when the step has moved on (another driver owns the order).
   * cancel_requested is never written here: CancelOrder sets it concurrently.
   * `events` (default none) are recorded in the same transaction, and only
   * by the write that wins the step.
   */
  update(order: Order, expectedStep: SagaStep, events?: readonly OrderEvent[]): Order | undefined;
  /** Sets cancel_requested on a PENDING order; does nothing otherwise. */
  requestCancel(orderId: string, at: Date): void;
}
