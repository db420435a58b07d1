import type { Duplex } from "node:stream";
import { headersTooLargeStatus } from "../http/http-status.js";

/**
 * Answers an HTTP/1.1 request Node could not parse (the server's
 * "clientError"): 431 for a header block over the limit, 400 otherwise, with
 * the gateway's JSON error body, then closes the connection. Node's own
 * answer would be an empty 400.
 */
export function answerHttp1ClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const status = err.code === "HPE_HEADER_OVERFLOW" ? headersTooLargeStatus : 400;
  const message = status === headersTooLargeStatus ? "request headers too large" : "malformed HTTP request";
  const body = JSON.stringify({ code: status === 400 ? "invalid_argument" : "resource_exhausted", message, details: [] });
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${status === 400 ? "Bad Request" : "Request Header Fields Too Large"}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
  }
}
