import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { callingCustomerId } from "../../mesh/index.js";
import {
  CancelReason as CancelReasonMessage,
  OrderSchema,
  type OrderService,
  OrderState as OrderStateMessage,
  type Order as OrderMessage,
} from "../../gen/meshwork/orders/v1/orders_pb.js";
import type { OrderDomain } from "./domain.js";
import type { CancelReason, Order, OrderState } from "./order.js";


/**
 * OrderService over the orders domain: proto in, domain call, proto out.
 * Request fields are already validated by the mesh (protovalidate); the
 * customer comes from the x-customer-id header the gateway sets from a
 * verified token.
 */
export function createOrderHandler(domain: OrderDomain): ServiceImpl<typeof OrderService> {
  return {
    async placeOrder(request, context) {
      const input = {
        requestId: request.requestId,
        lines: request.lines.map(({ sku, quantity }) => ({ sku, quantity })),
        cardToken: request.cardToken,
      };
      const order = await domain.placeOrder(callingCustomerId(context.requestHeader), input, context.signal);
      return { order: toMessage(order) };
    },
    async getOrder(request, context) {
      return { order: toMessage(await domain.getOrder(callingCustomerId(context.requestHeader), request.orderId)) };
    },
    async listOrders(request, context) {
      const page = await domain.listOrders(callingCustomerId(context.requestHeader), request.pageSize, request.pageToken);
      return { orders: page.orders.map(toMessage), nextPageToken: page.nextPageToken };
    },
    async cancelOrder(request, context) {
      return { order: toMessage(await domain.cancelOrder(callingCustomerId(context.requestHeader), request.orderId)) };
    },
  };
}

const stateMessages: Record<OrderState, OrderStateMessage> = {
  PENDING: OrderStateMessage.PENDING,
  CONFIRMED: OrderStateMessage.CONFIRMED,
  CANCELLED: OrderStateMessage.CANCELLED,
};

/** Shared with the events the orders service publishes. */
export const reasonMessages: Record<CancelReason, CancelReasonMessage> = {
  OUT_OF_STOCK: CancelReasonMessage.OUT_OF_STOCK,
  PAYMENT_DECLINED: CancelReasonMessage.PAYMENT_DECLINED,
  PAYMENT_FAILED: CancelReasonMessage.PAYMENT_FAILED,
  CUSTOMER_REQUESTED: CancelReasonMessage.CUSTOMER_REQUESTED,
  RESERVATION_EXPIRED: CancelReasonMessage.RESERVATION_EXPIRED,
  INTERNAL: CancelReasonMessage.INTERNAL,
};

function toMessage(order: Order): OrderMessage {
  return create(OrderSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    lines: order.lines.map((line) => ({
      sku: line.sku,
      quantity: line.quantity,
      unitPriceMinor: BigInt(line.unitPriceMinor),
    })),
    totalMinor: BigInt(order.totalMinor),
    currencyCode: order.currencyCode,
    state: stateMessages[order.state],
    cancelReason: order.cancelReason === undefined ? CancelReasonMessage.UNSPECIFIED : reasonMessages[order.cancelReason],
    cancelDetail: order.cancelDetail,
    paymentId: order.paymentId ?? "",
    cancelRequested: order.cancelRequested,
    createdAt: timestampFromMs(order.createdAt.getTime()),
    updatedAt: timestampFromMs(order.updatedAt.getTime()),
  });
}
