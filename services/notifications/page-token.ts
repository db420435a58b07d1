import { decodePageToken, encodePageToken } from "../../mesh/index.js";
import type { NotificationCursor } from "./notification-store.js";

/** ListNotifications page tokens: the last returned notification's position, [sequence] (mesh's page-token codec). */
export function encodeNotificationPageToken(cursor: NotificationCursor): string {
  return encodePageToken([cursor.sequence]);
}

/** The cursor in `token`; InvalidArgument (INVALID_PAGE_TOKEN) when it is not a token this service issued. */
export function decodeNotificationPageToken(token: string): NotificationCursor {
  return decodePageToken(token, (position) => {
    const [sequence] = position;
    return position.length === 1 && Number.isSafeInteger(sequence) && (sequence as number) >= 1 ? { sequence: sequence as number } : undefined;
  });
}
