import { Code, failure } from "../../mesh/errors.js";

/**
 * ListItems page tokens are the base64url of the last SKU of the previous
 * page. Callers must treat them as opaque; decoding is strict so that a
 * tampered or truncated token is refused instead of silently restarting the
 * listing somewhere else.
 */
const skuPattern = /^[A-Z0-9][A-Z0-9-]*$/;

export function encodePageToken(lastSku: string): string {
  return Buffer.from(lastSku, "utf8").toString("base64url");
}

/** The SKU a token names; InvalidArgument (INVALID_PAGE_TOKEN) for anything `encodePageToken` did not make. */
export function decodePageToken(token: string): string {
  const sku = Buffer.from(token, "base64url").toString("utf8");
  if (!skuPattern.test(sku) || encodePageToken(sku) !== token) {
    throw failure(Code.InvalidArgument, "INVALID_PAGE_TOKEN", "invalid page token");
  }
  return sku;
}
