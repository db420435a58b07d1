import { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { isGatewayError } from "../http/gateway-error.js";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";

/**
 * Answers a passthrough request the edge refuses before connect-node sees it
 * (rate limit, token, declared size), in the request's own protocol: gRPC and
 * gRPC-Web as a trailers-only response (HTTP 200, grpc-status and
 * grpc-message in the headers), Connect as its JSON error with its HTTP
 * status. The error's own headers (Retry-After, RateLimit-*) go with it.
 * An HTTP/1.1 request whose body was not read is answered with
 * `connection: close`, so its unread body is never drained.
 */
export function writePassthroughError(req: GatewayRequest, res: GatewayResponse, err: unknown): ConnectError {
  const error = ConnectError.from(err);
  if (res.headersSent) {
    res.destroy();
    return error;
  }
  const headers: Record<string, string | number> = { ...(isGatewayError(error) ? error.responseHeaders : {}) };
  if (req.httpVersionMajor === 1 && (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined)) {
    headers["connection"] = "close";
  }
  const contentType = String(req.headers["content-type"] ?? "");
  if (/^application\/grpc(-web)?([+;]|$)/.test(contentType)) {
    const trailer = new Headers();
    setTrailerStatus(trailer, error);
    trailer.forEach((value, name) => {
      headers[name] = value;
    });
    res.writeHead(200, { ...headers, "content-type": contentType.split(";")[0]!, "content-length": 0 });
    res.end();
    return error;
  }
  const body = JSON.stringify(errorToJson(error, undefined));
  res.writeHead(codeToHttpStatus(error.code), { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
  return error;
}
