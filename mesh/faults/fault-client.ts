import { Code, type Interceptor } from "@connectrpc/connect";
import { headerTimeout, parseTimeout } from "@connectrpc/connect/protocol-grpc";
import type { ResilienceEvents } from "../resilience/resilience-events.js";
import type { FaultInjector } from "./fault-injector.js";
import { runFaultPlan } from "./run-fault-plan.js";

export interface FaultClientOptions {
  /** The target's name, which rules match `upstream_cluster` against. */
  readonly target: string;
  /** The factory's events: an injected fault is a "faultInjected" event there, which tracing puts on the call's span. */
  readonly events?: ResilienceEvents;
}

/**
 * Injects the outbound faults of `injector` into the calls a client makes to
 * one target. ClientFactory places it inside the deadline (a delay never
 * outlives the call's deadline, read from the chain's grpc-timeout header)
 * and outside the circuit breaker and retries, where Envoy's fault filter
 * sits relative to its router: the caller sees the fault, its breaker and
 * retries do not. Streaming calls pass untouched. With no rules in force it
 * costs one check per call.
 */
export function faultClient(injector: FaultInjector, options: FaultClientOptions): Interceptor {
  const { target, events } = options;
  return (next) => (req) => {
    if (!injector.active || req.stream) {
      return next(req);
    }
    const service = req.service.typeName;
    const method = req.method.name;
    const plan = injector.plan({ direction: "outbound", service, method, target });
    if (plan === undefined) {
      return next(req);
    }
    const base = { direction: "outbound", target, service, method } as const;
    const fullMethod = `${service}/${method}`;
    return runFaultPlan(plan, {
      signal: req.signal,
      remainingMs: remainingMsOf(req.header),
      onDelay: (delayMs) => {
        events?.emit("faultInjected", { target, method: fullMethod, fault: "delay", delayMs });
        injector.report({ ...base, fault: "delay", delayMs });
      },
      onAbort: (code) => {
        events?.emit("faultInjected", { target, method: fullMethod, fault: "abort", code: Code[code] });
        injector.report({ ...base, fault: "abort", code });
      },
    }).then(() => next(req));
  };
}

/** The time left from the chain's grpc-timeout header (ClientFactory carries every call's timeout there). */
function remainingMsOf(header: Headers): number | undefined {
  const value = header.get(headerTimeout);
  if (value === null) {
    return undefined;
  }
  const parsed = parseTimeout(value, Number.MAX_SAFE_INTEGER);
  return parsed.error === undefined ? parsed.timeoutMs : undefined;
}
