import { ROOT_CONTEXT, type Context, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

/** W3C traceparent/tracestate, the one propagation format of the mesh. */
export const propagator = new W3CTraceContextPropagator();

/** Writes fetch Headers, as Connect's request contexts carry them. */
export const headersSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

type NodeHeaders = Record<string, string | string[] | undefined>;

const nodeHeadersGetter: TextMapGetter<NodeHeaders> = {
  get: (carrier, key) => carrier[key.toLowerCase()],
  keys: (carrier) => Object.keys(carrier),
};

/**
 * The trace context a caller sent in node:http(2) request headers (lower-case
 * names, as node gives them): a remote parent to continue, or the root
 * context when there is no valid traceparent, which starts a new trace. The
 * gateway uses it to continue the browser's trace.
 */
export function contextFromHeaders(headers: NodeHeaders): Context {
  return propagator.extract(ROOT_CONTEXT, headers, nodeHeadersGetter);
}
