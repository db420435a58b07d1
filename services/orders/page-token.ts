import { Code, failure } from "../../mesh/errors.js";
import type { OrderCursor } from "./order-store.js";

/**
 * ListOrders page tokens: opaque to clients, base64url of the last returned
 * order's position. A token only moves a cursor within the caller's own
 * orders, so it needs no signature.
 */
export function encodePageToken(cursor: OrderCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.getTime(), cursor.orderId])).toString("base64url");
}

/** The cursor in `token`; InvalidArgument when it is not a token this service issued. */
export function decodePageToken(token: string): OrderCursor {
  const position = parse(Buffer.from(token, "base64url").toString("utf8"));
  if (
    !Array.isArray(position) ||
    position.length !== 2 ||
    !Number.isSafeInteger(position[0]) ||
    typeof position[1] !== "string" ||
    position[1] === ""
  ) {
    throw failure(Code.InvalidArgument, "INVALID_PAGE_TOKEN", "invalid page token");
  }
  return { createdAt: new Date(position[0] as number), orderId: position[1] };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
