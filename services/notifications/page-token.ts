import { Code, failure } from "../../mesh/errors.js";
import type { NotificationCursor } from "./notification-store.js";

/**
 * ListNotifications page tokens: opaque to clients, base64url of the last
 * returned notification's position. A token only moves a cursor within the
 * caller's own notifications about one order, so it needs no signature.
 */
export function encodePageToken(cursor: NotificationCursor): string {
  return Buffer.from(JSON.stringify([cursor.sequence])).toString("base64url");
}

/** The cursor in `token`; InvalidArgument when it is not a token this service issued. */
export function decodePageToken(token: string): NotificationCursor {
  const position = parse(Buffer.from(token, "base64url").toString("utf8"));
  if (!Array.isArray(position) || position.length !== 1 || !Number.isSafeInteger(position[0]) || (position[0] as number) < 1) {
    throw failure(Code.InvalidArgument, "INVALID_PAGE_TOKEN", "invalid page token");
  }
  return { sequence: position[0] as number };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
