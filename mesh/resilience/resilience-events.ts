import { EventEmitter } from "node:events";
import type { Code } from "@connectrpc/connect";
import type { RouteReason } from "../routing/choose-version.js";

/**
 * What the resilience layer reports, for metrics and tracing to subscribe to
 * (the observability work hooks here; nothing in the call path depends on a
 * listener). `target` is the logical target name (e.g. "payments"), `method`
 * the RPC's full name ("meshwork.payments.v1.PaymentService/AuthorizePayment").
 */
export interface ResilienceEventMap {
  breakerStateChange: [{ target: string; method: string; from: BreakerState; to: BreakerState }];
  breakerRejected: [{ target: string; method: string }];
  retry: [{ target: string; method: string; attempt: number; delayMs: number; code: string }];
  retryBudgetExhausted: [{ target: string; method: string }];
  bulkheadRejected: [{ target: string; inFlight: number; limit: number }];
  endpointEjected: [{ target: string; endpoint: string; ejectionMs: number; consecutiveFailures: number }];
  endpointRestored: [{ target: string; endpoint: string }];
  /** A fault injected into an outbound call by the process's fault rules (mesh/faults), not a failure of the target. */
  faultInjected: [{ target: string; method: string; fault: "delay" | "abort"; delayMs?: number; code?: string }];
  /** A call (each attempt) to a target with versions went to `version` (mesh/routing). */
  routed: [{ target: string; method: string; version: string; reason: RouteReason }];
  /** An attempt routed to `version` ended: `code` undefined on success. */
  routedCallEnded: [{ target: string; method: string; version: string; code: Code | undefined; seconds: number }];
  /** A copy of a read-only call went to `version` (mirroring). */
  mirrored: [{ target: string; method: string; version: string }];
}

export type BreakerState = "closed" | "open" | "half-open";

/** A typed emitter of resilience events; one per client factory. */
export class ResilienceEvents extends EventEmitter<ResilienceEventMap> {}
