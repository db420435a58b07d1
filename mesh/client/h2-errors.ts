import { Code, ConnectError } from "@connectrpc/connect";
import http2 from "node:http2";
import { connectFailedCode, connectTimeoutCode, pingTimeoutCode } from "./h2-session-pool.js";

/**
 * connect-node's mapping of Node errors (connectErrorFromNodeReason), the
 * Node error kept as `cause`; a refused stream is Unavailable here (see
 * createH2GrpcTransport).
 */
export function errorFromNodeReason(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) {
    return reason;
  }
  // A stream opened while the session was connecting is cancelled with the
  // session's error as cause; connect-node, which waits for the connection
  // before opening a stream, reports that error itself.
  if ((reason as NodeJS.ErrnoException | undefined)?.code === "ERR_HTTP2_STREAM_CANCEL" && (reason as Error).cause instanceof Error) {
    reason = (reason as Error).cause;
  }
  let code = Code.Internal;
  const seen = new Set<unknown>();
  for (let e: unknown = reason; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const nodeCode = (e as NodeJS.ErrnoException).code;
    if (nodeCode === "ERR_STREAM_WRITE_AFTER_END" || nodeCode === "ERR_STREAM_DESTROYED" || nodeCode === "ERR_HTTP2_INVALID_STREAM" || nodeCode === "ECONNRESET") {
      code = Code.Aborted;
      break;
    }
    if (
      nodeCode === "ETIMEDOUT" ||
      nodeCode === "ENOTFOUND" ||
      nodeCode === "EAI_AGAIN" ||
      nodeCode === "ECONNREFUSED" ||
      nodeCode === connectTimeoutCode ||
      nodeCode === pingTimeoutCode ||
      nodeCode === "EHOSTUNREACH"
    ) {
      code = Code.Unavailable;
      break;
    }
    if (
      nodeCode === "ERR_HTTP2_GOAWAY_SESSION" ||
      nodeCode === "ERR_HTTP2_INVALID_SESSION" ||
      (nodeCode === "ERR_HTTP2_STREAM_ERROR" && e.message.includes("NGHTTP2_REFUSED_STREAM"))
    ) {
      code = Code.Unavailable;
      break;
    }
  }
  const error = ConnectError.from(reason, code);
  if (error !== reason) {
    error.cause = reason;
  }
  return error;
}

/** connect-node's connectErrorFromH2ResetCode. */
export function errorFromResetCode(rstCode: number): ConnectError | undefined {
  const c = http2.constants;
  let code: Code;
  switch (rstCode) {
    case c.NGHTTP2_PROTOCOL_ERROR:
    case c.NGHTTP2_INTERNAL_ERROR:
    case c.NGHTTP2_FLOW_CONTROL_ERROR:
    case c.NGHTTP2_SETTINGS_TIMEOUT:
    case c.NGHTTP2_FRAME_SIZE_ERROR:
    case c.NGHTTP2_COMPRESSION_ERROR:
    case c.NGHTTP2_CONNECT_ERROR:
      code = Code.Internal;
      break;
    case c.NGHTTP2_REFUSED_STREAM:
      code = Code.Unavailable;
      break;
    case c.NGHTTP2_CANCEL:
      code = Code.Canceled;
      break;
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      code = Code.ResourceExhausted;
      break;
    case c.NGHTTP2_INADEQUATE_SECURITY:
    case c.NGHTTP2_HTTP_1_1_REQUIRED:
      code = Code.PermissionDenied;
      break;
    default:
      return undefined;
  }
  return new ConnectError(`http/2 stream closed with error code ${h2CodeNames[rstCode] ?? rstCode} (0x${rstCode.toString(16)})`, code);
}

const h2CodeNames: Record<number, string> = {
  1: "PROTOCOL_ERROR",
  2: "INTERNAL_ERROR",
  3: "FLOW_CONTROL_ERROR",
  4: "SETTINGS_TIMEOUT",
  5: "STREAM_CLOSED",
  6: "FRAME_SIZE_ERROR",
  7: "REFUSED_STREAM",
  8: "CANCEL",
  9: "COMPRESSION_ERROR",
  10: "CONNECT_ERROR",
  11: "ENHANCE_YOUR_CALM",
  12: "INADEQUATE_SECURITY",
  13: "HTTP_1_1_REQUIRED",
};

/** A failure that means the session should not take new calls. */
export function wasRefused(error: ConnectError): boolean {
  if (error.code !== Code.Unavailable) {
    return false;
  }
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  return (
    cause?.code === "ECONNREFUSED" ||
    cause?.code === connectTimeoutCode ||
    cause?.code === connectFailedCode ||
    cause?.code === "ERR_HTTP2_GOAWAY_SESSION" ||
    cause?.code === "ERR_HTTP2_STREAM_ERROR"
  );
}
