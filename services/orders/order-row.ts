import type { CancelReason, Compensation, Order, OrderLine, OrderState, SagaStep } from "./order.js";

/** An orders row as both engines store it: JSON text for lines and undo, epoch ms for times. */
export interface OrderRow {
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
  lease_owner?: string | null;
  lease_expires_at?: number | null;
}

export function toRow(order: Order): OrderRow {
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

export function fromRow(row: OrderRow | undefined): Order | undefined {
  return row === undefined ? undefined : toOrder(row);
}

/** Rows are written only by toRow, so their text columns hold the domain's values; NULL leaves an optional field out. */
export function toOrder(row: OrderRow): Order {
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
