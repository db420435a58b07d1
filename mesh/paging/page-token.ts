import { Code, failure } from "../errors.js";

/** The position of the last row of a page: a few numbers and strings, e.g. [createdAtMs, orderId]. */
export type PagePosition = readonly (number | string)[];

/**
 * A page token: opaque to clients, the base64url of the JSON array of the
 * last returned row's position. A token only moves a cursor within what the
 * caller may already list, so it needs no signature; decoding is strict so a
 * tampered or truncated token is refused rather than silently restarting the
 * listing elsewhere.
 */
export function encodePageToken(position: PagePosition): string {
  return Buffer.from(JSON.stringify(position)).toString("base64url");
}

/**
 * The cursor a token names: `read` turns the decoded array into the caller's
 * cursor, or undefined when it is not one. InvalidArgument (reason
 * INVALID_PAGE_TOKEN) for anything that is not a token `encodePageToken` made
 * from such a position.
 */
export function decodePageToken<Cursor>(token: string, read: (position: readonly unknown[]) => Cursor | undefined): Cursor {
  const position = parse(Buffer.from(token, "base64url").toString("utf8"));
  const cursor = Array.isArray(position) ? read(position) : undefined;
  if (cursor === undefined) {
    throw failure(Code.InvalidArgument, "INVALID_PAGE_TOKEN", "invalid page token");
  }
  return cursor;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
