import type { Logger } from "pino";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";

/** The ids every log line of a request carries. */
export interface RequestLogIds {
  readonly request_id: string;
  readonly trace_id?: string;
  readonly span_id?: string;
}

/** A request's access line, written once its response is done; the route is told when known. */
export interface AccessLog {
  setRoute(template: string): void;
}

/**
 * Writes the request's one access line ("http") once the response is done or
 * the client has gone: request and trace ids, method, route template, path as
 * sent, status, duration in ms.
 */
export function startAccessLog(logger: Logger, req: GatewayRequest, res: GatewayResponse, pathname: string, ids: RequestLogIds): AccessLog {
  const start = performance.now();
  const method = req.method ?? "GET";
  let route: string | undefined;
  res.once("close", () => {
    logger.info(
      { ...ids, method, route, path: pathname, status: res.statusCode, duration_ms: Math.round((performance.now() - start) * 1000) / 1000 },
      "http",
    );
  });
  return {
    setRoute(template) {
      route = template;
    },
  };
}
