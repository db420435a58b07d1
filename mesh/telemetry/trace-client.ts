import {
  ConnectError,
  createContextKey,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { ROOT_CONTEXT, SpanKind, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { currentInboundCall, type InboundCall } from "../context/inbound-call.js";
import { responseHeaderValue } from "../context/raw-header.js";
import type { ResilienceEvents } from "../resilience/resilience-events.js";
import { activeContext } from "./active-context.js";
import { headersSetter, propagator } from "./propagation.js";
import { endRpcSpan, rpcSpan } from "./rpc-attributes.js";
import { routeChoiceKey } from "../routing/versioned-transport.js";

/**
 * The trace context an outbound call's span is a child of, when the caller
 * passes it explicitly in the call's context values (the gateway, which has
 * no inbound-call scope). Inside a `serve` handler the inbound call's context
 * is found without it.
 */
export const traceContextKey = createContextKey<Context | undefined>(undefined, {
  description: "OpenTelemetry context",
});

/** Context values that make `ctx` the parent of the call's CLIENT span. */
export function traceContextValues(ctx: Context, values: ContextValues = createContextValues()): ContextValues {
  return values.set(traceContextKey, ctx);
}

/** A call in flight, which resilience events of its target are added to. */
interface InFlight {
  readonly span: Span;
  readonly method: string;
  readonly inbound: InboundCall | undefined;
}

/**
 * A client interceptor that gives every outbound call a CLIENT span and puts
 * its traceparent/tracestate on the request, whatever the protocol. The span
 * is a child of the context in `traceContextKey`, else of the inbound call's
 * active context (`traceServer`), else a new trace's root.
 *
 * Place it in `ClientFactoryOptions.interceptors`, outside the resilience
 * chain, so that a logical call is one span and what happens inside it shows
 * as span events, from `events` (the factory's): "retry" (attempt, delay,
 * code), "breaker_rejected", "retry_budget_exhausted", "bulkhead_rejected",
 * "endpoint_ejected" and "fault_injected" (with the span attribute
 * meshwork.fault.injected, so that an injected fault is never taken for a
 * real one). An event names a target
 * and method but not the call, so it goes to the most recent call in flight
 * for them, preferring one made while serving the same inbound call (events
 * are emitted synchronously inside the call that caused them, so the inbound
 * call is the emitter's). Concurrent calls of one method from one inbound
 * call, or from the gateway, cannot be told apart: the event may land on a
 * sibling's span.
 *
 * Streaming calls get no span of their own (see below) but carry the
 * parent's trace context.
 *
 * rpc.system is "connect_rpc" when the response is Connect's (its
 * content-type is application/proto or application/json), else "grpc".
 */
export function traceClient(tracer: Tracer, events?: ResilienceEvents): Interceptor {
  const inFlight = new Map<string, InFlight[]>();
  const spanFor = (target: string, method: string | undefined): Span | undefined => {
    const calls = inFlight.get(target);
    if (calls === undefined) {
      return undefined;
    }
    const inbound = currentInboundCall();
    let fallback: Span | undefined;
    for (let i = calls.length - 1; i >= 0; i--) {
      const call = calls[i]!;
      if (method !== undefined && call.method !== method) {
        continue;
      }
      if (call.inbound === inbound) {
        return call.span;
      }
      fallback ??= call.span;
    }
    return fallback;
  };
  events?.on("retry", (e) =>
    spanFor(e.target, e.method)?.addEvent("retry", {
      "rpc.retry.attempt": e.attempt,
      "rpc.retry.delay_ms": e.delayMs,
      "rpc.retry.code": e.code,
    }),
  );
  events?.on("breakerRejected", (e) => spanFor(e.target, e.method)?.addEvent("breaker_rejected"));
  events?.on("retryBudgetExhausted", (e) => spanFor(e.target, e.method)?.addEvent("retry_budget_exhausted"));
  events?.on("bulkheadRejected", (e) =>
    spanFor(e.target, undefined)?.addEvent("bulkhead_rejected", {
      "meshwork.bulkhead.in_flight": e.inFlight,
      "meshwork.bulkhead.limit": e.limit,
    }),
  );
  events?.on("faultInjected", (e) => {
    const span = spanFor(e.target, e.method);
    span?.setAttribute("meshwork.fault.injected", true);
    span?.addEvent("fault_injected", {
      "meshwork.fault.kind": e.fault,
      ...(e.delayMs === undefined ? {} : { "meshwork.fault.delay_ms": e.delayMs }),
      ...(e.code === undefined ? {} : { "meshwork.fault.code": e.code }),
    });
  });
  events?.on("endpointEjected", (e) =>
    spanFor(e.target, undefined)?.addEvent("endpoint_ejected", {
      "meshwork.endpoint": e.endpoint,
      "meshwork.ejection_ms": e.ejectionMs,
      "meshwork.consecutive_failures": e.consecutiveFailures,
    }),
  );

  // Not an async function itself: a sampled-out call (or a stream) costs no
  // promise of its own, which every call would pay again once
  // AsyncLocalStorage has turned on async hooks.
  return (next) => (req) => {
    const parent = req.contextValues.get(traceContextKey) ?? activeContext() ?? ROOT_CONTEXT;
    if (req.stream) {
      // The response of a stream resolves when its headers arrive, not when
      // it ends, so a span here would not cover the call; the parent's
      // context still goes on, keeping the server side in the trace.
      propagator.inject(parent, req.header, headersSetter);
      return next(req);
    }
    const { name, attributes } = rpcSpan(req.method, "grpc");
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
    propagator.inject(trace.setSpan(parent, span), req.header, headersSetter);
    if (!span.isRecording()) {
      return next(req);
    }
    return recorded(span, req, next);
  };

  async function recorded(span: Span, req: UnaryRequest, next: (req: UnaryRequest) => Promise<UnaryResponse | StreamResponse>): Promise<UnaryResponse | StreamResponse> {
    const method = `${req.service.typeName}/${req.method.name}`;
    const target = targetOf(req.url, method);
    const call: InFlight = { span, method, inbound: currentInboundCall() };
    const calls = inFlight.get(target) ?? [];
    calls.push(call);
    inFlight.set(target, calls);
    try {
      const res = await next(req);
      routeAttributes(span, req.contextValues);
      const system = systemOf(res);
      span.setAttribute("rpc.system", system);
      endRpcSpan(span, "client", system, undefined);
      return res;
    } catch (e) {
      routeAttributes(span, req.contextValues);
      const err = ConnectError.from(e);
      const system = systemOf({ header: err.metadata });
      span.setAttribute("rpc.system", system);
      endRpcSpan(span, "client", system, err.code, err.rawMessage);
      throw e;
    } finally {
      calls.splice(calls.indexOf(call), 1);
      if (calls.length === 0) {
        inFlight.delete(target);
      }
    }
  }
}

/**
 * The version a routed call went to (its last attempt's) and why, when its
 * target has versions (mesh/routing): `meshwork.route.version` and
 * `meshwork.route.reason` (header, sticky, weight, stable).
 */
function routeAttributes(span: Span, values: ContextValues): void {
  const choice = values.get(routeChoiceKey);
  if (choice !== undefined) {
    span.setAttribute("meshwork.route.version", choice.version);
    span.setAttribute("meshwork.route.reason", choice.reason);
  }
}

/**
 * The target a call goes to: ClientFactory builds a call's URL as
 * `${target name}/${service}/${method}`, the name its resilience events carry.
 */
function targetOf(url: string, method: string): string {
  return url.endsWith(`/${method}`) ? url.slice(0, -method.length - 1) : url;
}

function systemOf(res: { readonly header: Headers }): "grpc" | "connect_rpc" {
  const type = responseHeaderValue(res, "content-type") ?? "";
  return type.startsWith("application/proto") || type.startsWith("application/json") ? "connect_rpc" : "grpc";
}
