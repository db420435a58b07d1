import { errorResponse, type ErrorResponse } from "../http/error-response.js";
import type { GatewayResponse } from "./gateway-request.js";
import { sendResponse } from "./send-response.js";

/**
 * Answers a request with the gateway's one error shape (JSON
 * `{code, message, details}`, status from the code table, the error's own
 * headers such as Allow or Retry-After), unless a response has already
 * started. Returns what was (or would have been) sent, for the caller's logs.
 */
export function writeError(res: GatewayResponse, err: unknown): ErrorResponse {
  const failure = errorResponse(err);
  for (const [name, value] of Object.entries(failure.headers)) {
    res.setHeader(name, value);
  }
  if (!res.headersSent && !res.writableEnded) {
    sendResponse(res, failure.status, "application/json", failure.body);
  }
  return failure;
}

/** The answer of the last line of defence: a bug in the gateway ends one response, never the process. */
export function writeInternalError(res: GatewayResponse): void {
  if (!res.headersSent) {
    sendResponse(res, 500, "application/json", JSON.stringify({ code: "internal", message: "internal error", details: [] }));
  } else {
    res.destroy();
  }
}
