import { decodePageToken, encodePageToken } from "../../mesh/index.js";
import type { OrderCursor } from "./order-store.js";

/** ListOrders page tokens: the last returned order's position, [createdAt ms, orderId] (mesh's page-token codec). */
export function encodeOrderPageToken(cursor: OrderCursor): string {
  return encodePageToken([cursor.createdAt.getTime(), cursor.orderId]);
}

/** The cursor in `token`; InvalidArgument (INVALID_PAGE_TOKEN) when it is not a token this service issued. */
export function decodeOrderPageToken(token: string): OrderCursor {
  return decodePageToken(token, (position) => {
    const [ms, orderId] = position;
    return position.length === 2 && Number.isSafeInteger(ms) && typeof orderId === "string" && orderId !== ""
      ? { createdAt: new Date(ms as number), orderId }
      : undefined;
  });
}
