import type { Tracer } from "@opentelemetry/api";
import { startHttpServerSpan, type HttpServerSpan } from "../../mesh/telemetry/index.js";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";

/**
 * Starts the request's SERVER span, continuing the client's traceparent (or
 * starting a trace), and ends it with the response's status once the
 * response is done or the client has gone. Undefined without a tracer.
 */
export function startRequestSpan(
  tracer: Tracer | undefined,
  req: GatewayRequest,
  res: GatewayResponse,
  pathname: string,
): HttpServerSpan | undefined {
  if (tracer === undefined) {
    return undefined;
  }
  const span = startHttpServerSpan(tracer, { method: req.method ?? "GET", path: pathname, headers: req.headers, httpVersion: req.httpVersion });
  res.once("close", () => span.end(res.statusCode));
  return span;
}
