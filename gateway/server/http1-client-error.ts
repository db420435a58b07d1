import type { Duplex } from "node:stream";
import { headersTooLargeStatus, requestTimeoutStatus } from "../http/http-status.js";

/**
 * Answers an HTTP/1.1 request Node could not take (the server's
 * "clientError"): 431 for a header block over the limit, 408 for a request
 * not received within the headers or request timeout, 400 otherwise, with the
 * gateway's JSON error body, then closes the connection. Node's own answer
 * would be an empty 400 or 408.
 */
export function answerHttp1ClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const { status, reason, code, message } =
    err.code === "HPE_HEADER_OVERFLOW"
      ? { status: headersTooLargeStatus, reason: "Request Header Fields Too Large", code: "resource_exhausted", message: "request headers too large" }
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? { status: requestTimeoutStatus, reason: "Request Timeout", code: "deadline_exceeded", message: "the request was not received in time" }
        : { status: 400, reason: "Bad Request", code: "invalid_argument", message: "malformed HTTP request" };
  const body = JSON.stringify({ code, message, details: [] });
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
  }
}
