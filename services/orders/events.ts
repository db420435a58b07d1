import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderPlacedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { CancelReason as CancelReasonMessage } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { createEnvelope } from "../../mesh/events/index.js";
import { reasonMessages } from "./handler.js";
import type { Order, OrderEvent } from "./order.js";

/** The stream orders publishes to; each event's subject is its order id. */
export const ordersStream = "orders";

/** The envelope's source for every orders event. */
const source = "meshwork.orders";

/**
 * The envelope of an order event: domain -> proto, from the order as it is
 * being stored (the event is written in the same transaction), stamped with
 * the order's updated_at as the time of the change.
 */
export function orderEventEnvelope(event: OrderEvent, order: Order): Envelope {
  const options = { source, subject: order.orderId, time: order.updatedAt };
  switch (event) {
    case "ORDER_PLACED":
      return createEnvelope(
        OrderPlacedSchema,
        {
          orderId: order.orderId,
          customerId: order.customerId,
          lines: order.lines.map((line) => ({ sku: line.sku, quantity: line.quantity, unitPriceMinor: BigInt(line.unitPriceMinor) })),
          totalMinor: BigInt(order.totalMinor),
          currencyCode: order.currencyCode,
        },
        options,
      );
    case "ORDER_CONFIRMED":
      return createEnvelope(
        OrderConfirmedSchema,
        {
          orderId: order.orderId,
          customerId: order.customerId,
          paymentId: order.paymentId ?? "",
          totalMinor: BigInt(order.totalMinor),
          currencyCode: order.currencyCode,
        },
        options,
      );
    case "ORDER_CANCELLED":
      return createEnvelope(
        OrderCancelledSchema,
        {
          orderId: order.orderId,
          customerId: order.customerId,
          reason: order.cancelReason === undefined ? CancelReasonMessage.UNSPECIFIED : reasonMessages[order.cancelReason],
          detail: order.cancelDetail,
        },
        options,
      );
  }
}
