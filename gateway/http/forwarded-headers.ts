import type { IncomingHttpHeaders } from "node:http";
import { customerIdHeader, routingHeaders } from "../../mesh/index.js";

/**
 * Request headers the gateway forwards to services as metadata. Everything
 * else stays at the edge — in particular x-customer-id, which only the
 * gateway sets, from a verified token. x-canary steers routing between
 * versions (mesh/routing), here and in every service the request reaches.
 */
export const defaultForwardedHeaders = ["traceparent", "tracestate", "accept-language", "user-agent", ...routingHeaders] as const;

export function forwardedHeaders(
  headers: IncomingHttpHeaders,
  allowlist: readonly string[],
  requestId: string,
  customerId: string | undefined,
): Headers {
  const out = new Headers();
  for (const name of allowlist) {
    const value = headers[name];
    if (typeof value === "string") {
      out.set(name, value);
    }
  }
  out.set("x-request-id", requestId);
  if (customerId !== undefined) {
    out.set(customerIdHeader, customerId);
  }
  return out;
}
