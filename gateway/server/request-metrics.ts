import { Code } from "@connectrpc/connect";
import type { GatewayMetrics, GatewayProtocol, GatewayRequestObservation } from "../metrics/gateway-metrics.js";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";

/**
 * Starts a request's metrics: in flight from now, recorded once the response
 * is done, or when the client has gone first (499, canceled). A passthrough
 * call's route is its RPC path when that names a served method
 * (`passthroughMethods`); otherwise its code is Unimplemented. Called once per
 * request, where it is known to be API traffic.
 */
export function observeRequest(
  metrics: GatewayMetrics | undefined,
  req: GatewayRequest,
  res: GatewayResponse,
  pathname: string,
  passthroughMethods: ReadonlySet<string> | undefined,
): GatewayRequestObservation {
  const protocol = passthroughMethods !== undefined ? passthroughProtocol(req.headers["content-type"]) : "rest";
  const observed = metrics?.request(protocol, req.method ?? "GET") ?? unobserved();
  if (passthroughMethods !== undefined) {
    if (passthroughMethods.has(pathname)) {
      observed.route = pathname;
    } else {
      observed.code = Code.Unimplemented;
    }
  }
  res.once("close", () => {
    if (res.writableEnded) {
      observed.end(res.statusCode);
    } else {
      observed.code ??= Code.Canceled;
      observed.end(499);
    }
  });
  return observed;
}

function passthroughProtocol(contentType: string | undefined): GatewayProtocol {
  const type = contentType ?? "";
  return type.startsWith("application/grpc-web") ? "grpc-web" : type.startsWith("application/grpc") ? "grpc" : "connect";
}

/** The observation of a gateway without metrics. */
function unobserved(): GatewayRequestObservation {
  return { route: "unmatched", code: undefined, end: () => undefined };
}
