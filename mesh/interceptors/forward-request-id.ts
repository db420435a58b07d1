import type { Interceptor } from "@connectrpc/connect";
import { currentInboundCall } from "../context/inbound-call.js";

/**
 * Request headers that steer routing between versions (mesh/routing): a
 * request the gateway let in with `x-canary: 1` reaches the canary of every
 * service it passes through, not only the first.
 */
export const routingHeaders: readonly string[] = ["x-canary"];

/**
 * A client interceptor that sends the request id of the inbound call being
 * served (its x-request-id, the gateway's) on every outbound call made while
 * serving it, unless the caller set one: the services a request reaches
 * through others log it too. The routing headers go on the same way.
 * Outside an inbound-call scope there is none to forward.
 */
export function forwardRequestId(): Interceptor {
  return (next) => (req) => {
    const inbound = currentInboundCall();
    if (inbound === undefined) {
      return next(req);
    }
    if (!req.header.has("x-request-id")) {
      const requestId = inbound.requestId;
      if (requestId !== undefined) {
        req.header.set("x-request-id", requestId);
      }
    }
    for (const name of routingHeaders) {
      const value = inbound.header(name);
      if (value !== undefined && !req.header.has(name)) {
        req.header.set(name, value);
      }
    }
    return next(req);
  };
}
