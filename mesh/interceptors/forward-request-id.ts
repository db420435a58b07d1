import type { Interceptor } from "@connectrpc/connect";
import { currentInboundCall } from "../context/inbound-call.js";

/**
 * A client interceptor that sends the request id of the inbound call being
 * served (its x-request-id, the gateway's) on every outbound call made while
 * serving it, unless the caller set one: the services a request reaches
 * through others log it too. Outside an inbound-call scope there is none to
 * forward.
 */
export function forwardRequestId(): Interceptor {
  return (next) => (req) => {
    if (!req.header.has("x-request-id")) {
      const requestId = currentInboundCall()?.requestId;
      if (requestId !== undefined) {
        req.header.set("x-request-id", requestId);
      }
    }
    return next(req);
  };
}
