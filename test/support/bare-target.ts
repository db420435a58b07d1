import type { ClientTarget, TransportKind } from "../../mesh/index.js";

/**
 * A target with the factory's own breaker, retry and bulkhead turned off, for
 * tests of one interceptor passed in `ClientFactoryOptions.interceptors`.
 */
export function bareTarget(endpoints: string, transport: TransportKind = "grpc"): ClientTarget {
  return { endpoints, transport, breaker: false, retry: false, bulkhead: false };
}
