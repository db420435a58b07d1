import { Code } from "@connectrpc/connect";

/**
 * The one code -> HTTP status table of the gateway. Every failure the gateway
 * answers — routing, parsing, auth, limits, upstream — goes through it.
 *
 * Deliberate choices:
 * - FailedPrecondition -> 400, as grpc-gateway does, not 412 as Connect does:
 *   412 is about HTTP conditional headers (If-Match, If-Unmodified-Since),
 *   which this API does not use; a declined card or an order that cannot be
 *   cancelled is a request the client must change, and the ErrorInfo reason
 *   in the details says which rule it broke.
 * - Canceled -> 499 (client closed request), as grpc-gateway and nginx do.
 * - Unimplemented -> 501 for an RPC; the gateway's own "wrong HTTP method for
 *   this path" is the one place it sends Unimplemented with 405 instead (see
 *   `methodNotAllowedStatus`), and "body too large" sends ResourceExhausted
 *   with 413: both statuses say more than the code can.
 */
const table: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

export function httpStatusFor(code: Code): number {
  return table[code] ?? 500;
}

/** The status of a request whose path exists but not with this HTTP method. */
export const methodNotAllowedStatus = 405;
/** The status of a request whose body is larger than the gateway accepts. */
export const payloadTooLargeStatus = 413;
/** The status of a request whose headers are larger than the gateway accepts. */
export const headersTooLargeStatus = 431;
/** The status of a request whose headers or body did not arrive within the connection's timeouts. */
export const requestTimeoutStatus = 408;
