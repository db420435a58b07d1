import type { HandlerContext } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { callerOf as meshCallerOf } from "../context/caller.js";
import { peerKey } from "../context/inbound-call.js";
import { requestHeaderValue } from "../context/raw-header.js";
import type { ServerInterceptor } from "../server/unary-call.js";
import { serverSpanOf } from "../telemetry/trace-server.js";
import type { FaultInjector } from "./fault-injector.js";
import { runFaultPlan } from "./run-fault-plan.js";

export interface FaultServerOptions {
  /**
   * The caller's identity, which rules match `downstream_nodes` against.
   * Default: the caller's mesh identity (spiffe://...) when its connection's
   * mTLS handshake proved one, else its address as the socket reports it (an
   * IPv4-mapped IPv6 address as plain IPv4, "127.0.0.1"), as
   * proto/meshwork/faults/v1/faults.proto says.
   */
  readonly callerOf?: (context: HandlerContext) => string | undefined;
}

/**
 * Injects the inbound faults of `injector` into the calls a server answers,
 * before the handler runs (the caller's deadline, retries and breakers see
 * them as they would a real failure). Place it in `serve`'s interceptors
 * inside tracing and metrics, so that an injected fault is counted as the
 * call's outcome there too; the call's span is marked (attribute
 * meshwork.fault.injected, event "fault_injected") and every fault is
 * reported on the injector for the fault counter. With no rules in force it
 * costs one check per call.
 */
export function faultServer(injector: FaultInjector, options: FaultServerOptions = {}): ServerInterceptor {
  const callerOf = options.callerOf ?? meshIdentityOrAddress;
  return (next) => (request, context) => {
    if (!injector.active) {
      return next(request, context);
    }
    const service = context.service.typeName;
    const method = context.method.name;
    const plan = injector.plan({
      direction: "inbound",
      service,
      method,
      caller: callerOf(context),
      header: (name) => requestHeaderValue(context, name),
    });
    if (plan === undefined) {
      return next(request, context);
    }
    const span = serverSpanOf(context);
    const base = { direction: "inbound", target: "", service, method } as const;
    return runFaultPlan(plan, {
      signal: context.signal,
      remainingMs: context.timeoutMs(),
      onDelay: (delayMs) => {
        span?.setAttribute("meshwork.fault.injected", true);
        span?.addEvent("fault_injected", { "meshwork.fault.kind": "delay", "meshwork.fault.delay_ms": delayMs });
        injector.report({ ...base, fault: "delay", delayMs });
      },
      onAbort: (code) => {
        span?.setAttribute("meshwork.fault.injected", true);
        span?.addEvent("fault_injected", { "meshwork.fault.kind": "abort", "meshwork.fault.code": Code[code] });
        injector.report({ ...base, fault: "abort", code });
      },
    }).then(() => next(request, context));
  };
}

function meshIdentityOrAddress(context: HandlerContext): string | undefined {
  const peer = meshCallerOf(context);
  return peer.verified ? peer.id.uri : peerAddress(context);
}

function peerAddress(context: HandlerContext): string | undefined {
  const peer = context.values.get(peerKey);
  return peer?.startsWith("::ffff:") === true ? peer.slice(7) : peer;
}
