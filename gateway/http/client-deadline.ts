import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import type { IncomingHttpHeaders } from "node:http";

/**
 * The upstream timeout of a request: the client's own deadline, from
 * grpc-timeout ("250m") or x-request-timeout-ms ("250"), capped by the
 * gateway's maximum; the maximum when the client sets none. A malformed
 * value is the client's mistake: InvalidArgument.
 */
export function clientTimeoutMs(headers: IncomingHttpHeaders, maxMs: number): number {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const parsed = parseTimeout(grpc, Number.MAX_SAFE_INTEGER);
    if (parsed.error !== undefined || parsed.timeoutMs === undefined) {
      throw new ConnectError(`invalid grpc-timeout "${grpc.slice(0, 32)}"`, Code.InvalidArgument);
    }
    return Math.min(Math.max(parsed.timeoutMs, 1), maxMs);
  }
  const plain = headers["x-request-timeout-ms"];
  if (typeof plain === "string") {
    if (!/^\d{1,10}$/.test(plain) || Number(plain) === 0) {
      throw new ConnectError(`invalid x-request-timeout-ms "${plain.slice(0, 32)}": a positive whole number of milliseconds`, Code.InvalidArgument);
    }
    return Math.min(Number(plain), maxMs);
  }
  return maxMs;
}
