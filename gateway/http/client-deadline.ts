import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import type { IncomingHttpHeaders } from "node:http";

/** The bounds the gateway puts on a client's own deadline. */
export interface ClientDeadlineLimits {
  /** The longest upstream deadline; also the deadline when the client sets none. */
  readonly maxMs: number;
  /**
   * The shortest deadline a client may set: a shorter one is refused
   * (InvalidArgument) before any work. A deadline no upstream can meet only
   * manufactures DeadlineExceeded failures, which cost the mesh work and
   * tell nobody anything.
   */
  readonly floorMs: number;
}

/**
 * The upstream timeout of a request: the client's own deadline, from
 * grpc-timeout ("250m"), connect-timeout-ms ("250") or x-request-timeout-ms
 * ("250"), capped by the gateway's maximum; the maximum when the client sets
 * none. A malformed value, or one below the floor, is the client's mistake:
 * InvalidArgument (400).
 */
export function clientTimeoutMs(headers: IncomingHttpHeaders, limits: ClientDeadlineLimits): number {
  const own = ownDeadline(headers);
  if (own === undefined) {
    return limits.maxMs;
  }
  if (own.ms < limits.floorMs) {
    throw new ConnectError(
      `${own.header} asks for ${own.ms} ms, below the gateway's floor of ${limits.floorMs} ms`,
      Code.InvalidArgument,
    );
  }
  return Math.min(own.ms, limits.maxMs);
}

function ownDeadline(headers: IncomingHttpHeaders): { header: string; ms: number } | undefined {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const parsed = parseTimeout(grpc, Number.MAX_SAFE_INTEGER);
    if (parsed.error !== undefined || parsed.timeoutMs === undefined) {
      throw new ConnectError(`invalid grpc-timeout "${grpc.slice(0, 32)}"`, Code.InvalidArgument);
    }
    return { header: "grpc-timeout", ms: parsed.timeoutMs };
  }
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string") {
    const parsed = parseConnectTimeout(connect, Number.MAX_SAFE_INTEGER);
    if (parsed.error !== undefined || parsed.timeoutMs === undefined) {
      throw new ConnectError(`invalid connect-timeout-ms "${connect.slice(0, 32)}"`, Code.InvalidArgument);
    }
    return { header: "connect-timeout-ms", ms: parsed.timeoutMs };
  }
  const plain = headers["x-request-timeout-ms"];
  if (typeof plain === "string") {
    if (!/^\d{1,10}$/.test(plain) || Number(plain) === 0) {
      throw new ConnectError(`invalid x-request-timeout-ms "${plain.slice(0, 32)}": a positive whole number of milliseconds`, Code.InvalidArgument);
    }
    return { header: "x-request-timeout-ms", ms: Number(plain) };
  }
  return undefined;
}
