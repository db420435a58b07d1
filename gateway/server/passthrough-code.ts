import { createContextKey, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { GatewayRequestObservation } from "../metrics/gateway-metrics.js";

/** Where a passthrough call's observation is, for the interceptor that tells it the call's code. */
export const observationKey = createContextKey<GatewayRequestObservation | undefined>(undefined, { description: "gateway request metrics" });

/**
 * Tells a passthrough call's observation the code it failed with: gRPC and
 * gRPC-Web answer HTTP 200 whatever the outcome.
 */
export const recordPassthroughCode: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    const observed = req.contextValues.get(observationKey);
    if (observed !== undefined) {
      observed.code = ConnectError.from(err).code;
    }
    throw err;
  }
};
