import type { DescMethod } from "@bufbuild/protobuf";
import { ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { ROOT_CONTEXT, SpanKind, trace, type Context, type Span, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { existingInboundCall } from "../context/inbound-call.js";
import { requestHeaderValue } from "../context/raw-header.js";
import { settled } from "../async/settled.js";
import type { ServerInterceptor } from "../server/unary-call.js";
import { enterActiveContext } from "./active-context.js";
import { propagator } from "./propagation.js";
import { endRpcSpan, rpcSpan, rpcSystem } from "./rpc-attributes.js";

export interface TraceServerOptions {
  /**
   * Services whose calls get no span. Default: grpc.health.* and
   * grpc.reflection.*, which probes and tools call all the time.
   */
  readonly untraced?: (serviceTypeName: string) => boolean;
}

const serverSpanKey = createContextKey<Span | undefined>(undefined, { description: "server span" });

/**
 * The recording SERVER span of a call `traceServer` traces, for interceptors
 * inside it that mark the span (an injected fault); undefined when the call
 * is not traced or its span is sampled out.
 */
export function serverSpanOf(context: HandlerContext): Span | undefined {
  return context.values.get(serverSpanKey);
}

const defaultUntraced = (typeName: string): boolean =>
  typeName.startsWith("grpc.health.") || typeName.startsWith("grpc.reflection.");

/**
 * A server interceptor that gives every call a SERVER span, continuing the
 * caller's trace from its traceparent/tracestate headers (a new trace when
 * there are none), with the RPC semantic-convention attributes and the
 * outcome's status code. The span's context is the active context of the
 * inbound call while the handler runs, so that `traceClient` makes the
 * handler's outbound calls its children. Place it in `serve`'s
 * `interceptors`, which run inside the inbound-call scope; with
 * `propagateDeadlines: false` there is no scope and outbound calls start
 * traces of their own. The span's trace and span ids go on the call's
 * InboundCall, where log lines find them.
 */
export function traceServer(tracer: Tracer, options: TraceServerOptions = {}): ServerInterceptor {
  const untraced = options.untraced ?? defaultUntraced;
  return (next) => (request, context) => {
    if (untraced(context.service.typeName)) {
      return next(request, context);
    }
    const system = rpcSystem(context.protocolName);
    const parent = callerContext(context);
    const span = startServerSpan(tracer, parent, context.method, system);
    if (span.isRecording()) {
      context.values.set(serverSpanKey, span);
    }
    const inbound = existingInboundCall(context);
    if (inbound !== undefined) {
      const ids = span.spanContext();
      inbound.traceId = ids.traceId;
      inbound.spanId = ids.spanId;
    }
    const restore = enterActiveContext(trace.setSpan(parent, span));
    return endWhenSettled(span, system, () => next(request, context), restore);
  };
}

/** Reads traceparent/tracestate of a call, raw on the gRPC fast path. */
const handlerContextGetter: TextMapGetter<HandlerContext> = {
  get: (carrier, key) => requestHeaderValue(carrier, key.toLowerCase()),
  keys: () => ["traceparent", "tracestate"],
};

/**
 * The caller's trace context: its traceparent/tracestate, or the root
 * context (a new trace) without a traceparent. On the gRPC fast path the two
 * headers are read raw, so a call pays for no Headers object it does not use.
 */
function callerContext(context: HandlerContext): Context {
  return requestHeaderValue(context, "traceparent") === undefined
    ? ROOT_CONTEXT
    : propagator.extract(ROOT_CONTEXT, context, handlerContextGetter);
}

/**
 * Runs `fn` in a SERVER span for `method`, child of `parent`, and ends the
 * span with the call's outcome. `fn` gets the span's context to make it the
 * parent of what it calls. For code that serves calls outside `serve`
 * (the gateway now uses `startHttpServerSpan`; the tracing tests use this).
 */
export function inServerSpan<T>(
  tracer: Tracer,
  parent: Context,
  method: DescMethod,
  system: string,
  fn: (ctx: Context) => Promise<T>,
): Promise<T> {
  const span = startServerSpan(tracer, parent, method, system);
  return endWhenSettled(span, system, () => fn(trace.setSpan(parent, span)), undefined);
}

function startServerSpan(tracer: Tracer, parent: Context, method: DescMethod, system: string): Span {
  const { name, attributes } = rpcSpan(method, system);
  return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
}

/**
 * The outcome of `run` (a throw becomes a rejection), after `restore` and
 * ending `span` with it (see `settled`). A span that is not recording
 * (sampled out) records nothing when it ends, so it is not waited for.
 */
function endWhenSettled<T>(span: Span, system: string, run: () => Promise<T>, restore: (() => void) | undefined): Promise<T> {
  const recording = span.isRecording();
  if (!recording && restore === undefined) {
    try {
      return Promise.resolve(run());
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return settled(
    run,
    () => {
      restore?.();
      if (recording) {
        endRpcSpan(span, "server", system, undefined);
      }
    },
    (e) => {
      restore?.();
      if (recording) {
        endWithError(span, system, e);
      }
    },
  );
}

function endWithError(span: Span, system: string, e: unknown): void {
  const err = ConnectError.from(e);
  endRpcSpan(span, "server", system, err.code, err.rawMessage);
}
